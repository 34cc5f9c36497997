// Failures of the function and of the machine: each gets its documented status, nothing is
// left behind (no zombie, no orphan, descriptors back to idle), and the watchdog stays up.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

Env Mode(const std::string& mode, const std::string& fprocess, const TempDir& tmp) {
  return {{"fprocess", fprocess}, {"mode", mode}, {"hmac_scheme", "none"}, {"TMPDIR", tmp.path()}};
}

}  // namespace

TEST_CASE("a function that crashes gets 500 in both fork modes") {
  for (const char* mode : {"serializing", "streaming"}) {
    INFO(mode);
    TempDir tmp;
    auto w = Watchdog::Start(Mode(mode, "sh -c 'kill -SEGV $$'", tmp));
    auto r = Request(w->port(), "POST", "/", {}, "x");
    CHECK(r.status == 500);
    CHECK(Get(w->port(), "/_/health").status == 200);
  }
}

TEST_CASE("children that outlive the function are killed and do not hold the response") {
  TempDir tmp;
  std::string pidfile = tmp.path() + "/child.pid";
  auto w = Watchdog::Start(
      Mode("serializing", "sh -c 'sleep 30 & echo $! > " + pidfile + "; echo done'", tmp));
  auto start = std::chrono::steady_clock::now();
  auto r = Request(w->port(), "POST", "/", {}, "x");
  CHECK(r.status == 200);
  CHECK(r.body == "done\n");
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  pid_t child = std::stoi(ReadFile(pidfile));
  CHECK(Eventually([&] { return !ProcessAlive(child); }, 5s));
}

TEST_CASE("endless output is cut at max_response_bytes in serializing mode") {
  TempDir tmp;
  auto env = Mode("serializing", "yes", tmp);
  env["max_response_bytes"] = "1MiB";
  auto w = Watchdog::Start(env);
  auto r = Request(w->port(), "POST", "/", {}, "x");
  CHECK(r.status == 500);
  if (kMemoryFiguresMeaningful) CHECK(w->VmRssKb() < 64 * 1024);
  CHECK(Get(w->port(), "/_/health").status == 200);
}

TEST_CASE("endless output in streaming mode is cut by exec_timeout and the memory stays flat") {
  TempDir tmp;
  auto env = Mode("streaming", "yes", tmp);
  env["exec_timeout"] = "1s";
  auto w = Watchdog::Start(env);
  auto r = Request(w->port(), "POST", "/", {}, "x", 20s);
  CHECK(r.status == 200);
  CHECK_FALSE(r.complete);
  CHECK(r.body.size() > 1000);
  if (kMemoryFiguresMeaningful) CHECK(w->VmRssKb() < 64 * 1024);
}

TEST_CASE("a function that closes stdin early still answers") {
  TempDir tmp;
  auto w = Watchdog::Start(Mode("serializing", "sh -c 'exec 0<&-; echo hi'", tmp));
  auto r = Request(w->port(), "POST", "/", {}, std::string(4 * 1024 * 1024, 'b'));
  CHECK(r.status == 200);
  CHECK(r.body == "hi\n");
}

TEST_CASE("an http-mode function that ignores SIGTERM is killed after write_timeout") {
  TempDir tmp;
  int port = FreePort();
  auto env = Mode("http",
                  "sh -c 'trap \"\" TERM; exec python3 " + ScriptPath("upstream.py") + " " +
                      std::to_string(port) + "'",
                  tmp);
  env["upstream_url"] = "http://127.0.0.1:" + std::to_string(port);
  env["write_timeout"] = "1s";
  env["healthcheck_interval"] = "0";
  auto w = Watchdog::Start(env);
  REQUIRE(Get(w->port(), "/echo").status == 200);
  w->Signal(SIGTERM);
  CHECK(w->WaitExit(10s) == 0);
  CHECK(w->WaitForLog("ignored SIGTERM"));
  // The upstream is gone: its port refuses connections.
  CHECK(Eventually([&] { return Get(port, "/echo").status == 0; }, 5s));
}

TEST_CASE("an unwritable TMPDIR for a spooled body gets 507 and the watchdog stays up") {
  TempDir tmp;
  auto env = Mode("serializing", "cat", tmp);
  env["TMPDIR"] = "/proc";  // read-only: no spool file can be created there
  env["suppress_lock"] = "true";
  env["body_memory_bytes"] = "1KiB";
  auto w = Watchdog::Start(env);
  CHECK(Request(w->port(), "POST", "/", {}, std::string(512, 'a')).status == 200);
  auto r = Request(w->port(), "POST", "/", {}, std::string(8192, 'a'));
  CHECK(r.status == 507);
  CHECK(w->WaitForLog("cannot spool request body"));
  CHECK(Get(w->port(), "/_/health").status == 200);
}

TEST_CASE("a full disk for a spooled body gets 507 and the watchdog stays up") {
  TempDir tmp;
  std::string full = tmp.path() + "/full";
  REQUIRE(::mkdir(full.c_str(), 0700) == 0);
  if (::mount("tmpfs", full.c_str(), "tmpfs", 0, "size=64k") != 0) {
    WARN("cannot mount a small tmpfs here (not root?): skipped");
    return;
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{full};
  auto env = Mode("serializing", "cat", tmp);
  env["TMPDIR"] = full;
  env["body_memory_bytes"] = "1KiB";
  auto w = Watchdog::Start(env);
  auto r = Request(w->port(), "POST", "/", {}, std::string(256 * 1024, 'a'));
  CHECK(r.status == 507);
  CHECK(Request(w->port(), "POST", "/", {}, std::string(512, 'a')).status == 200);  // in memory
  CHECK(Get(w->port(), "/_/health").status == 200);
}

TEST_CASE("http mode: an upstream that is slow to answer gets 504, one that resets gets 502") {
  TempDir tmp;
  int port = FreePort();
  auto env = Mode("http", ProgramPath("upstream") + " " + std::to_string(port), tmp);
  env["upstream_url"] = "http://127.0.0.1:" + std::to_string(port);
  env["exec_timeout"] = "700ms";
  auto w = Watchdog::Start(env);
  CHECK(Get(w->port(), "/slow?ms=2000").status == 504);
  CHECK(Get(w->port(), "/reset").status == 502);
  CHECK(Get(w->port(), "/echo").status == 200);
}
