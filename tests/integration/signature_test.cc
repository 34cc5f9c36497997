// Signature verification through the real binary: a forged, stale or unsigned request never
// reaches the function (counted by the function itself), a signed one does.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

struct Signed {
  TempDir tmp;
  std::string secrets;
  std::string spawns;
  std::unique_ptr<Watchdog> w;

  Signed(const std::string& scheme, Env extra = {}, const std::string& secret = "s3cret\n",
         const std::string& function = "", const Env& more_secrets = {}) {
    secrets = tmp.path() + "/secrets";
    spawns = tmp.path() + "/spawns";
    tmp.Write("secrets/webhook-secret", secret);
    for (const auto& [name, value] : more_secrets) tmp.Write("secrets/" + name, value);
    Env env = {{"fprocess", function.empty() ? ProgramPath("fn") + " count " + spawns : function},
               {"mode", "serializing"},
               {"hmac_scheme", scheme},
               {"secrets_path", secrets},
               {"hmac_reload_interval", "200ms"},
               {"TMPDIR", tmp.path()}};
    for (auto& [k, v] : extra) env[k] = v;
    w = Watchdog::Start(env);
  }
  std::string SecretFile(const std::string& name = "webhook-secret") const {
    return secrets + "/" + name;
  }
  int SpawnCount() const {
    std::string s = ReadFile(spawns);
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }
  Response Post(const Headers& headers, const std::string& body) const {
    return Request(w->port(), "POST", "/hook", headers, body);
  }
};

Headers With(Headers h, const std::string& name, const std::string& value) {
  for (auto& [k, v] : h) {
    if (k == name) v = value;
  }
  return h;
}

}  // namespace

TEST_CASE("a signed GitHub delivery reaches the function, which sees Http_X_Webhook_Verified") {
  Signed s("github", {}, "s3cret\n", ProgramPath("fn") + " env");
  std::string body = R"({"action":"opened"})";
  auto headers = Sign("github", s.SecretFile(), body);
  REQUIRE(headers.size() >= 1);
  CHECK(headers[0].first == "X-Hub-Signature-256");
  headers.emplace_back("X-Webhook-Verified", "forged-by-client");
  auto r = s.Post(headers, body);
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("Http_X_Webhook_Verified=github\n"));
  CHECK_THAT(r.body, !Catch::Contains("forged-by-client"));
}

TEST_CASE("unsigned, tampered, wrong-secret and malformed requests get 401 and never fork") {
  Signed s("github");
  std::string body = R"({"n":1})";
  auto good = Sign("github", s.SecretFile(), body);
  TempDir other;
  std::string wrong_secret = other.Write("other", "not-the-secret");
  struct Case {
    std::string name;
    Headers headers;
    std::string body;
  };
  std::vector<Case> cases = {
      {"unsigned", {}, body},
      {"tampered body", good, R"({"n":2})"},
      {"wrong secret", Sign("github", wrong_secret, body), body},
      {"upper-case hex", With(good, "X-Hub-Signature-256", "sha256=" + std::string(64, 'A')), body},
      {"no prefix", With(good, "X-Hub-Signature-256", std::string(64, 'a')), body},
      {"legacy sha1 header only", {{"X-Hub-Signature", "sha1=" + std::string(40, 'a')}}, body},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = s.Post(c.headers, c.body);
    CHECK(r.status == 401);
    CHECK(r.body == "Unauthorized: webhook signature not accepted\n");
  }
  CHECK(s.SpawnCount() == 0);
  CHECK(s.Post(good, body).status == 200);
  CHECK(s.SpawnCount() == 1);
  auto metrics = Get(s.w->metrics_port(), "/metrics").body;
  CHECK_THAT(metrics,
             Catch::Contains("hmac_verifications_total{scheme=\"github\",outcome=\"mismatch\"}"));
  CHECK_THAT(metrics,
             Catch::Contains("hmac_verifications_total{scheme=\"github\",outcome=\"valid\"} 1"));
  CHECK(s.w->WaitForLog("outcome=mismatch"));
  CHECK(s.w->WaitForLog("outcome=missing"));
  CHECK(s.w->Log().find("s3cret") == std::string::npos);
}

TEST_CASE("a stale or future Stripe timestamp is rejected; a fresh one passes") {
  Signed s("stripe", {{"hmac_tolerance", "5m"}}, "whsec_test_secret");
  std::string body = R"({"id":"evt_1"})";
  long now = static_cast<long>(std::time(nullptr));
  CHECK(s.Post(Sign("stripe", s.SecretFile(), body, {"--timestamp", std::to_string(now)}), body)
            .status == 200);
  CHECK(
      s.Post(Sign("stripe", s.SecretFile(), body, {"--timestamp", std::to_string(now - 600)}), body)
          .status == 401);
  CHECK(
      s.Post(Sign("stripe", s.SecretFile(), body, {"--timestamp", std::to_string(now + 600)}), body)
          .status == 401);
  CHECK(s.SpawnCount() == 1);
  CHECK(s.w->WaitForLog("outcome=expired"));
}

TEST_CASE("two secrets are both accepted; after one file is removed only the other is") {
  TempDir keys;
  std::string old_key = keys.Write("old", "old-secret");
  std::string new_key = keys.Write("new", "new-secret");
  Signed s("github", {{"hmac_secret", "webhook-secret,webhook-secret-next"}}, "old-secret", "",
           {{"webhook-secret-next", "new-secret"}});
  std::string body = "rotate";
  CHECK(s.Post(Sign("github", new_key, body), body).status == 200);
  CHECK(s.Post(Sign("github", old_key, body), body).status == 200);
  std::filesystem::remove(s.SecretFile("webhook-secret"));
  REQUIRE(
      Eventually([&] { return s.Post(Sign("github", old_key, body), body).status == 401; }, 5s));
  CHECK(s.Post(Sign("github", new_key, body), body).status == 200);
}

TEST_CASE("a secret replaced on disk is used without a restart, with no failed request") {
  TempDir keys;
  std::string first = keys.Write("first", "first-secret");
  std::string second = keys.Write("second", "second-secret");
  Signed s("github", {}, "first-secret");
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> sent{0};
  // Clients that hold both secrets, like a sender mid-rotation: every request must pass.
  auto client = std::async(std::launch::async, [&] {
    while (!stop.load()) {
      std::string body = "payload " + std::to_string(sent.load());
      auto r1 = s.Post(Sign("github", first, body), body);
      if (r1.status != 200) {
        auto r2 = s.Post(Sign("github", second, body), body);
        if (r2.status != 200) ++failures;
      }
      ++sent;
    }
  });
  REQUIRE(Eventually([&] { return sent.load() >= 5; }));  // traffic flows before the swap
  // Kubernetes-style atomic swap: write the new file aside, rename over.
  s.tmp.Write("secrets/.tmp-secret", "second-secret");
  std::filesystem::rename(s.secrets + "/.tmp-secret", s.SecretFile());
  bool switched = Eventually(
      [&] {
        std::string body = "probe";
        return s.Post(Sign("github", second, body), body).status == 200;
      },
      5s);
  Eventually([&] { return sent.load() >= 6; }, 20s);  // some requests after the switch too
  stop = true;
  client.get();
  CHECK(switched);
  CHECK(failures.load() == 0);
  CHECK(sent.load() > 5);
  std::string body = "after";
  CHECK(s.Post(Sign("github", first, body), body).status == 401);
}

TEST_CASE("a failed reload keeps the last good secret and is counted") {
  Signed s("github");
  std::string body = "keep";
  auto headers = Sign("github", s.SecretFile(), body);
  TempDir keys;
  std::string saved = keys.Write("saved", "s3cret\n");
  std::filesystem::remove(s.SecretFile());
  std::filesystem::create_directory(s.SecretFile());  // replaced by a directory
  REQUIRE(Eventually(
      [&] {
        return Get(s.w->metrics_port(), "/metrics")
                   .body.find("hmac_secret_reloads_total{result=\"failed\"} 0") ==
               std::string::npos;
      },
      5s));
  CHECK(s.Post(headers, body).status == 200);
  CHECK(s.w->WaitForLog("webhook-secret"));
  CHECK(s.w->Log().find("s3cret") == std::string::npos);
}

TEST_CASE("a delivery already handled is a duplicate with hmac_replay_cache (not run again)") {
  // Issue 16: a repeat after a success is answered 200 with X-Webhook-Duplicate (was 401).
  Signed s("github", {{"hmac_replay_cache", "1000"}});
  std::string body = "once";
  auto headers =
      Sign("github", s.SecretFile(), body, {"--id", "72d3162e-cc78-11e3-81ab-4c9367dc0958"});
  CHECK(s.Post(headers, body).status == 200);
  auto again = s.Post(headers, body);
  CHECK(again.status == 200);
  CHECK(again.body.empty());
  CHECK(again.Header("X-Webhook-Duplicate") == "true");
  CHECK(s.SpawnCount() == 1);
  CHECK(s.w->WaitForLog("outcome=duplicate"));
}

TEST_CASE("hmac_allow_unsigned lets exactly the listed METHOD /path through") {
  Signed s("github", {{"hmac_allow_unsigned", "GET /ping"}});
  CHECK(Request(s.w->port(), "GET", "/ping").status == 200);
  CHECK(Request(s.w->port(), "GET", "/ping/").status == 401);
  CHECK(Request(s.w->port(), "POST", "/ping", {}, "x").status == 401);
  CHECK(s.SpawnCount() == 1);
}

TEST_CASE("an oversized signed body gets 413 and never forks") {
  Signed s("github", {{"max_body_bytes", "4KiB"}});
  std::string body(8192, 'z');
  auto r = s.Post(Sign("github", s.SecretFile(), body), body);
  CHECK(r.status == 413);
  CHECK(s.SpawnCount() == 0);
}

TEST_CASE("a large signed body spooled to disk verifies and reaches the function intact") {
  Signed s("github", {{"body_memory_bytes", "64KiB"}}, "s3cret", "cat");
  std::string body;
  for (int i = 0; body.size() < 3 * 1024 * 1024; ++i) body += "line " + std::to_string(i) + "\n";
  auto r = s.Post(Sign("github", s.SecretFile(), body), body);
  REQUIRE(r.status == 200);
  CHECK(r.body == body);
}

TEST_CASE("a gzip-encoded signed body verifies over the wire bytes") {
  Signed s("github", {}, "s3cret", "cat");
  std::string gzip(
      "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48\xcd\xc9\xc9\x07\x00\x86\xa6\x10\x36\x05\x00"
      "\x00\x00",
      25);
  auto headers = Sign("github", s.SecretFile(), gzip);
  headers.emplace_back("Content-Encoding", "gzip");
  auto r = s.Post(headers, gzip);
  CHECK(r.status == 200);
  CHECK(r.body == gzip);
}

TEST_CASE("a flood of forged requests does not take max_inflight slots from real ones") {
  Signed s("github", {{"max_inflight", "2"}, {"mode", "streaming"}});
  std::string body = "real";
  auto good = Sign("github", s.SecretFile(), body);
  std::atomic<bool> stop{false};
  std::atomic<int> forged_401{0};
  std::atomic<int> forged_other{0};
  std::vector<std::future<void>> flood;
  for (int t = 0; t < 4; ++t) {
    flood.push_back(std::async(std::launch::async, [&] {
      while (!stop.load()) {
        auto r = s.Post({{"X-Hub-Signature-256", "sha256=" + std::string(64, '0')}}, body);
        (r.status == 401 ? forged_401 : forged_other)++;
      }
    }));
  }
  int ok = 0;
  for (int i = 0; i < 30; ++i) ok += s.Post(good, body).status == 200;
  stop = true;
  for (auto& f : flood) f.get();
  CHECK(ok == 30);
  CHECK(forged_401.load() > 30);
  CHECK(forged_other.load() == 0);
  CHECK(s.SpawnCount() == 30);
}
