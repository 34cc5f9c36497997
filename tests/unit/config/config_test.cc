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
  std::ifstream in(std::string(HW_SOURCE_DIR) + "/README.md");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string readme = ss.str();
  // Rows of the variables table look like: | `name` (alias `other`) | default | meaning |
  auto start = readme.find("<!-- variables:start -->");
  auto end = readme.find("<!-- variables:end -->");
  REQUIRE(start != std::string::npos);
  REQUIRE(end != std::string::npos);
  std::string table = readme.substr(start, end - start);
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
