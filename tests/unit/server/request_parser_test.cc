// RequestParser (watchdog/server/request_parser.h): llhttp's framing as the transport sees it.
#include "server/request_parser.h"

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

using hw::server::ParseLimits;
using hw::server::RequestParser;
using Event = RequestParser::Event;

namespace {

// One request as the parser delivered it.
struct Parsed {
  std::string method, target, body;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = false;
};

struct Outcome {
  std::vector<Parsed> requests;
  int error_status = 0;
  bool operator==(const Outcome& o) const {
    if (requests.size() != o.requests.size() || error_status != o.error_status) return false;
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const auto& a = requests[i];
      const auto& b = o.requests[i];
      if (a.method != b.method || a.target != b.target || a.body != b.body ||
          a.headers != b.headers || a.keep_alive != b.keep_alive) {
        return false;
      }
    }
    return true;
  }
};

// Feeds `wire` in pieces cut at `cuts` (sorted offsets), as a transport would: what a step
// does not consume is offered again with the next piece.
Outcome ParseAll(const std::string& wire, std::vector<std::size_t> cuts = {},
                 ParseLimits limits = {}) {
  RequestParser parser(limits);
  Outcome out;
  std::string body;
  RequestParser::BodySink sink = [&](std::string_view b) {
    body.append(b);
    return true;
  };
  cuts.push_back(wire.size());
  std::size_t available = 0;  // bytes "received" so far
  std::size_t offset = 0;     // bytes consumed
  std::size_t next_cut = 0;
  while (true) {
    auto step = parser.Feed(std::string_view(wire).substr(offset, available - offset),
                            parser.in_body() ? &sink : nullptr);
    offset += step.consumed;
    if (step.event == Event::kError) {
      out.error_status = parser.error_status();
      return out;
    }
    if (step.event == Event::kHead) {
      Parsed p;
      p.method = parser.head().method;
      p.target = parser.head().target;
      for (const auto& h : parser.head().headers) p.headers.emplace_back(h.name, h.value);
      p.keep_alive = parser.head().keep_alive;
      out.requests.push_back(p);
      body.clear();
      continue;
    }
    if (step.event == Event::kMessageEnd) {
      out.requests.back().body = body;
      continue;
    }
    if (next_cut >= cuts.size()) return out;  // kNeedMore with nothing left
    available = cuts[next_cut++];
  }
}

}  // namespace

TEST_CASE("request parser: a GET without a body is complete with its head") {
  auto out = ParseAll("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-A:  v  \r\n\r\n");
  REQUIRE(out.error_status == 0);
  REQUIRE(out.requests.size() == 1);
  CHECK(out.requests[0].method == "GET");
  CHECK(out.requests[0].target == "/a?b=1");
  CHECK(out.requests[0].headers ==
        std::vector<std::pair<std::string, std::string>>{{"Host", "x"}, {"X-A", "v"}});
  CHECK(out.requests[0].keep_alive);
}

TEST_CASE("request parser: Content-Length and chunked bodies are delivered decoded") {
  auto out = ParseAll(
      "POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
      "POST /2 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n"
      "GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  REQUIRE(out.error_status == 0);
  REQUIRE(out.requests.size() == 3);
  CHECK(out.requests[0].body == "hello");
  CHECK(out.requests[1].body == "abcde");
  CHECK(out.requests[2].target == "/3");
  CHECK_FALSE(out.requests[2].keep_alive);
}

TEST_CASE("request parser: the same bytes cut anywhere give the same requests") {
  const std::string wire =
      "POST /hook HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=ab\r\n"
      "Content-Length: 11\r\n\r\nhello world"
      "PUT /c HTTP/1.1\r\nHost: y\r\nTransfer-Encoding: chunked\r\n\r\n"
      "1\r\nA\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n"
      "GET /end HTTP/1.0\r\n\r\n";
  const auto whole = ParseAll(wire);
  REQUIRE(whole.requests.size() == 3);
  CHECK_FALSE(whole.requests[2].keep_alive);  // HTTP/1.0 without keep-alive
  for (std::size_t cut = 1; cut < wire.size(); ++cut) {
    INFO("cut at " << cut);
    CHECK(ParseAll(wire, {cut}) == whole);
  }
  std::mt19937 rng(12345);
  for (int round = 0; round < 300; ++round) {
    std::vector<std::size_t> cuts;
    std::uniform_int_distribution<std::size_t> pos(1, wire.size() - 1);
    for (int i = 0; i < 8; ++i) cuts.push_back(pos(rng));
    std::sort(cuts.begin(), cuts.end());
    CHECK(ParseAll(wire, cuts) == whole);
  }
}

TEST_CASE("request parser: smuggling shapes are refused with 400") {
  CHECK(ParseAll("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            .error_status == 400);
  CHECK(ParseAll("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
            .error_status == 400);
  CHECK(ParseAll("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n").error_status ==
        400);
  CHECK(ParseAll("POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello").error_status ==
        400);
  CHECK(ParseAll(std::string("GET / HTTP/1.1\r\nX-Bad: a\0b\r\n\r\n", 30)).error_status == 400);
  CHECK(ParseAll("GET / HTTP/1.1\r\nX-Fold: a\r\n b\r\n\r\n").error_status == 400);
  CHECK(ParseAll("GET / HTTP/1.1\nHost: x\n\n").error_status == 400);
}

TEST_CASE("request parser: limits answer 414, 431, 413 and 505") {
  ParseLimits limits;
  limits.max_target_bytes = 100;
  limits.max_head_bytes = 1000;
  limits.max_header_count = 5;
  limits.max_header_bytes = 300;
  limits.max_body_bytes = 1000;
  CHECK(ParseAll("GET /" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n", {}, limits).error_status ==
        414);
  std::string many = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 6; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
  CHECK(ParseAll(many + "\r\n", {}, limits).error_status == 431);
  CHECK(ParseAll("GET / HTTP/1.1\r\nX: " + std::string(400, 'v') + "\r\n\r\n", {}, limits)
            .error_status == 431);
  std::string big = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 4; ++i)
    big += "X-" + std::to_string(i) + ": " + std::string(280, 'v') + "\r\n";
  CHECK(ParseAll(big + "\r\n", {}, limits).error_status == 431);
  // The chunk size alone is over the limit: refused before a byte of it is read.
  CHECK(ParseAll("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\nabc", {},
                 limits)
            .error_status == 413);
  CHECK(ParseAll("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n" +
                     std::string(1000, 'a') + "\r\n1\r\nb\r\n0\r\n\r\n",
                 {}, limits)
            .error_status == 413);
  CHECK(ParseAll("GET / HTTP/2.0\r\n\r\n").error_status == 505);
}

TEST_CASE("request parser: a sink that stops ends parsing") {
  RequestParser parser({});
  const std::string wire = "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd";
  auto step = parser.Feed(wire);
  REQUIRE(step.event == Event::kHead);
  RequestParser::BodySink refuse = [](std::string_view) { return false; };
  auto body = parser.Feed(std::string_view(wire).substr(step.consumed), &refuse);
  CHECK(body.event == Event::kError);
  CHECK(parser.sink_stopped());
  CHECK(parser.Feed("GET / HTTP/1.1\r\n\r\n").event == Event::kError);
}

TEST_CASE("request parser: Expect: 100-continue and keep-alive of HTTP/1.0 are read") {
  RequestParser parser({});
  auto step = parser.Feed("POST / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n");
  REQUIRE(step.event == Event::kHead);
  CHECK(parser.head().expect_continue);
  CHECK(parser.head().has_body);
  RequestParser old({});
  REQUIRE(old.Feed("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").event == Event::kHead);
  CHECK(old.head().keep_alive);
  CHECK(old.head().version_minor == 0);
  CHECK_FALSE(old.head().has_body);
}
