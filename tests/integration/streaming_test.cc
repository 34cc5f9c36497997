// streaming mode (the default): output streamed as produced, status decided at the first
// byte or the exit.
#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

Env Streaming(const std::string& fprocess, const TempDir& tmp) {
  return {{"fprocess", fprocess}, {"hmac_scheme", "none"}, {"TMPDIR", tmp.path()}};
}

std::string Fn(const std::string& args) { return ProgramPath("fn") + " " + args; }

long VmHwmKb(pid_t pid) {
  std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
  auto pos = status.find("VmHWM:");
  return pos == std::string::npos ? -1 : std::stol(status.substr(pos + 6));
}

}  // namespace

TEST_CASE("streaming mode pipes the body through the function and streams the output") {
  TempDir tmp;
  auto w = Watchdog::Start(Streaming("cat", tmp));
  auto r = Request(w->port(), "POST", "/", {}, "streamed through cat");
  CHECK(r.status == 200);
  CHECK(r.chunked);
  CHECK(r.complete);
  CHECK(r.body == "streamed through cat");
  CHECK_FALSE(r.Header("X-Duration-Seconds"));
}

TEST_CASE("streaming mode answers 500 when the function fails before writing anything") {
  TempDir tmp;
  auto w = Watchdog::Start(Streaming("sh -c 'exit 4'", tmp));
  auto r = Request(w->port(), "POST", "/", {}, "x");
  CHECK(r.status == 500);
  CHECK(r.Header("X-OpenFaaS-Internal") == "hmac-watchdog");
}

TEST_CASE("streaming mode cuts the response when the function fails after output started") {
  TempDir tmp;
  auto w = Watchdog::Start(Streaming(Fn("fail-after-output"), tmp));
  auto r = Request(w->port(), "POST", "/", {}, "x");
  CHECK(r.status == 200);
  CHECK(r.body == "partial");
  CHECK_FALSE(r.complete);  // no final chunk: the client can tell the response failed
  CHECK(w->WaitForLog("failed after output started"));
}

TEST_CASE("streaming mode answers 504 when exec_timeout passes before any output") {
  TempDir tmp;
  auto env = Streaming(Fn("sleep 5000"), tmp);
  env["exec_timeout"] = "300ms";
  auto w = Watchdog::Start(env);
  auto r = Request(w->port(), "POST", "/", {}, "x");
  CHECK(r.status == 504);
}

TEST_CASE("streaming mode moves 50 MiB of output with the watchdog's memory staying flat") {
  TempDir tmp;
  auto w = Watchdog::Start(Streaming(Fn("big 52428800"), tmp));
  REQUIRE(Request(w->port(), "POST", "/", {}, "warm-up").status == 200);
  long before = VmHwmKb(w->pid());
  auto r = Request(w->port(), "POST", "/", {}, "x", 60s);
  REQUIRE(r.status == 200);
  CHECK(r.body.size() == 52428800u);
  CHECK(r.complete);
  long after = VmHwmKb(w->pid());
  INFO("VmHWM before " << before << " kB, after " << after << " kB");
  // far below the 50 MiB that went through
  if (kMemoryFiguresMeaningful) CHECK(after - before < 16 * 1024);
}

TEST_CASE("streaming mode delivers the first bytes before the function finishes") {
  TempDir tmp;
  auto w = Watchdog::Start(Streaming("sh -c 'echo first; sleep 2; echo second'", tmp));
  auto start = std::chrono::steady_clock::now();
  auto r = RawRequest(w->port(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 1s);
  // Within 1 s we have the status and the first line, though the function runs 2 s.
  CHECK(r.status == 200);
  CHECK(r.body == "first\n");
  CHECK(std::chrono::steady_clock::now() - start < 1900ms);
}

TEST_CASE(
    "fork modes answer application/octet-stream whatever the request's type, as of-watchdog") {
  // of-watchdog 0.10.10 (run side by side): application/octet-stream in streaming and
  // serializing mode for a JSON request; content_type, when set, wins.
  TempDir tmp;
  for (const std::string mode : {"streaming", "serializing"}) {
    auto env = Streaming("cat", tmp);
    env["mode"] = mode;
    {
      auto w = Watchdog::Start(env);
      auto r = Request(w->port(), "POST", "/", {{"Content-Type", "application/json"}}, "{}");
      INFO(mode);
      CHECK(r.status == 200);
      CHECK(r.Header("Content-Type") == "application/octet-stream");
    }
    env["content_type"] = "application/json; charset=utf-8";
    auto w = Watchdog::Start(env);
    auto r = Request(w->port(), "POST", "/", {{"Content-Type", "text/plain"}}, "{}");
    INFO(mode);
    CHECK(r.Header("Content-Type") == "application/json; charset=utf-8");
  }
}
