// Every invalid configuration stops startup with one line naming the variable, and exit 2.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

struct Outcome {
  int code;
  std::string log;
};

Outcome Run(Env env, std::vector<std::string> args = {}) {
  auto w = Watchdog::Start(std::move(env), std::move(args), false);
  auto code = w->WaitExit(10s);
  return {code.value_or(-1), w->Log()};
}

Env Base() { return {{"fprocess", "cat"}, {"mode", "serializing"}, {"hmac_scheme", "none"}}; }

}  // namespace

TEST_CASE("invalid configuration values stop startup with exit 2 and name the variable") {
  struct Case {
    std::string key, value, expect;
  };
  std::vector<Case> cases = {
      {"read_timeout", "abc", "read_timeout: \"abc\""},
      {"write_timeout", "0", "write_timeout: \"0\""},
      {"exec_timeout", "-5", "exec_timeout: \"-5\""},
      {"exec_timeout", "10parsecs", "exec_timeout"},
      {"mode", "turbo", "mode: \"turbo\""},
      {"port", "70000", "port: \"70000\""},
      {"max_inflight", "many", "max_inflight: \"many\""},
      {"suppress_lock", "yes", "suppress_lock: \"yes\""},
      {"max_body_bytes", "12 parsecs", "max_body_bytes"},
      {"log_format", "xml", "log_format: \"xml\""},
      {"fprocess", "sh -c 'unbalanced", "fprocess"},
      {"hmac_tolerance", "forever", "hmac_tolerance"},
      {"upstream_url", "ftp://x", "upstream_url"},
  };
  for (const auto& c : cases) {
    INFO(c.key << "=" << c.value);
    auto env = Base();
    env[c.key] = c.value;
    auto out = Run(env);
    CHECK(out.code == 2);
    CHECK_THAT(out.log, Catch::Contains(c.expect));
  }
}

TEST_CASE("a missing fprocess stops startup with exit 2") {
  auto env = Base();
  env.erase("fprocess");
  auto out = Run(env);
  CHECK(out.code == 2);
  CHECK_THAT(out.log, Catch::Contains("fprocess is not set"));
}

TEST_CASE("http mode without upstream_url stops startup with exit 2") {
  auto env = Base();
  env["mode"] = "http";
  auto out = Run(env);
  CHECK(out.code == 2);
  CHECK_THAT(out.log, Catch::Contains("upstream_url"));
}

TEST_CASE("an unset hmac_scheme stops startup: no silent 'let everything through'") {
  auto env = Base();
  env.erase("hmac_scheme");
  auto out = Run(env);
  CHECK(out.code == 2);
  CHECK_THAT(out.log, Catch::Contains("hmac_scheme"));
}

TEST_CASE("an unknown hmac_scheme stops startup and lists the valid names") {
  auto env = Base();
  env["hmac_scheme"] = "githbu";
  auto out = Run(env);
  CHECK(out.code == 2);
  CHECK_THAT(out.log, Catch::Contains("githbu"));
  CHECK_THAT(out.log, Catch::Contains("github"));
  CHECK_THAT(out.log, Catch::Contains("stripe"));
}

TEST_CASE("flags override the environment") {
  auto env = Base();
  env["read_timeout"] = "abc";
  auto w = Watchdog::Start(env, {"--read-timeout", "10s"}, true);
  CHECK(w->port() > 0);
  auto bad = Run(Base(), {"--exec-timeout", "-1"});
  CHECK(bad.code == 2);
  CHECK_THAT(bad.log, Catch::Contains("exec_timeout"));
}

TEST_CASE("go-style single-dash flags are accepted") {
  auto w = Watchdog::Start(Base(), {"-port=0", "-exec-timeout=5s"}, true);
  CHECK(w->port() > 0);
}

TEST_CASE("an unknown flag stops startup with exit 2") {
  auto out = Run(Base(), {"--no-such-flag", "1"});
  CHECK(out.code == 2);
}

// Issue 10: std::stod threw on a very long number and the process aborted (exit 134).
TEST_CASE("a duration or size with a very long number is a configuration error, not an abort") {
  const std::string nines(400, '9');
  for (const auto& [key, value] : std::vector<std::pair<std::string, std::string>>{
           {"exec_timeout", nines + "s"},
           {"read_timeout", nines},
           {"hmac_tolerance", "0." + nines + "h" + nines + "m"},
           {"max_body_bytes", nines + "MiB"},
           {"port", nines},
           {"hmac_replay_cache", nines}}) {
    INFO(key);
    auto env = Base();
    env[key] = value;
    auto out = Run(env);
    CHECK(out.code == 2);
    CHECK_THAT(out.log, Catch::Contains("invalid value for " + key));
  }
}

// Issue 10: of-watchdog's jwt_auth=true was silently ignored, leaving the function open.
TEST_CASE("jwt_auth=true stops startup naming it; jwt_auth=false and jwt_auth_local do not") {
  auto env = Base();
  env["jwt_auth"] = "true";
  auto out = Run(env);
  CHECK(out.code == 2);
  CHECK_THAT(out.log, Catch::Contains("jwt_auth=\"true\""));
  env["jwt_auth"] = "false";
  env["jwt_auth_local"] = "true";  // faas-cli local-run sets it on every function
  env["port"] = "0";
  auto w = Watchdog::Start(env);
  CHECK(Get(w->port(), "/_/health").status == 200);
}

// Issue 10 item 3: Discord's public key became the GitHub HMAC secret.
TEST_CASE("a secret file shared by discord and an HMAC scheme stops startup naming both") {
  TempDir tmp;
  tmp.Write("secrets/webhook-secret",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n");
  auto env = Base();
  env["hmac_scheme"] = "github,discord";
  env["secrets_path"] = tmp.path() + "/secrets";
  auto out = Run(env);
  CHECK(out.code == 2);
  CHECK_THAT(out.log, Catch::Contains("github"));
  CHECK_THAT(out.log, Catch::Contains("discord"));
  CHECK_THAT(out.log, Catch::Contains(tmp.path() + "/secrets/webhook-secret"));
  // Separate files: starts.
  tmp.Write("secrets/discord-key",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a\n");
  env["hmac_secret_discord"] = "discord-key";
  auto w = Watchdog::Start(env);
  CHECK(Get(w->port(), "/_/health").status == 200);
}

// Issue 10: README and --help say hmac_algorithm defaults to sha256, yet generic refused.
TEST_CASE("generic starts with only hmac_header set and checks HMAC-SHA256 in hex") {
  TempDir tmp;
  tmp.Write("secrets/webhook-secret", "It's a Secret to Everybody\n");
  auto env = Base();
  env["hmac_scheme"] = "generic";
  env["hmac_header"] = "X-Sig";
  env["secrets_path"] = tmp.path() + "/secrets";
  auto w = Watchdog::Start(env);
  const std::string mac = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  CHECK(Request(w->port(), "POST", "/", {{"X-Sig", mac}}, "Hello, World!").status == 200);
  CHECK(Request(w->port(), "POST", "/", {{"X-Sig", mac}}, "Hello, World?").status == 401);
}
