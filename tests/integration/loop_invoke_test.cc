// http mode on the front loop: a verified request is decided, sent to the function and
// answered on the loop, without a worker, when nothing there waits (README "Limits",
// Connections). What the loop cannot finish (a streamed or large answer, an interim
// response, a broken connection, exec_timeout) goes on in a worker from where it stood.
// These tests check from outside that nothing is lost, repeated or reordered on the way,
// and that a forged request still never reaches the function.
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

constexpr char kSecret[] = "loop-invoke-secret";

// A watchdog in http mode, github scheme, in front of the test upstream.
struct HttpLoop {
  TempDir tmp;
  int upstream_port = FreePort();
  std::unique_ptr<Watchdog> w;

  explicit HttpLoop(Env extra = {}) {
    tmp.Write("secrets/webhook-secret", kSecret);
    Env env = {{"mode", "http"},
               {"fprocess", ProgramPath("upstream") + " " + std::to_string(upstream_port)},
               {"upstream_url", "http://127.0.0.1:" + std::to_string(upstream_port)},
               {"hmac_scheme", "github"},
               {"secrets_path", tmp.path() + "/secrets"},
               {"metrics_port", std::to_string(FreePort())},
               {"TMPDIR", tmp.path()}};
    for (auto& [k, v] : extra) env[k] = v;
    w = Watchdog::Start(env);
  }
  long Threads() const { return ProcStatusKb(w->pid(), "Threads"); }
  long Metric(const std::string& series) const {
    return static_cast<long>(MetricValue(*w, series).value_or(-1));
  }
};

std::string Signed(const std::string& target, const std::string& body) {
  return RawPost(target, {{"X-Hub-Signature-256", OpenSslGithubSignature(kSecret, body)}}, body);
}

std::string Forged(const std::string& target, const std::string& body) {
  return RawPost(target, {{"X-Hub-Signature-256", OpenSslGithubSignature("wrong", body)}}, body);
}

// The body /big?bytes=N answers with (tests/integration/programs/upstream.cc).
std::string BigBody(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 23);
  return s;
}

}  // namespace

TEST_CASE(
    "http mode: verified requests on 40 keep-alive connections are answered in order, "
    "byte-exact, and add no thread") {
  HttpLoop h;
  // Warm up: one request, so that the upstream pool and the workers are as at rest.
  {
    RawConnection c(h.w->port());
    REQUIRE(c.Send(Signed("/warm", "warm")));
    auto got = ReadResponses(c, 1);
    REQUIRE(got.size() == 1);
    REQUIRE(got[0].status == 200);
  }
  const long threads_before = h.Threads();
  REQUIRE(threads_before > 0);
  const long upstream_before = h.Metric("hmac_upstream_requests_total");
  constexpr int kConnections = 40;
  constexpr int kPerConnection = 20;
  std::mt19937 rng(20261206);
  std::vector<std::unique_ptr<RawConnection>> conns;
  std::vector<std::vector<std::pair<bool, std::string>>> sent(kConnections);  // signed?, body
  int signed_count = 0;
  for (int i = 0; i < kConnections; ++i) {
    conns.push_back(std::make_unique<RawConnection>(h.w->port()));
    REQUIRE(conns.back()->fd() >= 0);
    std::string burst;
    for (int k = 0; k < kPerConnection; ++k) {
      std::string body(1 + rng() % 4096, '\0');
      for (auto& ch : body) ch = static_cast<char>(rng() & 0xff);
      const bool is_signed = rng() % 4 != 0;
      signed_count += is_signed ? 1 : 0;
      burst += is_signed ? Signed("/c" + std::to_string(i), body)
                         : Forged("/c" + std::to_string(i), body);
      sent[i].emplace_back(is_signed, std::move(body));
    }
    REQUIRE(conns.back()->Send(burst));
  }
  long threads_peak = h.Threads();
  for (int i = 0; i < kConnections; ++i) {
    auto got = ReadResponses(*conns[i], kPerConnection);
    threads_peak = std::max(threads_peak, h.Threads());
    REQUIRE(got.size() == static_cast<std::size_t>(kPerConnection));
    for (int k = 0; k < kPerConnection; ++k) {
      const auto& [is_signed, body] = sent[i][k];
      if (!is_signed) {
        CHECK(got[k].status == 401);
        continue;
      }
      REQUIRE(got[k].status == 200);
      // The upstream echoes the head it received, then the body: the body arrived whole.
      REQUIRE(got[k].body.size() >= body.size());
      CHECK(Sha256Hex(std::string_view(got[k].body).substr(got[k].body.size() - body.size())) ==
            Sha256Hex(body));
      CHECK_THAT(got[k].body, Catch::StartsWith("method=POST\ntarget=/c" + std::to_string(i)));
      CHECK_THAT(got[k].body, Catch::Contains("X-Webhook-Verified: github"));
    }
    CHECK_FALSE(conns[i]->closed());
  }
  // Every signed request reached the function once; no forged one did.
  CHECK(h.Metric("hmac_upstream_requests_total") - upstream_before == signed_count);
  // Served by a worker each, 40 busy connections would have grown the pool past its eight
  // waiting workers; run on the loop, no thread is added.
  CHECK(threads_peak == threads_before);
}

namespace {

// Pipelined signed requests whose answers mix every way the loop and a worker share one:
// each arrives whole and in order, byte-exact.
void MixedAnswers(const HttpLoop& h, int rounds, unsigned seed) {
  struct Case {
    std::string target;
    int status;
    std::string body;  // expected exactly ("" with status 200: the echo is checked instead)
  };
  const std::vector<Case> kinds = {
      {"/big?bytes=300000", 200, BigBody(300000)},    // several reads on the loop
      {"/big?bytes=3000000", 200, BigBody(3000000)},  // streamed: a worker relays it
      {"/stream", 200, "chunk0\nchunk1\nchunk2\n"},   // chunked: a worker relays it
      {"/trickle?ms=150", 200, "0123456789"},         // the body in two parts
      {"/status/418", 418, "custom"},
      {"/interim", 200, "final"},               // a 103 first: a worker skips it
      {"/answer-then-close", 200, "answered"},  // the end of file with the answer
      {"/slow?ms=3000", 504, ""},               // exec_timeout (1 s): the loop hands it to a worker
      {"/echo", 200, ""},
  };
  std::mt19937 rng(seed);
  for (int round = 0; round < rounds; ++round) {
    constexpr int kConnections = 4;
    std::vector<std::unique_ptr<RawConnection>> conns;
    std::vector<std::vector<std::pair<std::size_t, std::string>>> plan(kConnections);
    for (int i = 0; i < kConnections; ++i) {
      conns.push_back(std::make_unique<RawConnection>(h.w->port()));
      REQUIRE(conns.back()->fd() >= 0);
      std::string burst;
      for (int k = 0; k < 6; ++k) {
        std::size_t kind = rng() % kinds.size();
        if (kinds[kind].status == 504 && rng() % 3 != 0) kind = kinds.size() - 1;  // rarer
        std::string body = "round " + std::to_string(round) + " item " + std::to_string(k);
        burst += Signed(kinds[kind].target, body);
        plan[i].emplace_back(kind, std::move(body));
      }
      // Sent in pieces of random size, so heads and bodies arrive split.
      for (std::size_t at = 0; at < burst.size();) {
        std::size_t n = std::min<std::size_t>(burst.size() - at, 1 + rng() % 700);
        REQUIRE(conns[i]->Send(burst.substr(at, n)));
        at += n;
      }
    }
    for (int i = 0; i < kConnections; ++i) {
      auto got = ReadResponses(*conns[i], plan[i].size(), 15s);
      REQUIRE(got.size() == plan[i].size());
      for (std::size_t k = 0; k < got.size(); ++k) {
        const Case& want = kinds[plan[i][k].first];
        INFO("round " << round << " connection " << i << " item " << k << ": " << want.target);
        REQUIRE(got[k].status == want.status);
        if (want.status == 504) continue;
        if (want.body.empty()) {
          CHECK_THAT(got[k].body, Catch::EndsWith("\n\n" + plan[i][k].second));
        } else {
          CHECK(got[k].body.size() == want.body.size());
          CHECK(Sha256Hex(got[k].body) == Sha256Hex(want.body));
        }
      }
    }
  }
  // After all that, a plain delivery still runs.
  RawConnection c(h.w->port());
  REQUIRE(c.Send(Signed("/after", "after")));
  auto got = ReadResponses(c, 1);
  REQUIRE(got.size() == 1);
  CHECK(got[0].status == 200);
}

}  // namespace

TEST_CASE(
    "http mode: large, streamed, trickled, slow and custom answers mixed on pipelined "
    "connections arrive whole and in order") {
  HttpLoop h(Env{{"exec_timeout", "1s"}});
  MixedAnswers(h, 3, 4242);
}

TEST_CASE("http mode: the mixed answers again, with the CPU made busy on purpose") {
  HttpLoop h(Env{{"exec_timeout", "1s"}});
  BusyCpu busy;
  MixedAnswers(h, 2, 777);
}

TEST_CASE(
    "http mode: a function that closes its connection after each answer never gets a POST on "
    "a closed one, whatever the timing") {
  // The loop reuses an idle connection without a poll when its last wait saw no end of file
  // on it; the end of file that comes with an answer, or one reported in the same turn as
  // the next request, must still keep a POST (never sent twice) off it.
  HttpLoop h;
  BusyCpu busy;
  const long upstream_before = h.Metric("hmac_upstream_requests_total");
  std::mt19937 rng(99);
  constexpr int kConnections = 3;
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < kConnections; ++i) {
    conns.push_back(std::make_unique<RawConnection>(h.w->port()));
    REQUIRE(conns.back()->fd() >= 0);
  }
  constexpr int kRequests = 300;
  for (int n = 0; n < kRequests; ++n) {
    RawConnection& c = *conns[rng() % kConnections];
    const bool closing = rng() % 2 == 0;
    const std::string body = "request " + std::to_string(n);
    REQUIRE(c.Send(Signed(closing ? "/answer-then-close" : "/echo", body)));
    auto got = ReadResponses(c, 1, 10s);
    INFO("request " << n << (closing ? " (answer-then-close)" : " (echo)"));
    REQUIRE(got.size() == 1);
    REQUIRE(got[0].status == 200);
    if (closing) {
      CHECK(got[0].body == "answered");
    } else {
      CHECK_THAT(got[0].body, Catch::EndsWith("\n\n" + body));
    }
    if (rng() % 4 == 0) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 500));
  }
  CHECK(h.Metric("hmac_upstream_requests_total") - upstream_before == kRequests);
}

TEST_CASE(
    "http mode: a duplicate delivery is answered on the loop without reaching the function, "
    "and a failed one runs again") {
  // The memory replay store; for github the signature itself is the key (its delivery id is
  // not signed).
  HttpLoop h(Env{{"hmac_replay_cache", "100"}});
  const long upstream_before = h.Metric("hmac_upstream_requests_total");
  RawConnection c(h.w->port());
  const std::string ok = Signed("/echo", "delivery one");
  const std::string failing = Signed("/status/500", "delivery two");
  REQUIRE(c.Send(ok + ok + failing + failing));
  auto got = ReadResponses(c, 4);
  REQUIRE(got.size() == 4);
  CHECK(got[0].status == 200);
  CHECK(got[1].status == 200);
  CHECK(got[1].Header("X-Webhook-Duplicate") == std::optional<std::string>("true"));
  CHECK(got[1].body.empty());
  CHECK(got[2].status == 500);
  CHECK(got[3].status == 500);  // released after the failure: the retry ran
  CHECK(h.Metric("hmac_upstream_requests_total") - upstream_before == 3);
}

TEST_CASE(
    "http mode: a lone client's requests are answered with the loop's poll before sleeping on "
    "and off, and an idle lone connection costs no CPU") {
  for (const char* spin : {"20", "0", "1000"}) {
    INFO("loop_spin_us=" << spin);
    HttpLoop h(Env{{"loop_spin_us", spin}});
    RawConnection c(h.w->port());
    for (int i = 0; i < 200; ++i) {
      const std::string body = "lone " + std::to_string(i);
      REQUIRE(c.Send(Signed("/echo", body)));
      auto got = ReadResponses(c, 1);
      REQUIRE(got.size() == 1);
      REQUIRE(got[0].status == 200);
      REQUIRE_THAT(got[0].body, Catch::EndsWith("\n" + body));
    }
    REQUIRE(c.Send(Forged("/echo", "forged")));
    auto forged = ReadResponses(c, 1);
    REQUIRE(forged.size() == 1);
    CHECK(forged[0].status == 401);
    // The connection stays open and idle: the loop must sleep, not poll on. 2 s of polling
    // would be about 2 s of CPU; sleeping costs the 100 ms tick's few microseconds. (The
    // watchdog's own process_cpu_seconds_total, read from /proc/self/stat.)
    const double before = MetricValue(*h.w, "process_cpu_seconds_total").value_or(-1);
    std::this_thread::sleep_for(2s);
    const double used = MetricValue(*h.w, "process_cpu_seconds_total").value_or(-1) - before;
    CHECK(before >= 0);
    CHECK(used >= 0);
    CHECK(used < 0.3);
  }
}
