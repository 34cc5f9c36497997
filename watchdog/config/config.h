// The watchdog's configuration: every key (environment variable and flag), parsed and
// validated once at startup into an immutable Config. One table (Keys()) defines each key's
// environment name, flag, default and help; it drives parsing, --help and the README test.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/expected.h"
#include "config/upstream_address.h"

namespace hw::config {

enum class Mode { kStreaming, kSerializing, kHttp, kStatic };
std::string_view ModeName(Mode mode);

enum class LogFormat { kText, kJson };

using Duration = std::chrono::milliseconds;

// Defaults that more than one module falls back on (the options below start from them).
inline constexpr std::string_view kDefaultSecretsPath = "/var/openfaas/secrets";
inline constexpr std::string_view kDefaultSecretName = "webhook-secret";
inline constexpr Duration kDefaultReloadInterval = std::chrono::seconds(2);

// Settings of the signature check (README "Signature verification"). Scheme names are
// validated by the signature module, which knows them; everything else is validated here.
struct SignatureOptions {
  std::vector<std::string> schemes;  // hmac_scheme, split on commas; {"none"} = off
  std::vector<std::string> secret_names{std::string(kDefaultSecretName)};  // hmac_secret
  // hmac_secret_<scheme>: secret names for one scheme (key: scheme name as written after
  // the prefix, lower case, '_' kept, e.g. "github", "standard_webhooks").
  std::map<std::string, std::vector<std::string>> scheme_secret_names;
  std::string secrets_path{kDefaultSecretsPath};  // /run/secrets tried if missing
  bool secret_raw = false;                        // hmac_secret_raw
  std::string header;  // hmac_header: faas-cli and generic only ("" = faas-cli's default)
  // hmac_header_<scheme>: the signature header of one scheme (key as for secrets).
  std::map<std::string, std::string> scheme_headers;
  Duration tolerance = std::chrono::minutes(5);  // hmac_tolerance
  bool allow_sha1 = false;                       // hmac_allow_sha1
  std::size_t replay_cache = 0;                  // hmac_replay_cache (0 = off)
  // Replay and duplicate protection (README "Replay and duplicate protection"):
  std::string replay_store;                   // hmac_replay_store: "", "memory", redis URL
  std::string replay_store_password_secret;   // secret name under secrets_path ("" = none)
  std::string replay_namespace = "function";  // hmac_replay_namespace: per function
  Duration replay_store_timeout = std::chrono::milliseconds(500);  // connect and command
  std::size_t replay_store_connections = 8;                        // Redis connection pool size
  bool replay_store_fail_open = false;              // admit when the store is unreachable
  Duration dedupe_window = std::chrono::hours(72);  // hmac_dedupe_window (schemes without ts)
  // Not a key: set by main to exec_timeout + 30 s. How long a claim lives while its function
  // runs (a crashed replica's claim ends then, not at the end of the window); 0 = the window.
  Duration replay_claim_ttl = Duration(0);
  // hmac_allow_unsigned: exact (METHOD, /path) pairs; method upper-case.
  std::vector<std::pair<std::string, std::string>> allow_unsigned;
  std::string public_url;                             // hmac_public_url
  std::string algorithm = "sha256";                   // hmac_algorithm (generic)
  std::string encoding = "hex";                       // hmac_encoding (generic)
  std::string prefix;                                 // hmac_prefix (generic)
  Duration reload_interval = kDefaultReloadInterval;  // hmac_reload_interval

  bool operator==(const SignatureOptions&) const = default;
};

// Authentication per path (auth_routes) and the methods' settings; the auth module parses
// the routes and checks what depends on them (README "Authentication").
struct AuthOptions {
  std::string routes = "/=hmac";  // auth_routes as written; "" is read as "/=hmac" too
  std::string basic_user_secret = "basic-auth-user";
  std::string basic_password_secret = "basic-auth-password";
  std::size_t basic_max_failures = 10;               // per client address per minute; 0 = no limit
  std::string proxy_url;                             // auth_proxy_url
  bool pass_body = false;                            // auth_pass_body
  Duration proxy_timeout = std::chrono::seconds(5);  // also the OIDC/JWKS fetch timeout
  Duration proxy_cache = Duration(0);                // auth_proxy_cache; 0 = off
  std::size_t proxy_cache_entries = 10000;           // auth_proxy_cache_entries
  std::vector<std::string> proxy_cache_headers{"Authorization", "Cookie"};
  std::string jwt_issuer;
  std::string jwks_url;
  std::string jwt_audience;
  Duration jwt_leeway = std::chrono::seconds(30);
  std::vector<std::string> jwt_required_scopes;
  std::vector<std::string> jwt_forward_claims;  // claims passed as X-Auth-Claim-<name>
  Duration jwks_refresh_interval = std::chrono::minutes(5);
  std::string tls_ca_file;  // auth_tls_ca_file; "" = the system's trust store
  // Not keys of their own: where basic's secret files are and how often they are re-read
  // (secrets_path and hmac_reload_interval, which the signature check uses too).
  std::string secrets_path{kDefaultSecretsPath};
  Duration reload_interval = kDefaultReloadInterval;

  bool operator==(const AuthOptions&) const = default;
};

// Where request bodies are kept while they are verified and given to the function: in
// memory up to body_memory_bytes, beyond that in an unlinked file under tmpdir. The server
// reads bodies this way, and streaming mode keeps what the function has not read yet so.
struct SpoolOptions {
  std::size_t body_memory_bytes = 1024u * 1024;  // larger bodies are spooled to TMPDIR
  std::string tmpdir = "/tmp";                   // TMPDIR: spooled bodies and the lock file

  bool operator==(const SpoolOptions&) const = default;
};

// The server's own settings: ports, timeouts and the limits of README "Limits".
struct ServerOptions : SpoolOptions {
  int port = 8080;
  int metrics_port = 8081;  // 0 = off
  Duration read_timeout = std::chrono::seconds(30);
  Duration write_timeout = std::chrono::seconds(30);  // also the longest drain on shutdown
  Duration keepalive_timeout = std::chrono::seconds(5);
  int max_inflight = 0;  // 0 = no limit
  int max_connections = 256;
  int loop_spin_us = 20;  // a front loop with one client polls this long before sleeping
  std::size_t max_body_bytes = 25u * 1024 * 1024;
  // Bodies of requests whose signature is not yet decided, all requests together (memory
  // and spool): past it a request gets 503 with Retry-After before its body is read.
  std::size_t max_unverified_bytes = 100u * 1024 * 1024;
  std::size_t max_header_bytes = 64u * 1024;

  bool operator==(const ServerOptions&) const = default;
};

// The function's process and its answers: how it is started (fork modes per request, http
// mode once), its time limit, and how its output is logged and returned.
struct ProcessOptions {
  std::string fprocess;           // fprocess / function_process, as written
  std::vector<std::string> argv;  // fprocess split into arguments (quotes honoured)
  Duration exec_timeout = std::chrono::seconds(30);  // per invocation; 0 = none
  bool combine_output = false;                       // stderr into the response
  bool cgi_headers = true;                           // Http_* environment variables
  bool write_debug = false;                          // log the response output too
  // The response's type whatever the request's (as of-watchdog); "" is read as the default.
  std::string content_type = "application/octet-stream";
  std::size_t max_response_bytes = 64u * 1024 * 1024;  // serializing mode's buffered output
  bool prefix_logs = true;
  std::size_t log_buffer_size = 65536;  // longest function log line

  bool operator==(const ProcessOptions&) const = default;
};

// http mode: where the long-running function listens, parsed once by Load.
struct UpstreamOptions {
  std::string upstream_url;          // upstream_url / http_upstream_url, as written
  UpstreamAddress upstream_address;  // upstream_url parsed (when set)
  Duration upstream_ready_timeout = std::chrono::seconds(60);

  bool operator==(const UpstreamOptions&) const = default;
};

// Everything Load reads: the options of each module (the bases and the two members), which
// main hands to each module alone, and what main itself uses.
struct Config : ServerOptions, ProcessOptions, UpstreamOptions {
  Mode mode = Mode::kStreaming;
  std::string static_path = "/home/app/public";
  Duration healthcheck_interval = std::chrono::seconds(30);  // defaults to write_timeout

  // Compatibility switches
  bool suppress_lock = false;
  bool buffer_http = false;  // accepted for compatibility; Content-Length is always sent

  LogFormat log_format = LogFormat::kText;

  SignatureOptions signature;
  AuthOptions auth;

  bool operator==(const Config&) const = default;
};

// One configuration key: its environment name (and alias), flag, default and help.
struct KeySpec {
  std::string env;
  std::string alias;  // "" if none
  std::string flag;   // long flag name without dashes
  std::string default_text;
  std::string help;
};

// Every key, in README order. Dynamic keys (hmac_secret_<scheme>) appear once with a
// placeholder name.
const std::vector<KeySpec>& Keys();

using Environment = std::map<std::string, std::string>;
Environment CurrentEnvironment();

// Parses a duration: bare integer seconds or Go-style ("500ms", "10s", "1m30s", "1h").
// Fails on anything else, including negative values.
Expected<Duration> ParseDuration(std::string_view text);
// Parses a size in bytes: integer with optional K/KiB/M/MiB/G/GiB suffix.
Expected<std::size_t> ParseBytes(std::string_view text);
// true/1/false/0 (case-insensitive).
Expected<bool> ParseBool(std::string_view text);
// Splits fprocess into arguments: spaces separate, simple '...' and "..." quotes group.
Expected<std::vector<std::string>> SplitCommandLine(std::string_view text);

// Variables of of-watchdog or the classic watchdog that turn on a guard hmac-watchdog does
// not implement (e.g. jwt_auth): set to a true value they stop startup, since ignoring them
// would leave the function open. name -> what the guard is, for the error and the README.
const std::vector<std::pair<std::string, std::string>>& UnimplementedGuards();

// Builds the Config from the environment and flag values (flag name -> value); flags win.
// On failure the Error names the variable, the value and what was expected; a variable of
// UnimplementedGuards() set to a true (or unreadable) value is also an Error naming it.
Expected<Config> Load(const Environment& env, const std::map<std::string, std::string>& flags);

// Only the signature keys (hmac_*, secrets_path), for the sign and verify commands: every
// other variable is ignored, whatever its value. Errors as Load's.
Expected<SignatureOptions> LoadSignature(const Environment& env,
                                         const std::map<std::string, std::string>& flags);

}  // namespace hw::config
