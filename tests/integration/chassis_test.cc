// The chassis end to end: the real binary, real sockets, real forked functions.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

Env Serializing(const std::string& fprocess, const TempDir& tmp) {
  return {{"fprocess", fprocess},
          {"mode", "serializing"},
          {"hmac_scheme", "none"},
          {"TMPDIR", tmp.path()}};
}

std::string Fn(const std::string& args) { return ProgramPath("fn") + " " + args; }

}  // namespace

TEST_CASE("serializing mode returns the function's output for a request body") {
  TempDir tmp;
  auto w = Watchdog::Start(Serializing(Fn("echo"), tmp));
  auto r = Request(w->port(), "POST", "/", {{"Content-Type", "text/plain"}}, "hello function");
  REQUIRE(r.status == 200);
  CHECK(r.body == "hello function");
  CHECK(r.Header("Content-Type") == "application/octet-stream");  // not the request's type
  REQUIRE(r.Header("X-Duration-Seconds"));
  CHECK(std::regex_match(*r.Header("X-Duration-Seconds"), std::regex("[0-9]+\\.[0-9]{6}")));
}

TEST_CASE("content_type overrides the request's type and defaults to octet-stream") {
  TempDir tmp;
  auto env = Serializing(Fn("echo"), tmp);
  {
    auto w = Watchdog::Start(env);
    auto r = Request(w->port(), "POST", "/", {}, "x");
    CHECK(r.Header("Content-Type") == "application/octet-stream");
  }
  env["content_type"] = "application/json";
  auto w = Watchdog::Start(env);
  auto r = Request(w->port(), "POST", "/", {{"Content-Type", "text/plain"}}, "{}");
  CHECK(r.Header("Content-Type") == "application/json");
}

TEST_CASE("the function sees the Http_ environment of the classic watchdog") {
  TempDir tmp;
  auto w = Watchdog::Start(Serializing(Fn("env"), tmp));
  auto r = Request(w->port(), "POST", "/some/path?a=1&b=two",
                   {{"x-hub-signature-256", "sha256=abc"}, {"X-Custom", "v1"}}, "12345");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("Http_X_Hub_Signature_256=sha256=abc\n"));
  CHECK_THAT(r.body, Catch::Contains("Http_X_Custom=v1\n"));
  CHECK_THAT(r.body, Catch::Contains("Http_Method=POST\n"));
  CHECK_THAT(r.body, Catch::Contains("Http_Path=/some/path\n"));
  CHECK_THAT(r.body, Catch::Contains("Http_Query=a=1&b=two\n"));
  CHECK_THAT(r.body, Catch::Contains("Http_Content_Length=5\n"));
  CHECK_THAT(r.body, Catch::Contains("Http_ContentLength=5\n"));
  CHECK_THAT(r.body, Catch::Contains("Http_Host=127.0.0.1\n"));
  CHECK_THAT(r.body, !Catch::Contains("Http_X_Webhook_Verified"));
}

TEST_CASE("a client's own X-Webhook-Verified header never reaches the function") {
  TempDir tmp;
  auto w = Watchdog::Start(Serializing(Fn("env"), tmp));
  auto r = Request(w->port(), "POST", "/", {{"X-Webhook-Verified", "github"}}, "x");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, !Catch::Contains("Webhook_Verified"));
}

TEST_CASE("a function that exits non-zero gets 500 and its output is not leaked") {
  TempDir tmp;
  auto w = Watchdog::Start(Serializing(Fn("exit 3"), tmp));
  auto r = Request(w->port(), "POST", "/", {}, "x");
  CHECK(r.status == 500);
  CHECK(r.body.rfind("Function process failed", 0) == 0);
  CHECK(r.body != "failed\n");
  CHECK(r.Header("X-OpenFaaS-Internal") == "hmac-watchdog");
  CHECK(r.Header("X-Duration-Seconds"));
}

TEST_CASE("a function that cannot be started gets 500 and a log line naming it") {
  TempDir tmp;
  auto w = Watchdog::Start(Serializing("/nonexistent/function", tmp));
  auto r = Request(w->port(), "POST", "/", {}, "x");
  CHECK(r.status == 500);
  CHECK(w->WaitForLog("/nonexistent/function"));
}

TEST_CASE("exec_timeout kills the function and its grandchild and answers 504") {
  TempDir tmp;
  auto env = Serializing(ScriptPath("grandchild.sh") + " " + tmp.path() + "/grandchild.pid", tmp);
  env["exec_timeout"] = "1s";
  auto w = Watchdog::Start(env);
  auto start = std::chrono::steady_clock::now();
  auto r = Request(w->port(), "POST", "/", {}, "x");
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(r.status == 504);
  CHECK(took < 10s);  // not the 30 s the grandchild would take
  REQUIRE(Eventually([&] { return FileExists(tmp.path() + "/grandchild.pid"); }));
  pid_t grandchild = std::stoi(ReadFile(tmp.path() + "/grandchild.pid"));
  CHECK(Eventually([&] { return !ProcessAlive(grandchild); }, 5s));
}

TEST_CASE("stderr of the function goes to the log, prefixed") {
  TempDir tmp;
  auto w = Watchdog::Start(Serializing(Fn("stderr"), tmp));
  auto r = Request(w->port(), "POST", "/", {}, "x");
  CHECK(r.status == 200);
  CHECK(r.body == "ok\n");
  CHECK(w->WaitForLog("stderr: first error line"));
  CHECK(w->WaitForLog("stderr: second error line"));
}

TEST_CASE("a body over max_body_bytes gets 413 by Content-Length, before the function runs") {
  TempDir tmp;
  auto env = Serializing(Fn("count " + tmp.path() + "/spawns"), tmp);
  env["max_body_bytes"] = "1KiB";
  auto w = Watchdog::Start(env);
  auto r = Request(w->port(), "POST", "/", {}, std::string(2048, 'a'));
  CHECK(r.status == 413);
  auto ok = Request(w->port(), "POST", "/", {}, std::string(1024, 'a'));
  CHECK(ok.status == 200);
  CHECK(ReadFile(tmp.path() + "/spawns") == "spawn\n");
}

TEST_CASE("a chunked body that grows past max_body_bytes gets 413") {
  TempDir tmp;
  auto env = Serializing(Fn("count " + tmp.path() + "/spawns"), tmp);
  env["max_body_bytes"] = "1KiB";
  auto w = Watchdog::Start(env);
  std::string raw = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 4; ++i) raw += "200\r\n" + std::string(512, 'b') + "\r\n";
  raw += "0\r\n\r\n";
  auto r = RawRequest(w->port(), raw);
  CHECK(r.status == 413);
  CHECK_FALSE(FileExists(tmp.path() + "/spawns"));
  std::string small =
      "POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n";
  auto ok = RawRequest(w->port(), small);
  CHECK(ok.status == 200);
  CHECK(ok.body == "hello");
}

TEST_CASE("max_inflight answers 429 with of-watchdog's body when the limit is reached") {
  TempDir tmp;
  auto env = Serializing(Fn("sleep 1500"), tmp);
  env["max_inflight"] = "1";
  auto w = Watchdog::Start(env);
  auto slow =
      std::async(std::launch::async, [&] { return Request(w->port(), "POST", "/", {}, "a"); });
  REQUIRE(Eventually([&] { return Get(w->port(), "/_/ready").status == 429; }, 5s));
  auto r = Request(w->port(), "POST", "/", {}, "b");
  CHECK(r.status == 429);
  CHECK(r.body == "Concurrent request limit exceeded. Max concurrent requests: 1\n");
  CHECK(slow.get().status == 200);
  CHECK(Get(w->port(), "/_/ready").status == 200);
}

TEST_CASE("health, ready and the lock file follow the SIGTERM sequence") {
  TempDir tmp;
  auto env = Serializing(Fn("echo"), tmp);
  env["healthcheck_interval"] = "1s";
  env["write_timeout"] = "5s";
  auto w = Watchdog::Start(env);
  std::string lock = tmp.path() + "/.lock";
  CHECK(FileExists(lock));
  CHECK(Get(w->port(), "/_/health").status == 200);
  CHECK(Get(w->port(), "/_/health").body == "OK");
  CHECK(Get(w->port(), "/_/ready").status == 200);
  CHECK(Request(w->port(), "HEAD", "/_/health").status == 405);
  CHECK(Request(w->port(), "POST", "/_/ready", {}, "x").status == 405);
  w->Signal(SIGTERM);
  REQUIRE(Eventually([&] { return !FileExists(lock); }, 5s));
  // Still serving during healthcheck_interval, but unhealthy.
  CHECK(Get(w->port(), "/_/health").status == 503);
  CHECK(Get(w->port(), "/_/ready").status == 503);
  CHECK(Request(w->port(), "POST", "/", {}, "still here").status == 200);
  CHECK(w->WaitExit(10s) == 0);
}

TEST_CASE("requests in flight when SIGTERM arrives all complete") {
  TempDir tmp;
  auto env = Serializing(Fn("sleep 1500"), tmp);
  env["healthcheck_interval"] = "0";
  env["write_timeout"] = "10s";
  auto w = Watchdog::Start(env);
  std::vector<std::future<Response>> inflight;
  for (int i = 0; i < 4; ++i) {
    inflight.push_back(std::async(std::launch::async, [&, i] {
      return Request(w->port(), "POST", "/", {}, "request " + std::to_string(i));
    }));
  }
  // The four requests reached the function.
  REQUIRE(Eventually([&] { return MetricValue(*w, "http_requests_in_flight") == 4; }));
  w->Signal(SIGTERM);
  for (int i = 0; i < 4; ++i) {
    auto r = inflight[static_cast<std::size_t>(i)].get();
    CHECK(r.status == 200);
    CHECK(r.body == "request " + std::to_string(i));
  }
  CHECK(w->WaitExit(10s) == 0);
}

TEST_CASE("suppress_lock skips the lock file but health still answers 200") {
  TempDir tmp;
  auto env = Serializing(Fn("echo"), tmp);
  env["suppress_lock"] = "true";
  auto w = Watchdog::Start(env);
  CHECK_FALSE(FileExists(tmp.path() + "/.lock"));
  CHECK(Get(w->port(), "/_/health").status == 200);
}

TEST_CASE("an unwritable lock file stops the watchdog with a message naming suppress_lock") {
  TempDir tmp;
  auto env = Serializing(Fn("echo"), tmp);
  env["TMPDIR"] = tmp.path() + "/missing-dir";
  auto w = Watchdog::Start(env, {}, false);
  auto code = w->WaitExit(10s);
  REQUIRE(code);
  CHECK(*code != 0);
  CHECK(w->WaitForLog("suppress_lock"));
}

TEST_CASE("the -run-healthcheck flag reports whether the lock file exists") {
  TempDir tmp;
  auto check = [&] {
    auto w = Watchdog::Start({{"TMPDIR", tmp.path()}}, {"-run-healthcheck"}, false);
    auto code = w->WaitExit(5s);
    return std::make_pair(code.value_or(-1), w->Log());
  };
  auto [missing_code, missing_log] = check();
  CHECK(missing_code == 1);
  CHECK_THAT(missing_log, Catch::Contains("unable to find lock file."));
  tmp.Write(".lock", "");
  CHECK(check().first == 0);
}

TEST_CASE("the -version and --version flags print the version and exit 0") {
  for (const char* flag : {"-version", "--version"}) {
    auto w = Watchdog::Start({}, {flag}, false);
    CHECK(w->WaitExit(5s) == 0);
    CHECK(w->WaitForLog("hmac-watchdog version"));
  }
}
