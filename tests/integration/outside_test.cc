// Requests crafted as an attacker or sent by an ordinary client that the first releases
// mishandled (issues 10 and 11): each case reproduces the report against the real binary.
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <random>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.h"
#include "raw_client.h"
#include "support/openssl_signature.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

constexpr char kSecret[] = "s3cret";

// A watchdog with the github scheme whose function counts its runs and prints its Http_*
// environment.
struct Guarded {
  TempDir tmp;
  std::string spawns;
  std::unique_ptr<Watchdog> w;

  explicit Guarded(Env extra = {}, const std::string& function_mode = "env") {
    spawns = tmp.path() + "/spawns";
    tmp.Write("secrets/webhook-secret", kSecret);
    Env env = {{"fprocess", ScriptPath("count-and-run.sh") + " " + spawns + " " +
                                ProgramPath("fn") + " " + function_mode},
               {"mode", "serializing"},
               {"hmac_scheme", "github"},
               {"secrets_path", tmp.path() + "/secrets"},
               {"TMPDIR", tmp.path()}};
    for (auto& [k, v] : extra) env[k] = v;
    w = Watchdog::Start(env);
  }
  int SpawnCount() const {
    std::string s = ReadFile(spawns);
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }
};

std::string Signature(const std::string& body) { return OpenSslGithubSignature(kSecret, body); }

std::string WebSocketGet(const std::string& target) {
  return "GET " + target +
         " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

}  // namespace

TEST_CASE("a WebSocket upgrade never turns the checked path into / (fork and http modes)") {
  Guarded g(Env{{"hmac_allow_unsigned", "GET /"}});
  auto r = RawRequest(g.w->port(), WebSocketGet("/admin/delete-all?x=1"));
  CHECK(r.status == 501);
  CHECK(g.SpawnCount() == 0);
  // The allow-listed path itself is still served, without the upgrade.
  auto root = Request(g.w->port(), "GET", "/");
  CHECK(root.status == 200);
  CHECK_THAT(root.body, Catch::Contains("Http_Path=/\n"));
  CHECK(g.SpawnCount() == 1);
  CHECK(g.w->WaitForLog("path=/admin/delete-all"));
  CHECK_THAT(g.w->Log(), !Catch::Contains("path=/ outcome=unsigned_allowed status=200 bytes=0"));

  TempDir tmp;
  int up = FreePort();
  auto h = Watchdog::Start({{"mode", "http"},
                            {"fprocess", ProgramPath("upstream") + " " + std::to_string(up)},
                            {"upstream_url", "http://127.0.0.1:" + std::to_string(up)},
                            {"hmac_scheme", "github"},
                            {"hmac_allow_unsigned", "GET /"},
                            {"secrets_path", g.tmp.path() + "/secrets"},
                            {"TMPDIR", tmp.path()}});
  auto before = Get(up, "/stats").body;
  CHECK(RawRequest(h->port(), WebSocketGet("/admin/delete-all?x=1")).status == 501);
  auto after = Get(up, "/stats").body;
  // /stats itself is the only request between the two readings.
  auto requests = [](const std::string& s) { return std::stoi(s.substr(s.find("requests=") + 9)); };
  CHECK(requests(after) == requests(before) + 1);
}

TEST_CASE("client headers with '_' never reach the function and cannot pose as the watchdog's") {
  Guarded g(Env{{"hmac_allow_unsigned", "POST /open"}});
  auto r = Request(g.w->port(), "POST", "/open",
                   {{"X_Webhook_Verified", "github"},
                    {"X-Webhook-Verified", "github"},
                    {"Some_Header", "1"},
                    {"X-Fine", "kept"}},
                   "x");
  REQUIRE(r.status == 200);
  CHECK_THAT(r.body, !Catch::Contains("Http_X_Webhook_Verified"));
  CHECK_THAT(r.body, !Catch::Contains("Http_X_webhook_verified"));
  CHECK_THAT(r.body, !Catch::Contains("Some"));
  CHECK_THAT(r.body, Catch::Contains("Http_X_Fine=kept\n"));
}

TEST_CASE("the path is decoded once, strictly: %u forms and broken escapes get 400") {
  Guarded g(Env{{"hmac_allow_unsigned", "GET /public"}});
  CHECK(Get(g.w->port(), "/%u0070ublic").status == 400);
  CHECK(Get(g.w->port(), "/public%zz").status == 400);
  CHECK(Get(g.w->port(), "/public%2").status == 400);
  CHECK(Get(g.w->port(), "/pub%00lic").status == 400);
  CHECK(g.SpawnCount() == 0);
  // A standard escape decodes to the allow-listed path, which is what the function sees.
  auto ok = Get(g.w->port(), "/%70ublic");
  CHECK(ok.status == 200);
  CHECK_THAT(ok.body, Catch::Contains("Http_Path=/public\n"));
  // An encoded slash is part of a segment, not a separator: no match.
  CHECK(Get(g.w->port(), "/public%2F..%2Fadmin").status == 401);
  CHECK(g.SpawnCount() == 1);
}

TEST_CASE("Content-Length: 0 with Transfer-Encoding: chunked gets 400") {
  Guarded g(Env{{"hmac_allow_unsigned", "POST /open"}});
  auto r =
      RawRequest(g.w->port(),
                 "POST /open HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  CHECK(r.status == 400);
  CHECK(g.SpawnCount() == 0);
}

TEST_CASE("GET and OPTIONS bodies are spooled like POST ones and not held in memory") {
  Guarded g(Env{{"body_memory_bytes", "64KiB"}, {"max_body_bytes", "32MiB"}});
  long before = ProcStatusKb(g.w->pid(), "VmHWM");
  std::string body(20 * 1024 * 1024, 'g');
  const std::string forged = "sha256=" + std::string(64, '0');  // well formed: needs the body
  for (const char* method : {"GET", "OPTIONS", "GET", "GET"}) {
    auto r = Request(g.w->port(), method, "/x", {{"X-Hub-Signature-256", forged}}, body);
    CHECK(r.status == 401);
  }
  // A correctly signed GET with a body reaches the function with every byte.
  std::string small(200 * 1024, 's');
  auto ok = Request(g.w->port(), "GET", "/x", {{"X-Hub-Signature-256", Signature(small)}}, small);
  CHECK(ok.status == 200);
  CHECK(g.SpawnCount() == 1);
  long after = ProcStatusKb(g.w->pid(), "VmHWM");
  INFO("VmHWM before " << before << " kB, after " << after << " kB");
  if (kMemoryFiguresMeaningful) CHECK(after - before < 12 * 1024);
}

TEST_CASE("a request the headers already refuse is answered before its body is sent") {
  Guarded g;
  for (const std::string method : {"POST", "GET", "PUT", "OPTIONS"}) {
    INFO(method);
    RawConnection c(g.w->port());
    // No signature header at all, 10 MiB announced, nothing of it sent.
    REQUIRE(c.Send(method + " /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 10485760\r\n\r\n"));
    auto responses = ParseResponses(c.Read(5s, 12));
    REQUIRE(!responses.empty());
    CHECK(responses[0].status == 401);
  }
  CHECK(g.SpawnCount() == 0);
  CHECK(g.w->WaitForLog("outcome=missing"));
}

TEST_CASE("Expect: 100-continue gets the final 401 or 413 instead of 100 Continue") {
  Guarded g(Env{{"max_body_bytes", "1MiB"}});
  {
    RawConnection c(g.w->port());
    c.Send("POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    auto got = ParseResponses(c.Read(5s, 12));
    REQUIRE(!got.empty());
    CHECK(got[0].status == 401);
  }
  {
    RawConnection c(g.w->port());
    c.Send(
        "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n"
        "X-Hub-Signature-256: " +
        Signature("x") + "\r\nExpect: 100-continue\r\n\r\n");
    auto got = ParseResponses(c.Read(5s, 12));
    REQUIRE(!got.empty());
    CHECK(got[0].status == 413);
  }
  {
    // A signed request gets 100 Continue, then its answer once the body is sent.
    RawConnection c(g.w->port());
    const std::string body = "{\"ok\":1}";
    c.Send("POST /hook HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nX-Hub-Signature-256: " + Signature(body) +
           "\r\nExpect: 100-continue\r\n\r\n");
    auto interim = c.Read(5s, 12);
    CHECK(interim.rfind("HTTP/1.1 100", 0) == 0);
    c.Send(body);
    auto rest = ParseResponses(interim + c.ReadToClose(5s));
    REQUIRE(rest.size() == 2);
    CHECK(rest[1].status == 200);
  }
  CHECK(g.SpawnCount() == 1);
}

TEST_CASE("unverified bodies share one budget: past it 503 with Retry-After, before the body") {
  Guarded g(
      Env{{"max_unverified_bytes", "2MiB"}, {"max_body_bytes", "1MiB"}, {"read_timeout", "5s"}});
  const std::string forged = "sha256=" + std::string(64, '1');
  auto head = [&](std::size_t length) {
    return "POST /hook HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: " + forged +
           "\r\nContent-Length: " + std::to_string(length) + "\r\n\r\n";
  };
  // Two requests each hold 1 MiB of the budget while their bodies trickle in.
  RawConnection a(g.w->port());
  RawConnection b(g.w->port());
  a.Send(head(1024 * 1024) + "partial");
  b.Send(head(1024 * 1024) + "partial");
  // Both heads read: their two reservations are held.
  REQUIRE(Eventually([&] { return MetricValue(*g.w, "hmac_unverified_body_bytes") == 2 << 20; }));
  RawConnection c(g.w->port());
  c.Send(head(1024 * 1024));
  auto got = ParseResponses(c.Read(5s, 12));
  REQUIRE(!got.empty());
  CHECK(got[0].status == 503);
  CHECK(got[0].Header("Retry-After") == "1");
  // Once they are done the budget is free again.
  a.Send(std::string(1024 * 1024 - 7, 'a'));
  b.Send(std::string(1024 * 1024 - 7, 'b'));
  CHECK(ParseResponses(a.Read(5s, 12)).at(0).status == 401);
  CHECK(ParseResponses(b.Read(5s, 12)).at(0).status == 401);
  std::string body(1024 * 1024, 'c');
  CHECK(Request(g.w->port(), "POST", "/hook", {{"X-Hub-Signature-256", Signature(body)}}, body)
            .status == 200);
  // Chunked bodies grow their reservation as they arrive.
  RawConnection d(g.w->port());
  RawConnection e(g.w->port());
  d.Send(head(1024 * 1024) + "x");
  e.Send(head(1024 * 1024) + "x");
  REQUIRE(Eventually([&] { return MetricValue(*g.w, "hmac_unverified_body_bytes") == 2 << 20; }));
  RawConnection f(g.w->port());
  f.Send("POST /hook HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: " + forged +
         "\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n" + std::string(0x10000, 'f') + "\r\n");
  auto chunked = ParseResponses(f.Read(5s, 12));
  REQUIRE(!chunked.empty());
  CHECK(chunked[0].status == 503);
  CHECK(g.SpawnCount() == 1);
}

TEST_CASE("a second watchdog on a port in use stops with an error naming the port") {
  TempDir tmp;
  auto first =
      Watchdog::Start({{"fprocess", "cat"}, {"hmac_scheme", "none"}, {"TMPDIR", tmp.path()}});
  TempDir tmp2;
  auto second = Watchdog::Start({{"fprocess", "cat"},
                                 {"hmac_scheme", "none"},
                                 {"port", std::to_string(first->port())},
                                 {"TMPDIR", tmp2.path()}},
                                {}, false);
  CHECK(second->WaitExit() == 1);
  CHECK_THAT(second->Log(), Catch::Contains("port " + std::to_string(first->port())));
}

TEST_CASE("pipelined requests are each verified and answered in order") {
  Guarded g(Env{}, "echo");
  const std::string one = "first body", two = "second body";
  RawConnection c(g.w->port());
  c.Send(RawPost("/a", {{"X-Hub-Signature-256", Signature(one)}}, one) +
         RawPost("/b", {{"X-Hub-Signature-256", Signature("tampered")}}, two) +
         RawPost("/c", {{"X-Hub-Signature-256", Signature(two)}, {"Connection", "close"}}, two));
  auto got = ParseResponses(c.ReadToClose(10s));
  // The forged second request is refused (and, as a 401 after a fully read body, keeps the
  // connection); the third is answered too.
  REQUIRE(got.size() == 3);
  CHECK(got[0].status == 200);
  CHECK(got[0].body == one);
  CHECK(got[1].status == 401);
  CHECK(got[2].status == 200);
  CHECK(got[2].body == two);
  CHECK(g.SpawnCount() == 2);
}

TEST_CASE(
    "large bodies sent in uneven pieces, each followed at once by the next request, reach the "
    "function byte for byte") {
  // Bodies above what the loop reads itself go to a worker, which receives a body of announced
  // length straight into the memory reserved for it: the pieces here end inside a body, at its
  // last byte, and in the middle of the next request's head.
  Guarded g(Env{}, "echo");
  std::mt19937 rng(7);
  auto random_body = [&](std::size_t n) {
    std::string s(n, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng());
    return s;
  };
  const std::vector<std::string> bodies = {random_body(300 * 1024), random_body(64 * 1024 + 1),
                                           random_body(200 * 1000)};
  std::string wire;
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    // The second is forged: refused after its whole body, the connection kept.
    const std::string sig = i == 1 ? Signature("other") : Signature(bodies[i]);
    Headers h = {{"X-Hub-Signature-256", sig}};
    if (i + 1 == bodies.size()) h.push_back({"Connection", "close"});
    wire += RawPost("/p" + std::to_string(i), h, bodies[i]);
  }
  RawConnection c(g.w->port());
  // Sent from a thread while the answers are read: the echoed bodies must not wait for the
  // rest of the requests to be taken.
  bool sent_all = false;
  std::thread sender([&] {
    std::mt19937 split(8);
    for (std::size_t at = 0; at < wire.size();) {
      const std::size_t n = std::min<std::size_t>(wire.size() - at, 1 + split() % 90000);
      if (!c.Send(wire.substr(at, n))) return;
      at += n;
      std::this_thread::sleep_for(std::chrono::milliseconds(split() % 3));
    }
    sent_all = true;
  });
  auto got = ParseResponses(c.ReadToClose(20s));
  sender.join();
  CHECK(sent_all);
  REQUIRE(got.size() == 3);
  CHECK(got[0].status == 200);
  CHECK(Sha256Hex(got[0].body) == Sha256Hex(bodies[0]));
  CHECK(got[1].status == 401);
  CHECK(got[2].status == 200);
  CHECK(Sha256Hex(got[2].body) == Sha256Hex(bodies[2]));
  CHECK(g.SpawnCount() == 2);
}

TEST_CASE(
    "requests without Content-Length have no body: pipelined GETs and a bare POST are answered") {
  Guarded g(Env{{"hmac_allow_unsigned", "GET /public,POST /public"}}, "echo");
  RawConnection c(g.w->port());
  c.Send(
      "GET /public HTTP/1.1\r\nHost: x\r\n\r\nGET /public HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /public HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string in;
  std::vector<Response> got;
  for (int i = 0; i < 50 && got.size() < 3; ++i) {
    in += c.Read(200ms);
    got = ParseResponses(in);
  }
  REQUIRE(got.size() == 3);
  for (const auto& r : got) {
    CHECK(r.status == 200);
    CHECK(r.body.empty());
  }
  CHECK(g.SpawnCount() == 3);
}

TEST_CASE("SIGTERM while a streamed response is written lets it finish") {
  TempDir tmp;
  const std::string started = tmp.path() + "/started";
  auto w = Watchdog::Start({{"fprocess", ScriptPath("slow-lines.sh") + " " + started},
                            {"mode", "streaming"},
                            {"hmac_scheme", "none"},
                            {"healthcheck_interval", "0s"},
                            {"write_timeout", "10s"},
                            {"TMPDIR", tmp.path()}});
  RawConnection c(w->port());
  c.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  // SIGTERM before the function's first byte, and again while the body is streamed.
  REQUIRE(Eventually([&] { return FileExists(started); }));
  w->Signal(SIGTERM);
  auto all = ParseResponses(c.ReadToClose(15s));
  REQUIRE(all.size() == 1);
  CHECK(all[0].status == 200);
  CHECK(all[0].complete);
  CHECK(all[0].body ==
        "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\n");
  CHECK(w->WaitExit() == 0);
  CHECK_THAT(w->Log(), Catch::Contains("stream=complete"));
}

TEST_CASE("every response carries a Date header in RFC 9110 form") {
  TempDir tmp;
  auto w = Watchdog::Start({{"fprocess", "cat"}, {"hmac_scheme", "none"}, {"TMPDIR", tmp.path()}});
  const std::regex imf(R"([A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)");
  for (const auto& r : {Request(w->port(), "POST", "/", {}, "x"), Get(w->port(), "/_/health"),
                        RawRequest(w->port(), "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n")}) {
    auto date = r.Header("Date");
    REQUIRE(date);
    CHECK(std::regex_match(*date, imf));
  }
}

TEST_CASE("half-open and idle connections never starve health checks or signed requests") {
  Guarded g(Env{{"read_timeout", "30s"}}, "echo");
  // 300 heads that never finish and 1,000 connections that never send a byte: more than
  // max_connections (256) together.
  std::vector<std::unique_ptr<RawConnection>> flood;
  for (int i = 0; i < 1300; ++i) {
    auto c = std::make_unique<RawConnection>(g.w->port());
    REQUIRE(c->fd() >= 0);
    if (i < 300) c->Send("POST /x HTTP/1.1\r\nHost: a\r\n");
    flood.push_back(std::move(c));
  }
  for (int i = 0; i < 20; ++i) {
    INFO("probe " << i);
    CHECK(Request(g.w->port(), "GET", "/_/health", {}, "", 5s).status == 200);
  }
  const std::string body = "{\"during\":\"flood\"}";
  for (int i = 0; i < 5; ++i) {
    auto r =
        Request(g.w->port(), "POST", "/hook", {{"X-Hub-Signature-256", Signature(body)}}, body, 5s);
    CHECK(r.status == 200);
    CHECK(r.body == body);
  }
  CHECK(g.SpawnCount() == 5);
}

// Raises this process's soft descriptor limit to its hard one; returns how many connections
// up to `wanted` it can then open, keeping some descriptors spare.
int RaiseOpenFileLimit(int wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return std::min(wanted, 800);
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
  const auto spare = static_cast<long>(limit.rlim_cur) - 200;
  return static_cast<int>(std::clamp<long>(spare, 0, wanted));
}

TEST_CASE(
    "thousands of connections expiring together are all cut, a batch at a time, and health "
    "probes meanwhile are answered") {
  // As many as the descriptor limit allows, up to 2,400 (the watchdog raises its own).
  const int kFlood = RaiseOpenFileLimit(2400);
  Guarded g(Env{{"read_timeout", "1s"}}, "echo");
  // Opened together, so they expire within moments of each other: on two cores (two loops)
  // five of a loop's 256-connection batches each, on four cores three.
  std::vector<std::unique_ptr<RawConnection>> flood;
  for (int i = 0; i < kFlood; ++i) {
    auto c = std::make_unique<RawConnection>(g.w->port());
    REQUIRE(c->fd() >= 0);
    if (i % 2 == 0) c->Send("POST /x HTTP/1.1\r\nHost: a\r\n");
    flood.push_back(std::move(c));
  }
  const auto opened = std::chrono::steady_clock::now();
  int probes = 0;
  while (std::chrono::steady_clock::now() - opened < 2500ms) {
    CHECK(Request(g.w->port(), "GET", "/_/health", {}, "", 5s).status == 200);
    ++probes;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(probes > 20);
  // Every one was cut (end of file, nothing written to a head never finished).
  int cut = 0;
  for (auto& c : flood) {
    c->Read(2s, 1);
    if (c->closed()) ++cut;
  }
  CHECK(cut == kFlood);
  CHECK_THAT(g.w->Log(), Catch::Contains("connection(s) cut: no complete request head"));
  CHECK(g.SpawnCount() == 0);
}
