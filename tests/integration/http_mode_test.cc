// http mode end to end: a supervised upstream (tiny C++ server or Python http.server).
#include <signal.h>

#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.h"
#include "raw_client.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

struct Upstream {
  int port = FreePort();
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

Env HttpEnv(const TempDir& tmp, const Upstream& up, const std::string& extra_args = "") {
  return {{"mode", "http"},
          {"fprocess", ProgramPath("upstream") + " " + std::to_string(up.port) + extra_args},
          {"upstream_url", up.Url()},
          {"hmac_scheme", "none"},
          {"TMPDIR", tmp.path()}};
}

// Sends `raw` (one request, or several pipelined) on a held connection and reads `count`
// responses (fewer if the connection closes first).
std::vector<Response> Exchange(RawConnection& c, const std::string& raw, std::size_t count) {
  if (!c.Send(raw)) return {};
  std::string in;
  std::vector<Response> responses;
  for (int i = 0; i < 1000 && responses.size() < count && !c.closed(); ++i) {
    in += c.Read(std::chrono::milliseconds(10), 1);
    responses = ParseResponses(in);
  }
  return responses;
}

Response Exchange(RawConnection& c, const std::string& raw) {
  auto responses = Exchange(c, raw, 1);
  return responses.empty() ? Response{} : responses.front();
}

int DropSeen(int port) {
  auto stats = Request(port, "GET", "/stats");
  auto at = stats.body.find("drop_seen=");
  return at == std::string::npos ? -1 : std::stoi(stats.body.substr(at + 10));
}

}  // namespace

TEST_CASE("http mode: SIGTERM while the function does not listen yet stops the watchdog") {
  TempDir tmp;
  Upstream up;  // nothing listens there: the function is `sleep`
  auto w = Watchdog::Start({{"mode", "http"},
                            {"fprocess", "sleep 1000"},
                            {"upstream_url", up.Url()},
                            {"upstream_ready_timeout", "120s"},
                            {"hmac_scheme", "none"},
                            {"TMPDIR", tmp.path()}},
                           {}, false);
  REQUIRE(w->WaitForPort());
  REQUIRE(w->WaitForLog("started function process"));
  w->Signal(SIGTERM);
  // Well before upstream_ready_timeout: the wait is cancelled, the function stopped.
  const auto code = w->WaitExit(10s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK_THAT(w->Log(), Catch::Contains("SIGTERM received before the function was ready"));
  CHECK_THAT(w->Log(), Catch::Contains("sent SIGTERM to the function process"));
  CHECK_THAT(w->Log(), !Catch::Contains("] ready: "));
}

TEST_CASE("http mode forwards method, target, headers and the exact body, and relays the answer") {
  TempDir tmp;
  Upstream up;
  auto w = Watchdog::Start(HttpEnv(tmp, up));
  auto r = Request(w->port(), "POST", "/echo?x=1&y=%20",
                   {{"X-Custom", "v1"}, {"Content-Type", "application/json"}}, "{\"a\":1}");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("method=POST\n"));
  CHECK_THAT(r.body, Catch::Contains("target=/echo?x=1&y=%20\n"));
  CHECK_THAT(r.body, Catch::Contains("X-Custom: v1"));
  CHECK_THAT(r.body, Catch::Contains("Content-Type: application/json"));
  CHECK_THAT(r.body, Catch::Contains("Host: 127.0.0.1"));
  CHECK_THAT(r.body, Catch::Contains("Content-Length: 7"));
  CHECK_THAT(r.body, Catch::EndsWith("\n\n{\"a\":1}"));
  CHECK_THAT(r.body, !Catch::Contains("Connection:"));
  CHECK(r.Header("X-Upstream") == "yes");
  CHECK(r.Header("X-Duration-Seconds"));
  auto teapot = Request(w->port(), "GET", "/status/418");
  CHECK(teapot.status == 418);
  CHECK(teapot.body == "custom");
  CHECK_FALSE(teapot.Header("X-OpenFaaS-Internal"));
}

TEST_CASE("http mode is not healthy and writes no lock file until the upstream listens") {
  TempDir tmp;
  Upstream up;
  auto w = Watchdog::Start(HttpEnv(tmp, up, " --listen-delay-ms 2000"), {}, false);
  REQUIRE(w->WaitForPort());
  int early_503 = 0;
  // Poll health until it says 200; every request after that must succeed.
  bool healthy = Eventually(
      [&] {
        // The lock file is written once the function is ready: a lock seen before the probe
        // means the probe must say 200 (checking after a 503 raced with readiness).
        bool lock_before = FileExists(tmp.path() + "/.lock");
        auto h = Get(w->port(), "/_/health");
        if (lock_before) CHECK(h.status == 200);
        if (h.status == 503) ++early_503;
        return h.status == 200;
      },
      15s);
  REQUIRE(healthy);
  CHECK(early_503 > 0);
  CHECK(FileExists(tmp.path() + "/.lock"));
  CHECK(w->WaitForLog("function accepts connections"));
  for (int i = 0; i < 20; ++i) CHECK(Request(w->port(), "POST", "/echo", {}, "x").status == 200);
}

TEST_CASE("http mode answers 504 when the upstream is slower than exec_timeout") {
  TempDir tmp;
  Upstream up;
  auto env = HttpEnv(tmp, up);
  env["exec_timeout"] = "500ms";
  auto w = Watchdog::Start(env);
  auto r = Get(w->port(), "/slow?ms=3000");
  CHECK(r.status == 504);
  CHECK(r.Header("X-OpenFaaS-Internal") == "hmac-watchdog");
  CHECK(Get(w->port(), "/slow?ms=10").status == 200);
}

TEST_CASE("http mode answers 502 when the upstream resets the connection") {
  TempDir tmp;
  Upstream up;
  auto w = Watchdog::Start(HttpEnv(tmp, up));
  auto r = Get(w->port(), "/reset");
  CHECK(r.status == 502);
  CHECK(r.Header("X-OpenFaaS-Internal") == "hmac-watchdog");
  CHECK(Get(w->port(), "/echo").status == 200);
}

TEST_CASE("http mode exits non-zero when the function process dies") {
  TempDir tmp;
  Upstream up;
  auto w = Watchdog::Start(HttpEnv(tmp, up));
  Get(w->port(), "/crash");
  auto code = w->WaitExit(10s);
  REQUIRE(code);
  CHECK(*code != 0);
  CHECK(w->WaitForLog("exited"));
  CHECK_FALSE(FileExists(tmp.path() + "/.lock"));
}

TEST_CASE("http mode drains in-flight requests on SIGTERM before it signals the function") {
  TempDir tmp;
  Upstream up;
  std::string term_file = tmp.path() + "/term";
  auto env = HttpEnv(tmp, up, " --term-file " + term_file);
  env["healthcheck_interval"] = "200ms";
  auto w = Watchdog::Start(env);
  std::vector<std::future<Response>> inflight;
  for (int i = 0; i < 3; ++i) {
    inflight.push_back(
        std::async(std::launch::async, [&] { return Get(w->port(), "/slow?ms=1500"); }));
  }
  REQUIRE(Eventually([&] { return MetricValue(*w, "http_requests_in_flight") == 3; }));
  w->Signal(SIGTERM);
  for (auto& f : inflight) CHECK(f.get().status == 200);
  CHECK(w->WaitExit(15s) == 0);
  REQUIRE(FileExists(term_file));
  CHECK(ReadFile(term_file) == "sigterm 0\n");
}

TEST_CASE("http mode reuses keep-alive connections to the upstream") {
  TempDir tmp;
  Upstream up;
  auto w = Watchdog::Start(HttpEnv(tmp, up));
  for (int i = 0; i < 100; ++i) REQUIRE(Request(w->port(), "POST", "/echo", {}, "x").status == 200);
  auto stats = Get(w->port(), "/stats");
  REQUIRE(stats.status == 200);
  int connections = std::stoi(stats.body.substr(stats.body.find('=') + 1));
  INFO(stats.body);
  CHECK(connections <= 10);  // one per worker thread, not one per request
}

TEST_CASE("http mode streams chunked and event-stream answers as they come") {
  TempDir tmp;
  Upstream up;
  auto w = Watchdog::Start(HttpEnv(tmp, up));
  auto r = Get(w->port(), "/stream");
  CHECK(r.status == 200);
  CHECK(r.chunked);
  CHECK(r.complete);
  CHECK(r.body == "chunk0\nchunk1\nchunk2\n");
  auto sse = Get(w->port(), "/sse");
  CHECK(sse.status == 200);
  CHECK(sse.Header("Content-Type") == "text/event-stream");
  CHECK(sse.body == "data: event 0\n\ndata: event 1\n\ndata: event 2\n\n");
}

TEST_CASE("http mode works with a Python http.server upstream") {
  TempDir tmp;
  Upstream up;
  auto env = HttpEnv(tmp, up);
  env["fprocess"] = "python3 " + ScriptPath("upstream.py") + " " + std::to_string(up.port);
  auto w = Watchdog::Start(env);
  auto r = Request(w->port(), "PUT", "/py/path", {}, "payload");
  REQUIRE(r.status == 200);
  CHECK(r.body == "python method=PUT path=/py/path verified=-\npayload");
}

TEST_CASE("http mode never sends a POST twice when the function closes a reused connection") {
  // The upstream reads the whole second request of a kept-alive connection, then closes it
  // without answering: the function may have acted on it, so it must not be sent again.
  TempDir tmp;
  Upstream up;
  auto w = Watchdog::Start(HttpEnv(tmp, up));
  // Pipelined on one client connection, so one worker serves both over one kept-alive
  // upstream connection (a later request could go to another worker).
  RawConnection c(w->port());
  auto both =
      Exchange(c, RawPost("/echo", {}, "warm-up") + RawPost("/drop-second", {}, "pay 10 EUR"), 2);
  REQUIRE(both.size() == 2);
  REQUIRE(both[0].status == 200);
  const Response& r = both[1];
  CHECK(r.status == 502);
  CHECK(r.Header("X-OpenFaaS-Internal") == "hmac-watchdog");
  CHECK(DropSeen(up.port) == 1);  // the function saw it once
  CHECK(w->WaitForLog("POST is not idempotent"));

  // An idempotent method may be sent again on a new connection (RFC 9110 9.2.2).
  RawConnection g(w->port());
  auto puts = Exchange(g,
                       "PUT /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\na"
                       "PUT /drop-second HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n\r\nb",
                       2);
  REQUIRE(puts.size() == 2);
  CHECK(puts[0].status == 200);
  CHECK(puts[1].status == 200);
  CHECK(DropSeen(up.port) == 3);
}

TEST_CASE("http mode sends a POST on a new connection when the function closed the idle one") {
  TempDir tmp;
  Upstream up;
  auto w = Watchdog::Start(HttpEnv(tmp, up));
  RawConnection c(w->port());  // pipelined: one worker, hence its one upstream connection
  auto both =
      Exchange(c, RawPost("/answer-then-close", {}, "one") + RawPost("/echo", {}, "two"), 2);
  REQUIRE(both.size() == 2);
  CHECK(both[0].status == 200);
  CHECK(both[0].body == "answered");
  // The upstream closed that connection once idle: nothing was sent on it, so the POST goes
  // on a new connection instead of failing with 502.
  CHECK(both[1].status == 200);
  CHECK_THAT(both[1].body, Catch::EndsWith("\n\ntwo"));
}

TEST_CASE("http mode: Connection cannot strip Host, X-Webhook-Verified or the signature") {
  TempDir tmp;
  Upstream up;
  tmp.Write("secrets/webhook-secret", "s3cret\n");
  auto env = HttpEnv(tmp, up);
  env["hmac_scheme"] = "github";
  env["secrets_path"] = tmp.path() + "/secrets";
  auto w = Watchdog::Start(env);
  const std::string body = "{\"action\":\"opened\"}";
  Headers headers = Sign("github", tmp.path() + "/secrets/webhook-secret", body);
  headers.push_back({"Connection", "X-Hub-Signature-256, X-Webhook-Verified, Host, Keep-Alive"});
  headers.push_back({"Keep-Alive", "timeout=5"});
  headers.push_back({"TE", "trailers"});
  headers.push_back({"X-Custom", "kept"});
  RawConnection c(w->port());  // the one Connection header is the client's own
  auto r = Exchange(c, RawPost("/echo", headers, body));
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("\r\nX-Hub-Signature-256: sha256="));
  CHECK_THAT(r.body, Catch::Contains("X-Webhook-Verified: github"));
  CHECK_THAT(r.body, Catch::Contains("Host: 127.0.0.1\r\n"));
  CHECK_THAT(r.body, Catch::Contains("X-Custom: kept"));
  // The fixed hop-by-hop set never reaches the function.
  CHECK_THAT(r.body, !Catch::Contains("Connection:"));
  CHECK_THAT(r.body, !Catch::Contains("Keep-Alive:"));
  CHECK_THAT(r.body, !Catch::Contains("TE:"));

  // Upgrade is hop-by-hop: never forwarded (a WebSocket upgrade is refused before this).
  Headers upgrade_headers = Sign("github", tmp.path() + "/secrets/webhook-secret", body);
  upgrade_headers.push_back({"Upgrade", "h2c"});
  upgrade_headers.push_back({"Connection", "Upgrade"});
  RawConnection u(w->port());
  auto upgrade = Exchange(u, RawPost("/echo", upgrade_headers, body));
  REQUIRE(upgrade.status != 0);
  if (upgrade.status == 200) CHECK_THAT(upgrade.body, !Catch::Contains("Upgrade:"));
}
