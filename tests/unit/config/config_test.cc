#include "config/config.h"

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

using namespace hw::config;
using namespace std::chrono_literals;

namespace {

Environment Minimal() { return {{"fprocess", "cat"}, {"hmac_scheme", "none"}}; }

std::string LoadError(Environment env, std::map<std::string, std::string> flags = {}) {
  auto c = Load(env, flags);
  return c ? "" : c.error().message;
}

// The README's configuration table, between its markers; "" when they are missing.
std::string ReadmeVariablesTable() {
  std::ifstream in(std::string(HW_SOURCE_DIR) + "/README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string readme = ss.str();
  const auto start = readme.find("<!-- variables:start -->");
  const auto end = readme.find("<!-- variables:end -->");
  if (start == std::string::npos || end == std::string::npos || end < start) return "";
  return readme.substr(start, end - start);
}

}  // namespace

TEST_CASE("durations accept bare seconds and Go-style strings") {
  CHECK(*ParseDuration("30") == 30s);
  CHECK(*ParseDuration("0") == 0s);
  CHECK(*ParseDuration("500ms") == 500ms);
  CHECK(*ParseDuration("10s") == 10s);
  CHECK(*ParseDuration("1m30s") == 90s);
  CHECK(*ParseDuration("1h") == 3600s);
  CHECK(*ParseDuration("1.5s") == 1500ms);
  CHECK(*ParseDuration("250us") == 1ms);  // never rounds a non-zero duration down to "off"
}

TEST_CASE("durations reject negatives, junk and unknown units") {
  for (const char* bad : {"", "-5", "-1s", "abc", "10x", "s", "1.2.3s", "5 s", "1m-3s"}) {
    INFO(bad);
    CHECK_FALSE(ParseDuration(bad));
  }
}

TEST_CASE("byte sizes accept plain numbers and binary suffixes") {
  CHECK(*ParseBytes("65536") == 65536);
  CHECK(*ParseBytes("64KiB") == 65536);
  CHECK(*ParseBytes("25MiB") == 25u * 1024 * 1024);
  CHECK(*ParseBytes("1G") == 1024ull * 1024 * 1024);
  CHECK_FALSE(ParseBytes("12 parsecs"));
  CHECK_FALSE(ParseBytes("-1"));
  CHECK_FALSE(ParseBytes(""));
  CHECK_FALSE(ParseBytes("99999999999999999999"));
}

TEST_CASE("booleans are true/1/false/0 only") {
  CHECK(*ParseBool("true"));
  CHECK(*ParseBool("TRUE"));
  CHECK(*ParseBool("1"));
  CHECK_FALSE(*ParseBool("false"));
  CHECK_FALSE(*ParseBool("0"));
  CHECK_FALSE(ParseBool("yes"));
  CHECK_FALSE(ParseBool(""));
}

TEST_CASE("fprocess splits on spaces and honours simple quotes") {
  using V = std::vector<std::string>;
  CHECK(*SplitCommandLine("python3 index.py") == V{"python3", "index.py"});
  CHECK(*SplitCommandLine("  node   index.js  ") == V{"node", "index.js"});
  CHECK(*SplitCommandLine("sh -c 'echo hello world'") == V{"sh", "-c", "echo hello world"});
  CHECK(*SplitCommandLine("say \"a \\\"b\\\" c\"") == V{"say", "a \"b\" c"});
  CHECK(*SplitCommandLine("x ''") == V{"x", ""});
  CHECK_FALSE(SplitCommandLine("sh -c 'oops"));
  CHECK_FALSE(SplitCommandLine("   "));
}

TEST_CASE("defaults follow the compatibility contract") {
  auto c = Load(Minimal(), {});
  REQUIRE(c);
  CHECK(c->mode == Mode::kStreaming);
  CHECK(c->port == 8080);
  CHECK(c->metrics_port == 8081);
  CHECK(c->read_timeout == 30s);
  CHECK(c->write_timeout == 30s);
  CHECK(c->exec_timeout == 30s);
  CHECK(c->healthcheck_interval == 30s);
  CHECK(c->max_inflight == 0);
  CHECK(c->loop_spin_us == 20);
  CHECK(c->max_body_bytes == 25u * 1024 * 1024);
  CHECK(c->prefix_logs);
  CHECK(c->cgi_headers);
  CHECK(c->log_buffer_size == 65536);
  CHECK(c->tmpdir == "/tmp");
  CHECK(c->signature.secret_names == std::vector<std::string>{"webhook-secret"});
  CHECK(c->signature.secrets_path == "/var/openfaas/secrets");
  CHECK(c->signature.tolerance == 5min);
}

TEST_CASE("healthcheck_interval defaults to write_timeout") {
  auto env = Minimal();
  env["write_timeout"] = "7s";
  CHECK(Load(env, {})->healthcheck_interval == 7s);
  env["healthcheck_interval"] = "2s";
  CHECK(Load(env, {})->healthcheck_interval == 2s);
}

TEST_CASE("aliases function_process, http_upstream_url and buffer_http are read") {
  Environment env = {{"function_process", "node index.js"},
                     {"mode", "http"},
                     {"http_upstream_url", "http://127.0.0.1:3000"},
                     {"buffer_http", "true"},
                     {"hmac_scheme", "github"}};
  auto c = Load(env, {});
  REQUIRE(c);
  CHECK(c->argv == std::vector<std::string>{"node", "index.js"});
  CHECK(c->upstream_url == "http://127.0.0.1:3000");
  CHECK(c->buffer_http);
}

TEST_CASE("flags win over the environment") {
  auto env = Minimal();
  env["port"] = "9000";
  auto c = Load(env, {{"port", "9001"}});
  REQUIRE(c);
  CHECK(c->port == 9001);
}

TEST_CASE("every bad value names the variable, the value and what was expected") {
  auto env = Minimal();
  env["exec_timeout"] = "-3";
  auto e = LoadError(env);
  CHECK_THAT(e, Catch::Contains("exec_timeout"));
  CHECK_THAT(e, Catch::Contains("\"-3\""));
  CHECK_THAT(e, Catch::Contains("expected"));
  env = Minimal();
  env["write_timeout"] = "0";
  CHECK_THAT(LoadError(env), Catch::Contains("write_timeout"));
  for (const char* spin : {"-1", "1001", "20us", "x"}) {
    env = Minimal();
    env["loop_spin_us"] = spin;
    CHECK_THAT(LoadError(env), Catch::Contains("loop_spin_us") && Catch::Contains("0 to 1000"));
  }
  env = Minimal();
  env["loop_spin_us"] = "0";
  CHECK(LoadError(env).empty());
  env = Minimal();
  env.erase("fprocess");
  CHECK_THAT(LoadError(env), Catch::Contains("fprocess"));
  env["mode"] = "static";
  CHECK(LoadError(env).empty());
}

TEST_CASE("per-scheme secrets come from hmac_secret_<scheme> and --hmac-secret-for") {
  auto env = Minimal();
  env["hmac_secret_github"] = "gh-old, gh-new";
  env["hmac_secret_raw"] = "true";
  auto c = Load(env, {{"hmac-secret-for", "stripe=whsec"}});
  REQUIRE(c);
  CHECK(c->signature.scheme_secret_names.at("github") ==
        std::vector<std::string>{"gh-old", "gh-new"});
  CHECK(c->signature.scheme_secret_names.at("stripe") == std::vector<std::string>{"whsec"});
  CHECK(c->signature.scheme_secret_names.count("raw") == 0);
  CHECK(c->signature.secret_raw);
}

TEST_CASE("hmac_allow_unsigned takes exact METHOD /path pairs") {
  auto env = Minimal();
  env["hmac_allow_unsigned"] = "get /ping, HEAD /";
  auto c = Load(env, {});
  REQUIRE(c);
  REQUIRE(c->signature.allow_unsigned.size() == 2);
  CHECK(c->signature.allow_unsigned[0] == std::make_pair(std::string("GET"), std::string("/ping")));
  env["hmac_allow_unsigned"] = "GET";
  CHECK_THAT(LoadError(env), Catch::Contains("hmac_allow_unsigned"));
}

TEST_CASE("the README's variable table lists exactly the configuration keys") {
  // Rows of the variables table look like: | `name` (alias `other`) | default | meaning |
  const std::string table = ReadmeVariablesTable();
  REQUIRE_FALSE(table.empty());
  std::set<std::string> documented;
  std::regex row(R"(^\| `([^`]+)`)");
  std::istringstream lines(table);
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (std::regex_search(line, m, row)) documented.insert(m[1]);
  }
  std::set<std::string> keys;
  for (const auto& k : Keys()) keys.insert(k.env);
  CHECK(documented == keys);
}

// Issue 10: std::stod threw on "exec_timeout=" + four hundred 9s + "s" and aborted the process.
TEST_CASE("durations with very long numbers are out of range, never an exception") {
  const std::string nines(400, '9');
  for (const std::string& text : std::vector<std::string>{
           nines, nines + "s", nines + "ms", "0." + nines + "s", nines + "." + nines + "h",
           "1" + std::string(30, '0') + "ns", "99999999999999999999", "10000001", "2777.8h"}) {
    INFO(text.substr(0, 40));
    hw::Expected<Duration> d = Duration(0);
    REQUIRE_NOTHROW(d = ParseDuration(text));
    if (text.starts_with("0.")) {
      REQUIRE(d);
      CHECK(d->count() >= 999);  // 0.999...s: digits past nanoseconds do not matter
      CHECK(d->count() <= 1000);
    } else {
      CHECK_FALSE(d);
    }
  }
  // The largest value each form accepts.
  CHECK(*ParseDuration("10000000") == std::chrono::seconds(10'000'000));
  CHECK(*ParseDuration("2777h46m40s") == std::chrono::seconds(10'000'000));
  CHECK_FALSE(ParseDuration("2777h46m41s"));
  CHECK(*ParseDuration("1500000ns") == 1ms);
  CHECK(*ParseDuration("0.5ms") == 1ms);
  CHECK(*ParseDuration("1.25h") == 75min);
  auto env = Minimal();
  env["exec_timeout"] = nines + "s";
  CHECK_THAT(LoadError(env), Catch::Contains("invalid value for exec_timeout"));
}

TEST_CASE("every numeric key refuses a very long number with a configuration error") {
  const std::string nines(400, '9');
  for (const auto& key : Keys()) {
    if (key.env.find('<') != std::string::npos) continue;
    for (const std::string& value :
         std::vector<std::string>{nines, nines + "s", nines + "KiB", "-" + nines}) {
      auto env = Minimal();
      env[key.env] = value;
      INFO(key.env << "=" << value.substr(0, 20));
      std::string error;
      REQUIRE_NOTHROW(error = LoadError(env));
      (void)error;  // string keys accept anything; numeric ones must fail without throwing
    }
  }
}

// Issue 10: README and --help say hmac_algorithm defaults to sha256, but generic refused to
// start without it. Every documented default of the signature options is the value in force.
TEST_CASE("the documented defaults of the signature options are the defaults in force") {
  auto c = Load(Minimal(), {});
  REQUIRE(c);
  std::map<std::string, std::string> documented;
  for (const auto& k : Keys()) documented[k.env] = k.default_text;
  CHECK(documented.at("hmac_algorithm") == c->signature.algorithm);
  CHECK(documented.at("hmac_encoding") == c->signature.encoding);
  CHECK(documented.at("hmac_prefix") == "(none)");
  CHECK(c->signature.prefix.empty());
  CHECK(documented.at("hmac_header") == "(scheme's own)");
  CHECK(c->signature.header.empty());
  CHECK(*ParseDuration(documented.at("hmac_tolerance")) == c->signature.tolerance);
  CHECK(*ParseDuration(documented.at("hmac_reload_interval")) == c->signature.reload_interval);
  CHECK(documented.at("hmac_replay_cache") == std::to_string(c->signature.replay_cache));
  CHECK(documented.at("hmac_secret") == c->signature.secret_names.front());
  CHECK(documented.at("secrets_path") == c->signature.secrets_path);
  CHECK(*ParseBool(documented.at("hmac_allow_sha1")) == c->signature.allow_sha1);
  CHECK(*ParseBool(documented.at("hmac_secret_raw")) == c->signature.secret_raw);
  // Setting a value to its documented default changes nothing.
  auto env = Minimal();
  env["hmac_algorithm"] = documented.at("hmac_algorithm");
  env["hmac_encoding"] = documented.at("hmac_encoding");
  auto same = Load(env, {});
  REQUIRE(same);
  CHECK(same->signature.algorithm == c->signature.algorithm);
  CHECK(same->signature.encoding == c->signature.encoding);
}

// Issue 10: of-watchdog's jwt_auth=true was silently ignored, leaving the function open.
TEST_CASE("a variable that turns on a guard hmac-watchdog lacks stops startup, naming it") {
  for (const char* on : {"true", "1", "TRUE", "yes"}) {
    auto env = Minimal();
    env["jwt_auth"] = on;
    INFO(on);
    const std::string error = LoadError(env);
    CHECK_THAT(error, Catch::Contains("jwt_auth=\"" + std::string(on) + "\""));
    CHECK_THAT(error, Catch::Contains("does not implement"));
  }
  for (const char* off : {"false", "0", "", "FALSE"}) {
    auto env = Minimal();
    env["jwt_auth"] = off;
    INFO(off);
    CHECK(LoadError(env).empty());
  }
  // jwt_auth_local and jwt_auth_debug only adjust jwt_auth (faas-cli local-run always sets
  // jwt_auth_local=true): alone they turn nothing on.
  auto env = Minimal();
  env["jwt_auth_local"] = "true";
  env["jwt_auth_debug"] = "true";
  CHECK(LoadError(env).empty());
  REQUIRE(!UnimplementedGuards().empty());
  CHECK(UnimplementedGuards().front().first == "jwt_auth");
}

TEST_CASE("hmac_header_<scheme> is read per scheme and must be a header name") {
  auto env = Minimal();
  env["hmac_header_patreon"] = " X-Relayed-Signature ";
  env["hmac_header_standard_webhooks"] = "x-sig";
  auto c = Load(env, {});
  REQUIRE(c);
  CHECK(c->signature.scheme_headers.at("patreon") == "X-Relayed-Signature");
  CHECK(c->signature.scheme_headers.at("standard_webhooks") == "x-sig");
  env["hmac_header_github"] = "Bad: name";
  CHECK_THAT(LoadError(env), Catch::Contains("hmac_header_github"));
}

// Issue 14: every default the README's table (and --help) gives is the value in force:
// setting a key to its documented default changes nothing in the Config.
TEST_CASE("every documented default, set explicitly, gives the configuration in force") {
  const std::string table = ReadmeVariablesTable();
  REQUIRE_FALSE(table.empty());
  std::map<std::string, std::string> help;  // what --help prints as the default
  for (const auto& k : Keys()) help[k.env] = k.default_text;
  const auto defaults = Load(Minimal(), {});
  REQUIRE(defaults);
  // | `name` (alias `other`) | default | meaning |
  const std::regex row(R"(^\| `([^`<]+)`[^|]*\| ([^|]*) \|)");
  std::istringstream lines(table);
  std::string line;
  int checked = 0;
  while (std::getline(lines, line)) {
    std::smatch m;
    if (!std::regex_search(line, m, row)) continue;
    const std::string key = m[1];
    const std::string cell = m[2];
    // With hmac_replay_cache only: alone, "memory" opens a store and "" does not.
    if (key == "hmac_replay_store") continue;
    std::string value;
    if (cell.starts_with("`")) {
      value = cell.substr(1, cell.find('`', 1) - 1);
      INFO(key << ": README " << cell << ", --help " << help.at(key));
      CHECK(help.at(key).starts_with(value));
    } else if (cell == "none" || cell == "empty" || cell.starts_with("(none")) {
      INFO(key << ": README " << cell << ", --help " << help.at(key));
      CHECK((help.at(key).starts_with("(none") || help.at(key) == "(empty)"));
    } else {
      continue;  // required, derived (= write_timeout) or described ("the scheme's own")
    }
    auto env = Minimal();
    env[key] = value;
    const auto set = Load(env, {});
    INFO(key << "=\"" << value << "\"");
    REQUIRE(set);
    CHECK(*set == *defaults);
    ++checked;
  }
  CHECK(checked > 50);
}

TEST_CASE("upstream_url is parsed once into the address http mode connects to") {
  auto env = Minimal();
  env["mode"] = "http";
  env["upstream_url"] = "http://localhost:5000/base/";
  auto c = Load(env, {});
  REQUIRE(c);
  CHECK(c->upstream_address.host == "localhost");
  CHECK(c->upstream_address.port == 5000);
  CHECK(c->upstream_address.base_path == "/base");
  CHECK(c->upstream_address.addr_len > 0);
  for (const char* bad :
       {"ftp://x", "http://", "http://127.0.0.1:0", "http://[::1", "http://fn:8080"}) {
    env["upstream_url"] = bad;
    INFO(bad);
    const std::string error = LoadError(env);
    CHECK_THAT(error,
               Catch::Contains("invalid value for upstream_url: \"" + std::string(bad) + "\""));
  }
  env.erase("upstream_url");
  env["http_upstream_url"] = "https://127.0.0.1:5000";
  CHECK_THAT(LoadError(env), Catch::Contains("invalid value for http_upstream_url"));
}

TEST_CASE("the sign and verify commands read the signature keys and nothing else") {
  Environment env = {{"port", "not a port"},  // not read: no error
                     {"mode", "turbo"},
                     {"hmac_algorithm", "SHA512"},
                     {"hmac_secret_github", "gh"},
                     {"hmac_header_github", "X-Relayed"}};
  auto s = LoadSignature(env, {{"hmac-encoding", "base64"}});
  REQUIRE(s);
  CHECK(s->algorithm == "sha512");
  CHECK(s->encoding == "base64");
  CHECK(s->scheme_secret_names.at("github") == std::vector<std::string>{"gh"});
  CHECK(s->scheme_headers.at("github") == "X-Relayed");
  CHECK(s->secret_names == std::vector<std::string>{"webhook-secret"});
  env["hmac_tolerance"] = "forever";
  auto bad = LoadSignature(env, {});
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("hmac_tolerance: \"forever\""));
}

TEST_CASE("basic auth reads its secret files where the signature check does") {
  auto env = Minimal();
  env["secrets_path"] = "/srv/secrets";
  env["hmac_reload_interval"] = "7s";
  auto c = Load(env, {});
  REQUIRE(c);
  CHECK(c->auth.secrets_path == "/srv/secrets");
  CHECK(c->auth.reload_interval == 7s);
}
