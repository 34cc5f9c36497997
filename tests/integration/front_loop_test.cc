// The front loop answers what needs no waiting itself (README "Limits", Connections): health
// probes, refused heads and forged signatures over bodies that arrived whole. Requests that
// need a worker (a matching signature, a body still to come) are handed over mid-way. These
// tests check from outside that the hand-over loses, repeats and reorders nothing, and that
// floods of forged requests do not occupy workers.
#include <signal.h>
#include <sys/socket.h>

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

constexpr char kSecret[] = "front-loop-secret";

// A watchdog with the github scheme whose function echoes its body and counts its runs.
struct Echo {
  TempDir tmp;
  std::string spawns;
  std::unique_ptr<Watchdog> w;

  explicit Echo(Env extra = {}) {
    spawns = tmp.path() + "/spawns";
    tmp.Write("secrets/webhook-secret", kSecret);
    Env env = {{"fprocess",
                ScriptPath("count-and-run.sh") + " " + spawns + " " + ProgramPath("fn") + " echo"},
               {"mode", "serializing"},
               {"hmac_scheme", "github"},
               {"secrets_path", tmp.path() + "/secrets"},
               {"metrics_port", std::to_string(FreePort())},
               {"TMPDIR", tmp.path()}};
    for (auto& [k, v] : extra) env[k] = v;
    w = Watchdog::Start(env);
  }
  int SpawnCount() const {
    std::string s = ReadFile(spawns);
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }
  long Threads() const { return ProcStatusKb(w->pid(), "Threads"); }
  // hmac_verifications_total for github and `outcome` (0 when absent).
  long Verifications(const std::string& outcome) const {
    const std::string text = Get(w->metrics_port(), "/metrics").body;
    std::smatch m;
    const std::regex line("hmac_verifications_total\\{scheme=\"github\",outcome=\"" + outcome +
                          "\"\\} ([0-9]+)");
    return std::regex_search(text, m, line) ? std::stol(m[1]) : 0;
  }
};

std::string Forged(const std::string& body) {
  return RawPost("/hook", {{"X-Hub-Signature-256", OpenSslGithubSignature("wrong", body)}}, body);
}

std::string Signed(const std::string& body, const Headers& extra = {}) {
  Headers h = {{"X-Hub-Signature-256", OpenSslGithubSignature(kSecret, body)}};
  for (const auto& e : extra) h.push_back(e);
  return RawPost("/hook", h, body);
}

}  // namespace

TEST_CASE(
    "a flood of forged requests on many keep-alive connections takes no worker and runs nothing") {
  Echo e;
  const long threads_before = e.Threads();
  REQUIRE(threads_before > 0);
  constexpr int kConnections = 40;
  constexpr int kPerConnection = 25;
  const std::string body(1024, 'f');
  std::string burst;
  for (int i = 0; i < kPerConnection; ++i) burst += Forged(body);
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < kConnections; ++i) {
    conns.push_back(std::make_unique<RawConnection>(e.w->port()));
    REQUIRE(conns.back()->fd() >= 0);
  }
  for (auto& c : conns) REQUIRE(c->Send(burst));
  long threads_peak = e.Threads();
  for (auto& c : conns) {
    auto got = ReadResponses(*c, kPerConnection);
    threads_peak = std::max(threads_peak, e.Threads());
    REQUIRE(got.size() == static_cast<std::size_t>(kPerConnection));
    for (const auto& r : got) {
      CHECK(r.status == 401);
      CHECK(r.Header("Connection").value_or("") != "close");  // the connection goes on
    }
    CHECK_FALSE(c->closed());
  }
  CHECK(e.SpawnCount() == 0);
  CHECK(e.Verifications("mismatch") == kConnections * kPerConnection);
  // Each connection served by a worker of its own would have grown the pool past its eight
  // waiting workers; answered on the loop, no thread is added.
  CHECK(threads_peak == threads_before);
  // And the connections still serve a real delivery.
  REQUIRE(conns[0]->Send(Signed("real")));
  auto real = ReadResponses(*conns[0], 1);
  REQUIRE(real.size() == 1);
  CHECK(real[0].status == 200);
  CHECK(real[0].body == "real");
  CHECK(e.SpawnCount() == 1);
  CHECK(e.Verifications("valid") == 1);
}

TEST_CASE(
    "random mixes of signed, forged, large and health requests on one connection are answered in "
    "order, each exactly once") {
  Echo e;
  std::mt19937 rng(Catch::rngSeed() + 7);
  for (int round = 0; round < 4; ++round) {
    RawConnection c(e.w->port());
    REQUIRE(c.fd() >= 0);
    struct Expect {
      int status;
      std::string sha;  // of the echoed body, for signed requests
    };
    std::vector<Expect> expected;
    std::string wire;
    int signed_count = 0;
    const int spawns_before = e.SpawnCount();
    const int n = 12;
    for (int i = 0; i < n; ++i) {
      // Bodies from empty to 200 KiB: the large ones are not here whole when the loop sees
      // the head, so a worker reads them.
      const std::size_t size = rng() % 4 == 0 ? 64 * 1024 + rng() % (136 * 1024) : rng() % 2048;
      std::string body(size, '\0');
      for (auto& ch : body) ch = static_cast<char>(rng());
      switch (rng() % 4) {
        case 0:
        case 1:
          wire += Signed(body, {{"X-Call-Id", std::to_string(i)}});
          expected.push_back({200, Sha256Hex(body)});
          ++signed_count;
          break;
        case 2:
          wire += Forged(body);
          expected.push_back({401, ""});
          break;
        default:
          wire += "GET /_/health HTTP/1.1\r\nHost: x\r\n\r\n";
          expected.push_back({200, Sha256Hex("OK")});
          break;
      }
    }
    // Sent in pieces of random sizes, so heads and bodies are split anywhere.
    std::thread sender([&] {
      std::size_t at = 0;
      std::mt19937 split(static_cast<unsigned>(round));
      while (at < wire.size()) {
        const std::size_t len = std::min<std::size_t>(wire.size() - at, 1 + split() % 70000);
        if (!c.Send(wire.substr(at, len))) return;
        at += len;
      }
    });
    auto got = ReadResponses(c, expected.size());
    sender.join();
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      INFO("round " << round << ", request " << i);
      CHECK(got[i].status == expected[i].status);
      if (!expected[i].sha.empty()) CHECK(Sha256Hex(got[i].body) == expected[i].sha);
    }
    CHECK(e.SpawnCount() - spawns_before == signed_count);
  }
}

TEST_CASE(
    "a client that sends forged requests without reading gets every answer, in order, and stalls "
    "no one else") {
  Echo e(Env{{"write_timeout", "20s"}});
  constexpr int kRequests = 20000;
  std::string wire;
  std::vector<int> expected;
  for (int i = 0; i < kRequests; ++i) {
    if (i % 97 == 0) {
      wire += "GET /_/health HTTP/1.1\r\nHost: x\r\n\r\n";
      expected.push_back(200);
    } else {
      wire += Forged("x" + std::to_string(i));
      expected.push_back(401);
    }
  }
  RawConnection c(e.w->port());
  REQUIRE(c.fd() >= 0);
  // Megabytes of requests, not read for a second: the answers fill the socket, and the rest
  // waits to be written.
  std::thread sender([&] { c.Send(wire); });
  std::this_thread::sleep_for(1s);
  for (int i = 0; i < 5; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto health = Get(e.w->port(), "/_/health");
    CHECK(health.status == 200);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
  }
  auto got = ReadResponses(c, expected.size());
  sender.join();
  REQUIRE(got.size() == expected.size());
  std::size_t mismatched = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    if (got[i].status != expected[i]) ++mismatched;
  }
  CHECK(mismatched == 0);
  CHECK(e.SpawnCount() == 0);
}

TEST_CASE(
    "requests the loop cannot finish go to a worker intact: 100-continue, chunked, and a body cut "
    "at the head") {
  Echo e;
  const std::string body = "chunked and continued";
  RawConnection c(e.w->port());
  REQUIRE(c.fd() >= 0);
  // Chunked: the loop never reads a chunked body; a worker does.
  const std::string chunked =
      "POST /hook HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
      "X-Hub-Signature-256: " +
      OpenSslGithubSignature(kSecret, body) + "\r\n\r\n" +
      "7\r\nchunked\r\ne\r\n and continued\r\n0\r\n\r\n";
  REQUIRE(c.Send(chunked));
  auto one = ReadResponses(c, 1);
  REQUIRE(one.size() == 1);
  CHECK(one[0].status == 200);
  CHECK(one[0].body == body);

  // Expect: 100-continue: the head alone first; the body only after the interim answer.
  RawConnection d(e.w->port());
  REQUIRE(d.Send("POST /hook HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: " +
                 std::to_string(body.size()) +
                 "\r\nX-Hub-Signature-256: " + OpenSslGithubSignature(kSecret, body) + "\r\n\r\n"));
  std::string interim = d.Read(5s, 25);
  CHECK(interim.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0) == 0);
  REQUIRE(d.Send(body));
  auto two = ParseResponses(interim.substr(interim.find("\r\n\r\n") + 4) + d.Read(5s));
  REQUIRE(two.size() == 1);
  CHECK(two[0].status == 200);
  CHECK(two[0].body == body);

  // A head whose body is still on its way (sent 300 ms later).
  RawConnection f(e.w->port());
  const std::string later(5000, 'L');
  const std::string whole = Signed(later);
  REQUIRE(f.Send(whole.substr(0, whole.size() - 1000)));
  std::this_thread::sleep_for(300ms);
  REQUIRE(f.Send(whole.substr(whole.size() - 1000)));
  auto three = ReadResponses(f, 1);
  REQUIRE(three.size() == 1);
  CHECK(three[0].status == 200);
  CHECK(three[0].body == later);
  CHECK(e.SpawnCount() == 3);
}

TEST_CASE(
    "hundreds of connections opened at once, each with its own request, each get their own answer "
    "byte for byte") {
  // The accepting loop takes connections 64 at a time and deals each batch out over the loops
  // (http_server.cc): bursts several batches long, of signed and forged requests with random
  // bodies, must each come back to the connection that sent them, once, whole.
  Echo e;
  std::mt19937 rng(Catch::rngSeed() + 11);
  int total_signed = 0;
  for (int round = 0; round < 2; ++round) {
    constexpr int kConnections = 300;
    struct Sent {
      std::unique_ptr<RawConnection> conn;
      std::string body;
      bool signed_;
    };
    std::vector<Sent> sent;
    // Stopped while the connections are made and their requests sent, the watchdog finds all
    // of them waiting when it goes on: one burst, several batches long.
    REQUIRE(::kill(e.w->pid(), SIGSTOP) == 0);
    for (int i = 0; i < kConnections; ++i) {
      std::string body(std::uniform_int_distribution<std::size_t>(0, 3000)(rng), '\0');
      for (char& ch : body) ch = static_cast<char>(rng());
      body += "#" + std::to_string(round) + ":" + std::to_string(i);  // none alike
      sent.push_back(
          {std::make_unique<RawConnection>(e.w->port()), std::move(body), rng() % 3 != 0});
      REQUIRE(sent.back().conn->fd() >= 0);
    }
    // Every request is on the wire before any answer is read.
    for (auto& s : sent) REQUIRE(s.conn->Send(s.signed_ ? Signed(s.body) : Forged(s.body)));
    REQUIRE(::kill(e.w->pid(), SIGCONT) == 0);
    int signed_count = 0;
    for (std::size_t i = 0; i < sent.size(); ++i) {
      INFO("round " << round << ", connection " << i);
      auto got = ReadResponses(*sent[i].conn, 1);
      REQUIRE(got.size() == 1);
      if (sent[i].signed_) {
        ++signed_count;
        CHECK(got[0].status == 200);
        CHECK(got[0].body.size() == sent[i].body.size());
        CHECK(got[0].body == sent[i].body);
      } else {
        CHECK(got[0].status == 401);
      }
    }
    // Nothing more arrives on any of them: one answer per request.
    std::this_thread::sleep_for(200ms);
    for (std::size_t i = 0; i < sent.size(); ++i) {
      char byte = 0;
      const ssize_t n = ::recv(sent[i].conn->fd(), &byte, 1, MSG_DONTWAIT | MSG_PEEK);
      INFO("round " << round << ", connection " << i << ": recv " << n);
      CHECK((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)));
    }
    total_signed += signed_count;
    CHECK(e.SpawnCount() == total_signed);
  }
}

TEST_CASE(
    "a request parser kept from a connection that ended in an error serves the next connection's "
    "requests as new") {
  // The front loops keep their request parsers for later requests (ParserPool). Whatever state
  // the last connection left one in (a refused head, a broken chunk, an upgrade, HTTP/1.0, a
  // connection cut mid-head), the next connection's requests must be parsed from scratch.
  Echo e;
  const std::string huge_name(70 * 1024, 'X');
  const std::vector<std::pair<std::string, int>> endings = {
      {"GET /x HTTP/1.1\r\nHost: a\r\nBad Header: 1\r\n\r\n", 400},
      {"POST /hook HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400},
      {"POST /hook HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
      {"GET /x HTTP/2.0\r\nHost: a\r\n\r\n", 505},
      {"GET /x HTTP/1.1\r\nHost: a\r\n" + huge_name + ": 1\r\n\r\n", 431},
      {"POST /hook HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n", 401},
      {"GET /x HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n", 501},
      {"GET /_/health HTTP/1.0\r\n\r\n", 200},
      {"POST /hook HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Hub-Sig", 0},  // cut mid-head
  };
  std::mt19937 rng(20261208);
  for (int round = 0; round < 45; ++round) {
    const auto& [bytes, status] = endings[static_cast<std::size_t>(round) % endings.size()];
    INFO("round " << round << ": " << bytes.substr(0, 60));
    {
      RawConnection bad(e.w->port());
      REQUIRE(bad.fd() >= 0);
      bad.Send(bytes);
      if (status != 0) {
        const std::string raw = bad.ReadToClose(10s);
        const auto got = ParseResponses(raw);
        REQUIRE_FALSE(got.empty());
        // A broken chunk may be refused at its signature first: 401 or 400, then the end.
        if (status == 401) {
          CHECK((got[0].status == 401 || got[0].status == 400));
        } else {
          CHECK(got[0].status == status);
        }
      }
    }
    // A new connection: a signed request with a random body, a forged one pipelined after it.
    std::string body(rng() % 3000 + 1, '\0');
    for (char& c : body) c = static_cast<char>(rng() % 256);
    RawConnection good(e.w->port());
    REQUIRE(good.fd() >= 0);
    REQUIRE(good.Send(Signed(body) + Forged(body)));
    const auto got = ReadResponses(good, 2);
    REQUIRE(got.size() == 2);
    CHECK(got[0].status == 200);
    CHECK(got[0].body == body);  // byte for byte
    CHECK(got[1].status == 401);
  }
}
