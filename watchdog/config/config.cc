// Parsing and validation of the watchdog's configuration (see config.h).
#include "config/config.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <functional>
#include <limits>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "common/environment.h"
#include "common/strings.h"

namespace hw::config {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> SplitList(std::string_view text) {
  std::vector<std::string> out;
  while (true) {
    auto comma = text.find(',');
    auto item = Trim(text.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

Error Invalid(std::string_view key, std::string_view value, std::string_view expected) {
  return Error{fmt::format("invalid value for {}: \"{}\": expected {}", key, value, expected)};
}

template <typename T>
std::optional<T> ParseInteger(std::string_view text) {
  T value{};
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

using Apply = std::function<Status(Config&, std::string_view key, std::string_view value)>;

// Which options a key belongs to: the sign and verify commands read only kSignature.
enum class Part { kServe, kSignature, kAuth };

struct KeyDef {
  KeySpec spec;
  Apply apply;
  Part part;
};

Apply SetString(std::string Config::*field) {
  return [field](Config& c, std::string_view, std::string_view v) -> Status {
    c.*field = std::string(v);
    return Ok{};
  };
}

Apply SetBool(bool Config::*field) {
  return [field](Config& c, std::string_view key, std::string_view v) -> Status {
    auto b = ParseBool(v);
    if (!b) return Invalid(key, v, "true, false, 1 or 0");
    c.*field = *b;
    return Ok{};
  };
}

Apply SetDuration(Duration Config::*field, bool allow_zero) {
  return [field, allow_zero](Config& c, std::string_view key, std::string_view v) -> Status {
    auto d = ParseDuration(v);
    if (!d) return Invalid(key, v, "a duration: seconds (30) or Go style (500ms, 1m30s)");
    if (!allow_zero && d->count() == 0) return Invalid(key, v, "a duration greater than 0");
    c.*field = *d;
    return Ok{};
  };
}

Apply SetBytes(std::size_t Config::*field, bool allow_zero) {
  return [field, allow_zero](Config& c, std::string_view key, std::string_view v) -> Status {
    auto b = ParseBytes(v);
    if (!b) return Invalid(key, v, "a size in bytes (65536, 64KiB, 25MiB)");
    if (!allow_zero && *b == 0) return Invalid(key, v, "a size greater than 0");
    c.*field = *b;
    return Ok{};
  };
}

Apply SetInt(int Config::*field, int min, int max, std::string_view expected) {
  return [=](Config& c, std::string_view key, std::string_view v) -> Status {
    auto n = ParseInteger<int>(v);
    if (!n || *n < min || *n > max) return Invalid(key, v, expected);
    c.*field = *n;
    return Ok{};
  };
}

template <typename F>
Apply SetSignature(F field_setter) {
  return [field_setter](Config& c, std::string_view key, std::string_view v) -> Status {
    return field_setter(c.signature, key, v);
  };
}

const std::vector<KeyDef>& Defs() {
  static const std::vector<KeyDef> defs = [] {
    std::vector<KeyDef> d;
    Part part = Part::kServe;  // of the keys added next
    auto add = [&d, &part](std::string env, std::string alias, std::string def, std::string help,
                           Apply apply) {
      std::string flag = env;
      std::replace(flag.begin(), flag.end(), '_', '-');
      if (flag == "TMPDIR") flag = "tmpdir";
      d.push_back(KeyDef{KeySpec{env, alias, flag, def, help}, std::move(apply), part});
    };
    // Function and mode
    add("fprocess", "function_process", "(required but in static mode)",
        "command line of the function; split on spaces, '...' and \"...\" quote",
        [](Config& c, std::string_view key, std::string_view v) -> Status {
          auto argv = SplitCommandLine(v);
          if (!argv) return Invalid(key, v, argv.error().message);
          c.fprocess = std::string(v);
          c.argv = std::move(*argv);
          return Ok{};
        });
    add("mode", "", "streaming", "streaming, serializing, http or static",
        [](Config& c, std::string_view key, std::string_view v) -> Status {
          auto m = Lower(v);
          if (m == "streaming")
            c.mode = Mode::kStreaming;
          else if (m == "serializing")
            c.mode = Mode::kSerializing;
          else if (m == "http")
            c.mode = Mode::kHttp;
          else if (m == "static")
            c.mode = Mode::kStatic;
          else
            return Invalid(key, v, "one of streaming, serializing, http, static");
          return Ok{};
        });
    add("upstream_url", "http_upstream_url", "(required in http mode)",
        "where the long-running function listens, e.g. http://127.0.0.1:5000",
        [](Config& c, std::string_view key, std::string_view v) -> Status {
          auto address = ParseUpstreamUrl(key, v);
          if (!address) return address.error();
          c.upstream_url = std::string(v);
          c.upstream_address = std::move(*address);
          return Ok{};
        });
    add("upstream_ready_timeout", "", "60s",
        "http mode: how long to wait for the function to accept connections at startup",
        SetDuration(&Config::upstream_ready_timeout, false));
    add("static_path", "", "/home/app/public", "directory served in static mode",
        SetString(&Config::static_path));
    // Serving
    add("port", "", "8080", "function traffic port (0 = any free port, logged)",
        SetInt(&Config::port, 0, 65535, "a port number from 0 to 65535"));
    add("metrics_port", "", "8081", "Prometheus /metrics port (0 = off)",
        SetInt(&Config::metrics_port, 0, 65535, "a port number from 0 to 65535"));
    add("read_timeout", "", "30s", "time allowed to read a whole request",
        SetDuration(&Config::read_timeout, false));
    add("write_timeout", "", "30s",
        "time allowed to write a response; also the longest drain on shutdown",
        SetDuration(&Config::write_timeout, false));
    add("exec_timeout", "", "30s", "hard limit per invocation (0 = none)",
        SetDuration(&Config::exec_timeout, true));
    add("healthcheck_interval", "", "= write_timeout",
        "after SIGTERM, how long to stay up (unhealthy) before draining",
        SetDuration(&Config::healthcheck_interval, true));
    add("keepalive_timeout", "", "5s", "idle keep-alive connections are closed after this",
        SetDuration(&Config::keepalive_timeout, false));
    add("max_inflight", "", "0",
        "concurrent function requests above which 429 is answered (0 = no limit)",
        SetInt(&Config::max_inflight, 0, 1000000, "an integer >= 0"));
    add("max_connections", "", "256",
        "open client connections served at once; more wait in the listen queue",
        SetInt(&Config::max_connections, 1, 100000, "an integer from 1 to 100000"));
    add("loop_spin_us", "", "20",
        "microseconds a front loop serving a single client polls for its next event before "
        "sleeping: less latency for a lone client, up to that much CPU after each burst "
        "(0 = sleep at once)",
        SetInt(&Config::loop_spin_us, 0, 1000, "an integer from 0 to 1000"));
    add("max_body_bytes", "", "25MiB", "larger request bodies get 413 before verification",
        SetBytes(&Config::max_body_bytes, false));
    add("max_header_bytes", "", "64KiB", "larger request heads (request line + headers) get 431",
        SetBytes(&Config::max_header_bytes, false));
    add("max_unverified_bytes", "", "100MiB",
        "request bodies not yet verified, in memory and spooled, all requests together; "
        "past it 503 with Retry-After",
        SetBytes(&Config::max_unverified_bytes, false));
    add("body_memory_bytes", "", "1MiB",
        "request bodies above this are spooled to a file in TMPDIR instead of memory",
        SetBytes(&Config::body_memory_bytes, true));
    add("max_response_bytes", "", "64MiB",
        "serializing mode: longest function output kept in memory; more is a 500",
        SetBytes(&Config::max_response_bytes, false));
    // Compatibility
    add("suppress_lock", "", "false", "do not write the lock file $TMPDIR/.lock",
        SetBool(&Config::suppress_lock));
    add("content_type", "", "application/octet-stream",
        "response Content-Type in streaming and serializing modes, whatever the request's",
        SetString(&Config::content_type));
    add("http_buffer_req_body", "buffer_http", "false",
        "accepted for compatibility; bodies are always sent with Content-Length",
        SetBool(&Config::buffer_http));
    add("combine_output", "", "false", "merge the function's stderr into the response",
        SetBool(&Config::combine_output));
    add("cgi_headers", "", "true", "pass request data as Http_* environment variables",
        SetBool(&Config::cgi_headers));
    add("write_debug", "", "false", "log the function's response output too",
        SetBool(&Config::write_debug));
    add("TMPDIR", "", "/tmp", "where the lock file .lock and spooled bodies are written",
        SetString(&Config::tmpdir));
    // Logs
    add("prefix_logs", "", "true",
        "prefix function output lines with a timestamp and stdout:/stderr:",
        SetBool(&Config::prefix_logs));
    add("log_buffer_size", "", "65536", "longest function log line; longer lines are split",
        SetBytes(&Config::log_buffer_size, false));
    add("log_format", "", "text", "text, or json for one JSON object per line",
        [](Config& c, std::string_view key, std::string_view v) -> Status {
          auto f = Lower(v);
          if (f == "text")
            c.log_format = LogFormat::kText;
          else if (f == "json")
            c.log_format = LogFormat::kJson;
          else
            return Invalid(key, v, "text or json");
          return Ok{};
        });
    // Signature verification
    part = Part::kSignature;
    add("hmac_scheme", "", "(required)",
        "signature scheme(s), comma-separated; none turns verification off",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          s.schemes.clear();
          for (auto& name : SplitList(v)) s.schemes.push_back(Lower(name));
          if (s.schemes.empty()) return Invalid(key, v, "one or more scheme names, or none");
          return Ok{};
        }));
    add("hmac_secret", "", std::string(kDefaultSecretName),
        "secret file name(s) under secrets_path, comma-separated; all are accepted",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          s.secret_names = SplitList(v);
          if (s.secret_names.empty()) return Invalid(key, v, "one or more secret names");
          return Ok{};
        }));
    add("hmac_secret_<scheme>", "", "(hmac_secret)",
        "secret name(s) for one scheme when several are configured, e.g. hmac_secret_github",
        nullptr);
    add("secrets_path", "", std::string(kDefaultSecretsPath),
        "folder of secret files; /run/secrets is tried when it does not exist",
        SetSignature([](SignatureOptions& s, std::string_view, std::string_view v) -> Status {
          s.secrets_path = std::string(v);
          return Ok{};
        }));
    add("hmac_secret_raw", "", "false",
        "keep secret bytes exactly (default: trim trailing whitespace)",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          auto b = ParseBool(v);
          if (!b) return Invalid(key, v, "true, false, 1 or 0");
          s.secret_raw = *b;
          return Ok{};
        }));
    add("hmac_header", "", "(scheme's own)",
        "signature header of the schemes without one of their own (faas-cli, generic)",
        SetSignature([](SignatureOptions& s, std::string_view, std::string_view v) -> Status {
          s.header = std::string(v);
          return Ok{};
        }));
    add("hmac_header_<scheme>", "", "(scheme's own)",
        "signature header of one scheme, e.g. hmac_header_github (renames a provider's own)",
        nullptr);
    add("hmac_tolerance", "", "5m", "replay window for signed timestamps, both directions",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          auto d = ParseDuration(v);
          if (!d || d->count() == 0) return Invalid(key, v, "a duration greater than 0 (5m)");
          s.tolerance = *d;
          return Ok{};
        }));
    add("hmac_allow_sha1", "", "false", "accept sha1= in the faas-cli scheme",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          auto b = ParseBool(v);
          if (!b) return Invalid(key, v, "true, false, 1 or 0");
          s.allow_sha1 = *b;
          return Ok{};
        }));
    add("hmac_replay_cache", "", "0", "delivery ids remembered to reject repeats (0 = off)",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          auto n = ParseInteger<std::size_t>(v);
          if (!n || *n > 10'000'000) return Invalid(key, v, "an integer from 0 to 10000000");
          s.replay_cache = *n;
          return Ok{};
        }));
    add("hmac_replay_store", "", "memory (with hmac_replay_cache)",
        "where verified deliveries are claimed: memory, redis://host:port/db or "
        "redis+unix:///path.sock?db=N",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          if (!v.empty() && v != "memory" && !v.starts_with("redis://") &&
              !v.starts_with("redis+unix://")) {
            // A password put in the URL by mistake is not shown.
            const bool at = v.find('@') != std::string_view::npos;
            return Invalid(key, at ? "(a URL with '@', not shown)" : v,
                           "memory, redis://host:port/db or redis+unix:///path.sock?db=N");
          }
          s.replay_store = std::string(v);
          return Ok{};
        }));
    add("hmac_replay_store_password_secret", "", "(none)",
        "secret name under secrets_path holding the Redis password (AUTH)",
        SetSignature([](SignatureOptions& s, std::string_view, std::string_view v) -> Status {
          s.replay_store_password_secret = std::string(v);
          return Ok{};
        }));
    add("hmac_replay_namespace", "", "function",
        "the function's name in replay store keys (functions sharing a Redis need their own)",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          if (v.empty() || v.size() > 100 ||
              v.find_first_of(" \t\r\n:") != std::string_view::npos) {
            return Invalid(key, v, "1 to 100 characters without spaces or ':'");
          }
          s.replay_namespace = std::string(v);
          return Ok{};
        }));
    add("hmac_replay_store_timeout", "", "500ms", "Redis connect and command timeout",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          auto d = ParseDuration(v);
          if (!d || d->count() == 0) return Invalid(key, v, "a duration greater than 0 (500ms)");
          s.replay_store_timeout = *d;
          return Ok{};
        }));
    add("hmac_replay_store_connections", "", "8",
        "Redis connections the workers share (each front loop has one more)",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          auto n = ParseInteger<std::size_t>(v);
          if (!n || *n == 0 || *n > 256) return Invalid(key, v, "an integer from 1 to 256");
          s.replay_store_connections = *n;
          return Ok{};
        }));
    add("hmac_replay_store_fail_open", "", "false",
        "admit verified requests when the replay store is unreachable (default: 503)",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          auto b = ParseBool(v);
          if (!b) return Invalid(key, v, "true, false, 1 or 0");
          s.replay_store_fail_open = *b;
          return Ok{};
        }));
    add("hmac_dedupe_window", "", "72h",
        "how long a handled delivery of a scheme without a signed timestamp is remembered",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          auto d = ParseDuration(v);
          if (!d || d->count() == 0) return Invalid(key, v, "a duration greater than 0 (72h)");
          s.dedupe_window = *d;
          return Ok{};
        }));
    add("hmac_allow_unsigned", "", "(empty)",
        "comma-separated METHOD /path pairs that pass without a signature (exact match)",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          s.allow_unsigned.clear();
          for (auto& item : SplitList(v)) {
            auto space = item.find(' ');
            std::string method = item.substr(0, space);
            std::string path =
                space == std::string::npos ? "" : std::string(Trim(item.substr(space + 1)));
            if (method.empty() || path.empty() || path[0] != '/' ||
                path.find(' ') != std::string::npos) {
              return Invalid(key, v, "comma-separated pairs such as \"GET /ping\"");
            }
            for (char& ch : method)
              ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            s.allow_unsigned.emplace_back(method, path);
          }
          return Ok{};
        }));
    add("hmac_public_url", "", "(none)", "URL the sender signs (twilio, square, hubspot)",
        SetSignature([](SignatureOptions& s, std::string_view, std::string_view v) -> Status {
          s.public_url = std::string(v);
          return Ok{};
        }));
    // Which algorithms and encodings generic takes is the generic scheme's to check (it
    // names hmac_algorithm or hmac_encoding and what it expects); here they are only read.
    add("hmac_algorithm", "", "sha256", "generic scheme: sha1, sha256 or sha512",
        SetSignature([](SignatureOptions& s, std::string_view, std::string_view v) -> Status {
          s.algorithm = Lower(v);
          return Ok{};
        }));
    add("hmac_encoding", "", "hex", "generic scheme: hex or base64",
        SetSignature([](SignatureOptions& s, std::string_view, std::string_view v) -> Status {
          s.encoding = Lower(v);
          return Ok{};
        }));
    add("hmac_prefix", "", "(none)", "generic scheme: prefix of the header value, e.g. sha256=",
        SetSignature([](SignatureOptions& s, std::string_view, std::string_view v) -> Status {
          s.prefix = std::string(v);
          return Ok{};
        }));
    add("hmac_reload_interval", "", "2s", "how often secret files are re-read",
        SetSignature([](SignatureOptions& s, std::string_view key, std::string_view v) -> Status {
          auto d = ParseDuration(v);
          if (!d || d->count() == 0) return Invalid(key, v, "a duration greater than 0 (2s)");
          s.reload_interval = *d;
          return Ok{};
        }));
    // Authentication (README "Authentication")
    part = Part::kAuth;
    auto auth_string = [](std::string AuthOptions::*field, bool url) -> Apply {
      return [field, url](Config& c, std::string_view key, std::string_view v) -> Status {
        if (url && !v.empty() && v.substr(0, 7) != "http://" && v.substr(0, 8) != "https://") {
          return Invalid(key, v, "an http:// or https:// URL");
        }
        c.auth.*field = std::string(Trim(v));
        return Ok{};
      };
    };
    auto auth_duration = [](Duration AuthOptions::*field, bool allow_zero) -> Apply {
      return [=](Config& c, std::string_view key, std::string_view v) -> Status {
        auto d = ParseDuration(v);
        if (!d || (!allow_zero && d->count() == 0)) {
          return Invalid(key, v, allow_zero ? "a duration (30s)" : "a duration greater than 0");
        }
        c.auth.*field = *d;
        return Ok{};
      };
    };
    auto auth_list = [](std::vector<std::string> AuthOptions::*field) -> Apply {
      return [field](Config& c, std::string_view, std::string_view v) -> Status {
        c.auth.*field = SplitList(v);
        return Ok{};
      };
    };
    add("auth_routes", "", "/=hmac",
        "PREFIX=METHOD[+METHOD];... methods hmac, basic, jwt, plugin, none; longest prefix wins",
        auth_string(&AuthOptions::routes, false));
    add("basic_auth_user_secret", "", "basic-auth-user", "basic: secret file with the user name",
        auth_string(&AuthOptions::basic_user_secret, false));
    add("basic_auth_password_secret", "", "basic-auth-password",
        "basic: secret file with the password",
        auth_string(&AuthOptions::basic_password_secret, false));
    add("basic_auth_max_failures", "", "10",
        "basic: failed attempts per client address per minute before 429 (0 = no limit)",
        [](Config& c, std::string_view key, std::string_view v) -> Status {
          auto n = ParseInteger<std::size_t>(v);
          if (!n || *n > 1'000'000) return Invalid(key, v, "an integer from 0 to 1000000");
          c.auth.basic_max_failures = *n;
          return Ok{};
        });
    add("auth_proxy_url", "", "(none)", "plugin: the auth plugin's URL (http:// or https://)",
        auth_string(&AuthOptions::proxy_url, true));
    add("auth_pass_body", "", "false", "plugin: send the request body to the plugin too",
        [](Config& c, std::string_view key, std::string_view v) -> Status {
          auto b = ParseBool(v);
          if (!b) return Invalid(key, v, "true, false, 1 or 0");
          c.auth.pass_body = *b;
          return Ok{};
        });
    add("auth_proxy_timeout", "", "5s",
        "plugin: longest wait for the plugin (also OIDC discovery and JWKS fetches)",
        auth_duration(&AuthOptions::proxy_timeout, false));
    add("auth_proxy_cache", "", "0 (off)",
        "plugin: how long an admission is remembered for the same credentials (0 = never)",
        auth_duration(&AuthOptions::proxy_cache, true));
    add("auth_proxy_cache_entries", "", "10000", "plugin: most admissions remembered at once",
        [](Config& c, std::string_view key, std::string_view v) -> Status {
          auto n = ParseInteger<std::size_t>(v);
          if (!n || *n == 0 || *n > 10'000'000)
            return Invalid(key, v, "an integer from 1 to 10000000");
          c.auth.proxy_cache_entries = *n;
          return Ok{};
        });
    add("auth_proxy_cache_headers", "", "Authorization,Cookie",
        "plugin: the headers whose values key a remembered admission, comma-separated",
        auth_list(&AuthOptions::proxy_cache_headers));
    add("jwt_issuer", "", "(none)", "jwt: OIDC issuer URL; tokens' iss must equal it",
        auth_string(&AuthOptions::jwt_issuer, true));
    add("jwks_url", "", "(issuer's discovery document)", "jwt: JWKS URL, instead of discovery",
        auth_string(&AuthOptions::jwks_url, true));
    add("jwt_audience", "", "(required with jwt)", "jwt: a value tokens' aud must contain",
        auth_string(&AuthOptions::jwt_audience, false));
    add("jwt_leeway", "", "30s", "jwt: clock skew allowed for exp and nbf",
        auth_duration(&AuthOptions::jwt_leeway, true));
    add("jwt_required_scopes", "", "(none)", "jwt: scopes a token must all carry, comma-separated",
        auth_list(&AuthOptions::jwt_required_scopes));
    add("jwt_forward_claims", "", "(none)",
        "jwt: claims passed to the function as X-Auth-Claim-<name>, comma-separated",
        auth_list(&AuthOptions::jwt_forward_claims));
    add("jwks_refresh_interval", "", "5m", "jwt: how often the issuer's keys are re-fetched",
        auth_duration(&AuthOptions::jwks_refresh_interval, false));
    add("auth_tls_ca_file", "", "(the system's trust store)",
        "https auth URLs: PEM file of the CA certificates trusted (only these when set)",
        auth_string(&AuthOptions::tls_ca_file, false));
    return d;
  }();
  return defs;
}

constexpr std::string_view kSchemeSecretPrefix = "hmac_secret_";
constexpr std::string_view kSchemeHeaderPrefix = "hmac_header_";

// The longest duration any key accepts (about 115 days): far above every sensible timeout,
// far below what milliseconds in an int64 hold.
constexpr std::int64_t kMaxDurationMs = 10'000'000'000;

}  // namespace

std::string_view ModeName(Mode mode) {
  switch (mode) {
    case Mode::kStreaming:
      return "streaming";
    case Mode::kSerializing:
      return "serializing";
    case Mode::kHttp:
      return "http";
    case Mode::kStatic:
      return "static";
  }
  return "?";
}

const std::vector<KeySpec>& Keys() {
  static const std::vector<KeySpec> keys = [] {
    std::vector<KeySpec> k;
    for (const auto& def : Defs()) k.push_back(def.spec);
    return k;
  }();
  return keys;
}

Environment CurrentEnvironment() {
  Environment env;
  for (const std::string& entry : OwnEnvironment()) {
    auto eq = entry.find('=');
    if (eq == std::string_view::npos) continue;
    env.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  return env;
}

Expected<Duration> ParseDuration(std::string_view text) {
  if (text.empty()) return Error{"empty duration"};
  if (std::all_of(text.begin(), text.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    const auto seconds = ParseInteger<std::int64_t>(text);  // nullopt past 2^63: too long
    if (!seconds || *seconds > kMaxDurationMs / 1000) return Error{"out of range"};
    return Duration(*seconds * 1000);
  }
  // Go style: one or more <number>[.<fraction>]<unit>. Numbers are read digit by digit with
  // a bound, never through stod (which throws on a long number): past kMaxDurationMs is
  // "out of range". Nanoseconds in a long double are exact up to 2^64, far above the bound.
  constexpr long double kMaxNs = static_cast<long double>(kMaxDurationMs) * 1e6L;
  long double total_ns = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    std::size_t i = 0;
    while (i < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[i])) || rest[i] == '.'))
      ++i;
    if (i == 0) return Error{"expected a number"};
    const std::string_view number = rest.substr(0, i);
    if (std::count(number.begin(), number.end(), '.') > 1 || number == ".") {
      return Error{"bad number"};
    }
    rest.remove_prefix(i);
    std::size_t u = 0;
    while (u < rest.size() && !std::isdigit(static_cast<unsigned char>(rest[u])) && rest[u] != '.')
      ++u;
    const std::string_view unit = rest.substr(0, u);
    rest.remove_prefix(u);
    long double unit_ns = 0;
    if (unit == "ns")
      unit_ns = 1;
    else if (unit == "us" || unit == "\xC2\xB5s")
      unit_ns = 1e3L;
    else if (unit == "ms")
      unit_ns = 1e6L;
    else if (unit == "s")
      unit_ns = 1e9L;
    else if (unit == "m")
      unit_ns = 60e9L;
    else if (unit == "h")
      unit_ns = 3600e9L;
    else
      return Error{"unknown unit"};
    const std::size_t dot = number.find('.');
    long double whole = 0;
    for (char c : number.substr(0, dot)) {
      whole = whole * 10 + (c - '0');
      if (whole * unit_ns > kMaxNs) return Error{"out of range"};
    }
    long double fraction = 0;
    if (dot != std::string_view::npos) {
      long double scale = 1;
      // Digits past the 18th cannot change a nanosecond count of any unit.
      for (char c : number.substr(dot + 1, 18)) {
        scale /= 10;
        fraction += (c - '0') * scale;
      }
    }
    total_ns += (whole + fraction) * unit_ns;
    if (total_ns > kMaxNs) return Error{"out of range"};
  }
  auto ms = static_cast<std::int64_t>(total_ns / 1e6L);
  if (ms == 0 && total_ns > 0) ms = 1;  // a sub-millisecond duration is not "off"
  return Duration(ms);
}

Expected<std::size_t> ParseBytes(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  auto number = ParseInteger<std::uint64_t>(text.substr(0, i));
  if (!number) return Error{"expected a number"};
  std::string unit = Lower(text.substr(i));
  std::uint64_t factor = 1;
  if (unit.empty() || unit == "b")
    factor = 1;
  else if (unit == "k" || unit == "kib" || unit == "kb")
    factor = 1024;
  else if (unit == "m" || unit == "mib" || unit == "mb")
    factor = 1024 * 1024;
  else if (unit == "g" || unit == "gib" || unit == "gb")
    factor = 1024ull * 1024 * 1024;
  else
    return Error{"unknown unit"};
  if (*number > std::numeric_limits<std::uint64_t>::max() / factor) return Error{"too large"};
  return static_cast<std::size_t>(*number * factor);
}

Expected<bool> ParseBool(std::string_view text) {
  auto v = Lower(Trim(text));
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return Error{"expected true, false, 1 or 0"};
}

Expected<std::vector<std::string>> SplitCommandLine(std::string_view text) {
  std::vector<std::string> args;
  std::string current;
  bool in_word = false;
  char quote = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else if (quote == '"' && c == '\\' && i + 1 < text.size() &&
                 (text[i + 1] == '"' || text[i + 1] == '\\')) {
        current += text[++i];
      } else {
        current += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) args.push_back(std::move(current));
      current.clear();
      in_word = false;
    } else {
      current += c;
      in_word = true;
    }
  }
  if (quote != 0) return Error{"a command line with balanced quotes"};
  if (in_word) args.push_back(std::move(current));
  if (args.empty()) return Error{"a command to run"};
  return args;
}

const std::vector<std::pair<std::string, std::string>>& UnimplementedGuards() {
  static const std::vector<std::pair<std::string, std::string>> guards = {
      {"jwt_auth",
       "of-watchdog's OpenFaaS IAM check (a function access token as a Bearer token on every "
       "call)"},
  };
  return guards;
}

namespace {

// Applies the keys of Defs() found in the flags (first), the environment or an alias;
// `only`: just the keys of that part. Records in `set` the keys that had a value.
Status ApplyKeys(Config& c, const Environment& env, const std::map<std::string, std::string>& flags,
                 std::optional<Part> only, std::set<std::string>& set) {
  for (const auto& def : Defs()) {
    if (!def.apply || (only && def.part != *only)) continue;
    const KeySpec& k = def.spec;
    std::optional<std::string_view> value;
    std::string_view name = k.env;
    if (auto f = flags.find(k.flag); f != flags.end()) {
      value = f->second;
    } else if (auto e = env.find(k.env); e != env.end()) {
      value = e->second;
    } else if (!k.alias.empty()) {
      if (auto a = env.find(k.alias); a != env.end()) {
        value = a->second;
        name = k.alias;
      }
    }
    if (!value) continue;
    if (Status status = def.apply(c, name, *value); !status) return status;
    set.insert(k.env);
  }
  return Ok{};
}

// The keys named after a scheme: hmac_secret_<scheme> and hmac_header_<scheme> (environment)
// and --hmac-secret-for scheme=names;... (flag).
Status ApplySchemeKeys(SignatureOptions& s, const Environment& env,
                       const std::map<std::string, std::string>& flags) {
  auto add_scheme_secret = [&s](std::string_view scheme, std::string_view names,
                                std::string_view key) -> Status {
    auto list = SplitList(names);
    if (scheme.empty() || list.empty()) {
      return Invalid(key, names, "one or more secret names for the scheme");
    }
    s.scheme_secret_names[Lower(scheme)] = std::move(list);
    return Ok{};
  };
  for (const auto& [key, value] : env) {
    if (key.size() > kSchemeSecretPrefix.size() && key.starts_with(kSchemeSecretPrefix) &&
        key != "hmac_secret_raw") {
      auto status =
          add_scheme_secret(std::string_view(key).substr(kSchemeSecretPrefix.size()), value, key);
      if (!status) return status;
    }
  }
  for (const auto& [key, value] : env) {
    if (key.size() > kSchemeHeaderPrefix.size() && key.starts_with(kSchemeHeaderPrefix)) {
      const std::string_view header = Trim(value);
      if (header.empty() || header.find_first_of(" :\t\r\n") != std::string_view::npos) {
        return Invalid(key, value, "a header name such as X-Signature");
      }
      s.scheme_headers[Lower(std::string_view(key).substr(kSchemeHeaderPrefix.size()))] =
          std::string(header);
    }
  }
  if (auto f = flags.find("hmac-secret-for"); f != flags.end()) {
    std::string_view rest = f->second;
    while (!rest.empty()) {
      auto semi = rest.find(';');
      auto item = rest.substr(0, semi);
      auto eq = item.find('=');
      if (eq == std::string_view::npos) {
        return Invalid("--hmac-secret-for", f->second, "SCHEME=NAMES[;SCHEME=NAMES]");
      }
      auto status =
          add_scheme_secret(Trim(item.substr(0, eq)), item.substr(eq + 1), "--hmac-secret-for");
      if (!status) return status;
      if (semi == std::string_view::npos) break;
      rest.remove_prefix(semi + 1);
    }
  }
  return Ok{};
}

}  // namespace

Expected<Config> Load(const Environment& env, const std::map<std::string, std::string>& flags) {
  for (const auto& [name, what] : UnimplementedGuards()) {
    const auto found = env.find(name);
    if (found == env.end() || Trim(found->second).empty()) continue;
    const Expected<bool> on = ParseBool(found->second);
    if (on && !*on) continue;  // explicitly off: nothing is lost
    return Error{fmt::format(
        "{}=\"{}\" asks for {}, which hmac-watchdog does not implement; the function would "
        "be open to every caller that passes the signature check. Unset {} (or set it to "
        "false) and rely on hmac_scheme, or keep of-watchdog for this function",
        name, found->second, what, name)};
  }
  Config c;
  std::set<std::string> set;
  if (Status s = ApplyKeys(c, env, flags, std::nullopt, set); !s) return s.error();
  if (Status s = ApplySchemeKeys(c.signature, env, flags); !s) return s.error();
  // basic auth reads its secret files where the signature check does.
  c.auth.secrets_path = c.signature.secrets_path;
  c.auth.reload_interval = c.signature.reload_interval;

  // Cross-field rules.
  if (!set.contains("healthcheck_interval")) c.healthcheck_interval = c.write_timeout;
  if (c.mode != Mode::kStatic && !set.contains("fprocess")) {
    return Error{
        fmt::format("fprocess is not set: {} mode needs the function's command line (fprocess, or "
                    "function_process)",
                    ModeName(c.mode))};
  }
  if (c.mode == Mode::kHttp && c.upstream_url.empty()) {
    return Error{
        "upstream_url is not set: http mode needs the URL the function listens on "
        "(upstream_url, e.g. http://127.0.0.1:5000)"};
  }
  if (c.port != 0 && c.port == c.metrics_port) {
    return Error{fmt::format(
        "invalid value for metrics_port: \"{}\": expected a port other than port ({}) or 0",
        c.metrics_port, c.port)};
  }
  if (c.max_unverified_bytes < c.max_body_bytes) {
    return Error{fmt::format(
        "invalid value for max_unverified_bytes: \"{}\": expected at least max_body_bytes ({}), "
        "or no body of the largest allowed size could ever be received",
        c.max_unverified_bytes, c.max_body_bytes)};
  }
  if (c.log_buffer_size > 64u * 1024 * 1024) {
    return Invalid("log_buffer_size", std::to_string(c.log_buffer_size), "at most 64MiB");
  }
  return c;
}

Expected<SignatureOptions> LoadSignature(const Environment& env,
                                         const std::map<std::string, std::string>& flags) {
  Config c;
  std::set<std::string> set;
  if (Status s = ApplyKeys(c, env, flags, Part::kSignature, set); !s) return s.error();
  if (Status s = ApplySchemeKeys(c.signature, env, flags); !s) return s.error();
  return std::move(c.signature);
}

}  // namespace hw::config
