// The access log, JSON log lines, kube-probe silence, and descriptor/zombie hygiene.
#include <dirent.h>

#include <regex>
#include <sstream>

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

}  // namespace

TEST_CASE("every request gets one access log line with method, path, status and call id") {
  TempDir tmp;
  auto w = Watchdog::Start(Serializing("cat", tmp));
  Request(w->port(), "POST", "/logged/path", {{"X-Call-Id", "call-123"}}, "abc");
  REQUIRE(w->WaitForLog("call_id=call-123"));
  std::string log = w->Log();
  CHECK(std::regex_search(
      log,
      std::regex(
          "request method=POST path=/logged/path status=200 bytes=3 duration=[0-9]+\\.[0-9]{6} "
          "outcome=disabled scheme=- call_id=call-123")));
}

TEST_CASE("the access log's duration is the request's time in seconds, to the microsecond") {
  TempDir tmp;
  auto w = Watchdog::Start(Serializing("sleep 1.2", tmp));
  Request(w->port(), "POST", "/slow", {{"X-Call-Id", "slow-call"}}, "x");
  REQUIRE(w->WaitForLog("call_id=slow-call"));
  std::smatch m;
  const std::string log = w->Log();
  REQUIRE(std::regex_search(
      log, m, std::regex("path=/slow status=200 bytes=0 duration=([0-9]+)\\.([0-9]{6}) ")));
  const double seconds = std::stod(m[1].str() + "." + m[2].str());
  CHECK(seconds >= 1.2);
  CHECK(seconds < 20);
}

TEST_CASE("requests from kube-probe are not logged") {
  TempDir tmp;
  auto w = Watchdog::Start(Serializing("cat", tmp));
  Request(w->port(), "GET", "/_/health", {{"User-Agent", "kube-probe/1.29"}});
  Request(w->port(), "GET", "/_/health", {{"User-Agent", "curl/8"}, {"X-Call-Id", "marker"}});
  REQUIRE(w->WaitForLog("call_id=marker"));
  CHECK(w->Log().find("kube-probe") == std::string::npos);
  std::string log = w->Log();
  std::size_t health_lines = 0;
  for (std::size_t p = log.find("path=/_/health"); p != std::string::npos;
       p = log.find("path=/_/health", p + 1)) {
    ++health_lines;
  }
  CHECK(health_lines == 1);
}

TEST_CASE("log_format=json writes one JSON object per line") {
  TempDir tmp;
  auto env = Serializing(ProgramPath("fn") + " stderr", tmp);
  env["log_format"] = "json";
  auto w = Watchdog::Start(env);
  Request(w->port(), "POST", "/j", {{"X-Call-Id", "q\"uote"}}, "x");
  REQUIRE(w->WaitForLog("\"call_id\":\"q\\\"uote\""));
  REQUIRE(w->WaitForLog("second error line"));
  std::istringstream lines(w->Log());
  std::string line;
  int count = 0;
  std::regex object(R"(^\{"time":"[0-9T:.\-]+Z","level":"[a-z]+","msg":".*"\}$)");
  while (std::getline(lines, line)) {
    INFO(line);
    CHECK(std::regex_match(line, object));
    ++count;
  }
  CHECK(count >= 5);
  CHECK_THAT(w->Log(), Catch::Contains("\"stream\":\"stderr\""));
}

TEST_CASE("prefix_logs=false writes function output lines as they are") {
  TempDir tmp;
  auto env = Serializing(ProgramPath("fn") + " stderr", tmp);
  env["prefix_logs"] = "false";
  auto w = Watchdog::Start(env);
  Request(w->port(), "POST", "/", {}, "x");
  REQUIRE(w->WaitForLog("first error line"));
  CHECK(w->WaitForLog("\nfirst error line\n"));
  CHECK(w->Log().find("stderr: first error line") == std::string::npos);
}

TEST_CASE("descriptors return to their idle count and no zombie remains after many requests") {
  TempDir tmp;
  auto w = Watchdog::Start(Serializing("sh -c 'cat; sleep 0.05 &'", tmp));
  REQUIRE(Request(w->port(), "POST", "/", {}, "warm").status == 200);
  int idle = w->OpenFds();
  for (int i = 0; i < 50; ++i) REQUIRE(Request(w->port(), "POST", "/", {}, "x").status == 200);
  CHECK(Eventually([&] { return w->OpenFds() <= idle; }, 5s));
  CHECK(Eventually([&] { return ZombieChildren(w->pid()) == 0; }, 5s));
}
