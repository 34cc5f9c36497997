// http mode's upstream client against a real server on loopback that the test scripts byte by
// byte: what it forwards, and what it does when the function answers garbage, closes in the
// middle of a response, lies about its length or says nothing at all.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/body.h"
#include "common/unique_fd.h"
#include "config/upstream_address.h"
#include "executor/upstream_client.h"
#include "scripted_upstream.h"

namespace hw::executor {
namespace {

using namespace std::chrono_literals;

using testing::Replies;
using testing::ScriptedUpstream;

struct Exchange {
  Status sent = Ok{};
  Expected<ResponseHead> head = Error{"not read"};
  bool body_ok = false;
  std::string body;
  UpstreamFailure failure = UpstreamFailure::kNone;
  bool received_anything = false;
};

Exchange Run(int port, std::string_view method = "POST", std::string_view body_bytes = "hello",
             std::vector<Header> headers = {{"Content-Type", "text/plain"}},
             std::chrono::milliseconds timeout = 5s) {
  auto address =
      config::ParseUpstreamUrl("upstream_url", "http://127.0.0.1:" + std::to_string(port));
  REQUIRE(address.ok());
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  UpstreamFailure failure = UpstreamFailure::kNone;
  auto connection = UpstreamConnection::Open(*address, deadline, &failure);
  REQUIRE(connection.ok());
  Body body(1 << 20, "/tmp");
  REQUIRE(body.Append(body_bytes).ok());
  Exchange exchange;
  connection->BeginExchange();
  exchange.sent = connection->SendRequest(method, "/fn?x=1", headers, body, *address, deadline);
  if (exchange.sent.ok()) {
    exchange.head = connection->ReadHead(method == "HEAD", deadline);
    if (exchange.head.ok()) {
      exchange.body_ok = connection->ReadBody(*exchange.head, deadline, [&](std::string_view c) {
        exchange.body.append(c);
        return true;
      });
    }
  }
  exchange.failure = connection->failure();
  exchange.received_anything = connection->received_anything();
  return exchange;
}

TEST_CASE("upstream client: forwards the request as received, hop-by-hop headers removed") {
  ScriptedUpstream upstream(Replies("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Fn: yes\r\n\r\nok"));
  const Exchange exchange = Run(upstream.port(), "POST", "hello",
                                {{"Content-Type", "text/plain"},
                                 {"Connection", "close"},
                                 {"Transfer-Encoding", "chunked"},
                                 {"Content-Length", "999"},
                                 {"X-Hub-Signature-256", "sha256=abc"}});
  REQUIRE(exchange.head.ok());
  CHECK(exchange.head->status == 200);
  CHECK(exchange.body_ok);
  CHECK(exchange.body == "ok");
  bool fn_header = false;
  for (const Header& h : exchange.head->headers) fn_header |= h.name == "X-Fn" && h.value == "yes";
  CHECK(fn_header);
  const std::string sent = upstream.LastRequest();
  CHECK(sent.rfind("POST /fn?x=1 HTTP/1.1\r\n", 0) == 0);
  CHECK_THAT(sent, Catch::Contains("\r\nContent-Length: 5\r\n"));
  CHECK_THAT(sent, Catch::Contains("\r\nX-Hub-Signature-256: sha256=abc\r\n"));
  CHECK_THAT(sent, !Catch::Contains("999"));
  CHECK_THAT(sent, !Catch::Contains("chunked"));
  CHECK(sent.substr(sent.size() - 5) == "hello");
}

TEST_CASE("upstream client: garbage instead of a status line is an error, not a response") {
  for (const char* garbage :
       {"HELLO WORLD\r\n\r\n", "HTTP/1.1 abc OK\r\n\r\n", "HTTP/1.1 999 Nope\r\n\r\n",
        "SSH-2.0-OpenSSH_9.2\r\n", "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n"}) {
    INFO(garbage);
    ScriptedUpstream upstream(Replies(garbage));
    const Exchange exchange = Run(upstream.port());
    CHECK_FALSE(exchange.head.ok());
    CHECK(exchange.failure == UpstreamFailure::kBroken);
  }
}

TEST_CASE("upstream client: a response head that never ends is refused, not buffered") {
  std::string endless = "HTTP/1.1 200 OK\r\nX-Long: ";
  endless.append(1 << 20, 'a');  // one header line of 1 MiB
  ScriptedUpstream upstream(Replies(endless));
  const Exchange exchange = Run(upstream.port());
  CHECK_FALSE(exchange.head.ok());
}

TEST_CASE("upstream client: a function that closes mid-body fails the body, not silently ends") {
  SECTION("Content-Length promised, fewer bytes sent") {
    ScriptedUpstream upstream(Replies("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b"));
    const Exchange exchange = Run(upstream.port());
    REQUIRE(exchange.head.ok());
    CHECK_FALSE(exchange.body_ok);
    CHECK(exchange.body == "only ten b");
    CHECK(exchange.failure == UpstreamFailure::kBroken);
  }
  SECTION("chunked, cut before the last chunk") {
    ScriptedUpstream upstream(
        Replies("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3\r\nwo"));
    const Exchange exchange = Run(upstream.port());
    REQUIRE(exchange.head.ok());
    CHECK_FALSE(exchange.body_ok);
  }
  SECTION("chunked, a chunk size that is not hex") {
    ScriptedUpstream upstream(
        Replies("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"));
    const Exchange exchange = Run(upstream.port());
    REQUIRE(exchange.head.ok());
    CHECK_FALSE(exchange.body_ok);
  }
  SECTION("closed before any byte of the response") {
    ScriptedUpstream upstream([](int, const std::string&) {});
    const Exchange exchange = Run(upstream.port());
    CHECK_FALSE(exchange.head.ok());
    CHECK_FALSE(exchange.received_anything);  // so a retry on a new connection is safe
  }
}

TEST_CASE("upstream client: a body until close and a chunked body arrive whole") {
  SECTION("until close") {
    ScriptedUpstream upstream(Replies("HTTP/1.0 200 OK\r\n\r\nall of it"));
    const Exchange exchange = Run(upstream.port());
    REQUIRE(exchange.head.ok());
    CHECK(exchange.body_ok);
    CHECK(exchange.body == "all of it");
  }
  SECTION("chunked") {
    ScriptedUpstream upstream(
        Replies("HTTP/1.1 201 Created\r\nTransfer-Encoding: "
                "chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"));
    const Exchange exchange = Run(upstream.port());
    REQUIRE(exchange.head.ok());
    CHECK(exchange.head->status == 201);
    CHECK(exchange.body_ok);
    CHECK(exchange.body == "hello!");
  }
}

TEST_CASE("upstream client: a silent function runs into the deadline") {
  // The server holds the connection open without answering until the client gives up.
  ScriptedUpstream upstream([](int fd, const std::string&) {
    char byte;
    (void)::read(fd, &byte, 1);  // returns when the client closes
  });
  const auto started = std::chrono::steady_clock::now();
  const Exchange exchange = Run(upstream.port(), "POST", "hello", {}, 300ms);
  CHECK_FALSE(exchange.head.ok());
  CHECK(exchange.failure == UpstreamFailure::kTimeout);
  CHECK(std::chrono::steady_clock::now() - started < 10s);
}

TEST_CASE("upstream client: a port nobody listens on is refused") {
  int port = 0;
  {
    ScriptedUpstream closed(
        [](int, const std::string&) {});  // listens, then closes its port when it goes
    port = closed.port();
  }
  auto address =
      config::ParseUpstreamUrl("upstream_url", "http://127.0.0.1:" + std::to_string(port));
  REQUIRE(address.ok());
  UpstreamFailure failure = UpstreamFailure::kNone;
  auto connection =
      UpstreamConnection::Open(*address, std::chrono::steady_clock::now() + 5s, &failure);
  CHECK_FALSE(connection.ok());
  CHECK(failure == UpstreamFailure::kRefused);
}

}  // namespace
}  // namespace hw::executor

TEST_CASE("upstream client: exactly the hop-by-hop header names are hop-by-hop, in any case") {
  const std::vector<std::string> hop = {"Connection",
                                        "Keep-Alive",
                                        "Proxy-Connection",
                                        "TE",
                                        "Trailer",
                                        "Transfer-Encoding",
                                        "Upgrade",
                                        "Proxy-Authenticate",
                                        "Proxy-Authorization",
                                        "HTTP2-Settings"};
  for (std::string name : hop) {
    CHECK(hw::executor::IsHopByHop(name));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    CHECK(hw::executor::IsHopByHop(name));
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(hw::executor::IsHopByHop(name));
    // One letter more, one less, or one changed: not hop-by-hop.
    CHECK_FALSE(hw::executor::IsHopByHop(name + "S"));
    CHECK_FALSE(hw::executor::IsHopByHop(name.substr(1)));
    name.back() = name.back() == 'X' ? 'Y' : 'X';
    CHECK_FALSE(hw::executor::IsHopByHop(name));
  }
  // End-to-end headers of every length from 0 to 40, as a sender names them.
  for (std::string_view name :
       {"", "A", "Host", "Accept", "User-Agent", "Content-Type", "Content-Length",
        "X-Hub-Signature-256", "X-GitHub-Delivery", "Authorization", "X-Forwarded-For",
        "Content-Encoding", "X-Very-Long-Custom-Header-Name-Of-Forty-B"}) {
    CHECK_FALSE(hw::executor::IsHopByHop(name));
  }
}
