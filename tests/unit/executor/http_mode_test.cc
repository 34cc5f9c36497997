// http mode's executor as main.cc builds it (config::Load, MakeExecutor), with a real
// long-running fprocess and a real upstream on loopback played by the test: answers are
// relayed, and a function that answers garbage, closes mid-response, is silent or dies is a
// clear 502/504 or a cut stream, never a made-up success.
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/body.h"
#include "config/config.h"
#include "executor/child_reaper.h"
#include "executor/executor.h"
#include "executor/factory.h"
#include "metrics/metrics.h"
#include "scripted_upstream.h"
#include "support/eventually.h"

namespace hw::executor {
namespace {

using testing::Replies;
using testing::ScriptedUpstream;

struct HttpMode {
  config::Config config;
  metrics::Metrics metrics;
  std::atomic<int> fatal{0};
  std::unique_ptr<Executor> executor;
  ~HttpMode() {
    if (executor) executor->Shutdown();
  }
};

std::unique_ptr<HttpMode> Make(const std::string& upstream_url, config::Environment extra = {}) {
  REQUIRE(StartReaper().ok());
  config::Environment env{{"mode", "http"},
                          {"fprocess", "sleep 60"},
                          {"upstream_url", upstream_url},
                          {"exec_timeout", "5s"},
                          {"write_timeout", "1s"}};
  for (auto& [k, v] : extra) env[k] = v;
  auto loaded = config::Load(env, {});
  INFO((loaded.ok() ? std::string() : loaded.error().message));
  REQUIRE(loaded.ok());
  auto mode = std::make_unique<HttpMode>();
  mode->config = std::move(*loaded);
  HttpMode* raw = mode.get();
  auto made = MakeExecutor(mode->config, &mode->metrics, [raw](std::string) { ++raw->fatal; });
  REQUIRE(made.ok());
  mode->executor = std::move(*made);
  const Status started = mode->executor->Start();
  INFO((started.ok() ? std::string() : started.error().message));
  REQUIRE(started.ok());
  return mode;
}

struct Answer {
  int status = 0;
  std::string body;
  bool complete = true;
};

// The function's response as Invoke returns it (how == nullptr), or begun without waiting
// (Executor::Start) and carried on as the front loop does: Advance whenever the connection is
// readable, a worker's Finish when Advance says so or when exec_timeout has passed; then
// `how` tells which way it ended ("loop" or "worker").
FunctionResponse Respond(Executor& executor, const FunctionRequest& request, std::string* how) {
  if (how == nullptr) return executor.Invoke(request);
  std::unique_ptr<PendingInvocation> invocation = executor.Start(request, nullptr);
  REQUIRE(invocation != nullptr);  // loopback connects at once
  REQUIRE(invocation->sent());
  *how = "worker";
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        invocation->deadline() - std::chrono::steady_clock::now());
    pollfd p{invocation->fd(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count()) + 1) <= 0) {
      return invocation->Finish(request);  // the deadline: a worker answers
    }
    const auto progress = invocation->Advance();
    if (progress == PendingInvocation::Progress::kWaiting) continue;
    if (progress == PendingInvocation::Progress::kNeedsWorker) return invocation->Finish(request);
    *how = "loop";
    return invocation->TakeResponse();
  }
}

Answer Call(Executor& executor, std::string* how = nullptr, std::string method = "POST",
            std::string body_bytes = "ping") {
  Body body(1 << 20, "/tmp");
  REQUIRE(body.Append(body_bytes).ok());
  const std::vector<Header> headers{{"Content-Type", "text/plain"}};
  const FunctionRequest request{method, "/fn", "/fn?a=1", "a=1", "127.0.0.1", headers, body};
  FunctionResponse response = Respond(executor, request, how);
  Answer answer{response.status, response.body};
  if (response.stream) {
    answer.complete = response.stream->Pump([&](std::string_view chunk) {
      answer.body.append(chunk);
      return true;
    });
  }
  return answer;
}

TEST_CASE("http mode begun without waiting: answers whole on the loop, the rest by a worker") {
  std::string how;
  SECTION("a whole answer, in one piece or in two: the loop") {
    ScriptedUpstream upstream([](int fd, const std::string&) {
      testing::Send(fd, "HTTP/1.1 418 Teapot\r\nContent-Le");
      ::usleep(30'000);
      testing::Send(fd, "ngth: 5\r\nX-A: b\r\n\r\nsho");
      ::usleep(30'000);
      testing::Send(fd, "rt");
    });
    auto mode = Make(upstream.url());
    const Answer answer = Call(*mode->executor, &how);
    CHECK(answer.status == 418);
    CHECK(answer.body == "short");
    CHECK(how == "loop");
    const std::string sent = upstream.LastRequest();
    CHECK(sent.rfind("POST /fn?a=1 HTTP/1.1\r\n", 0) == 0);
    CHECK(sent.substr(sent.size() - 4) == "ping");
  }
  SECTION("garbage: 502 on the loop") {
    ScriptedUpstream upstream(Replies("this is not HTTP\r\n\r\n"));
    auto mode = Make(upstream.url());
    CHECK(Call(*mode->executor, &how).status == 502);
  }
  SECTION("cut inside the body: 502 from the worker, never a success") {
    ScriptedUpstream upstream(Replies("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf"));
    auto mode = Make(upstream.url());
    CHECK(Call(*mode->executor, &how).status == 502);
    CHECK(how == "worker");
  }
  SECTION("chunked: streamed by the worker") {
    ScriptedUpstream upstream(
        Replies("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhalf\r\n0\r\n\r\n"));
    auto mode = Make(upstream.url());
    const Answer answer = Call(*mode->executor, &how);
    CHECK(answer.status == 200);
    CHECK(answer.body == "half");
    CHECK(answer.complete);
    CHECK(how == "worker");
  }
  SECTION("an interim 100 first: the worker skips it") {
    ScriptedUpstream upstream(
        Replies("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"));
    auto mode = Make(upstream.url());
    const Answer answer = Call(*mode->executor, &how);
    CHECK(answer.status == 200);
    CHECK(answer.body == "ok");
  }
  SECTION("closed before the head: 502, and a POST is not sent twice") {
    ScriptedUpstream upstream([](int, const std::string&) {});
    auto mode = Make(upstream.url());
    CHECK(Call(*mode->executor, &how).status == 502);
    CHECK(upstream.Requests() == 1);
  }
  SECTION("silent past exec_timeout: 504") {
    ScriptedUpstream upstream([](int fd, const std::string&) {
      char byte;
      (void)::read(fd, &byte, 1);
    });
    auto mode = Make(upstream.url(), {{"exec_timeout", "300ms"}});
    CHECK(Call(*mode->executor, &how).status == 504);
  }
}

TEST_CASE("http mode relays the function's status and body, the request as sent") {
  ScriptedUpstream upstream(Replies("HTTP/1.1 418 Teapot\r\nContent-Length: 5\r\n\r\nshort"));
  auto mode = Make(upstream.url());
  const Answer answer = Call(*mode->executor);
  CHECK(answer.status == 418);
  CHECK(answer.body == "short");
  const std::string sent = upstream.LastRequest();
  CHECK(sent.rfind("POST /fn?a=1 HTTP/1.1\r\n", 0) == 0);
  CHECK(sent.substr(sent.size() - 4) == "ping");
}

TEST_CASE("http mode answers 502 when the function answers garbage") {
  ScriptedUpstream upstream(Replies("this is not HTTP\r\n\r\n"));
  auto mode = Make(upstream.url());
  const Answer answer = Call(*mode->executor);
  CHECK(answer.status == 502);
  CHECK(answer.body.find("not HTTP") == std::string::npos);
}

TEST_CASE("http mode never turns a cut response into a success") {
  SECTION("cut inside a body it buffers: 502") {
    ScriptedUpstream upstream(Replies("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhalf"));
    auto mode = Make(upstream.url());
    CHECK(Call(*mode->executor).status == 502);
  }
  SECTION("cut inside a body it streams: the stream fails") {
    ScriptedUpstream upstream(
        Replies("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nhalf\r\n"));
    auto mode = Make(upstream.url());
    const Answer answer = Call(*mode->executor);
    CHECK(answer.status == 200);
    CHECK(answer.body == "half");
    CHECK_FALSE(answer.complete);
  }
  SECTION("closed before the head: 502, and a POST is not sent twice") {
    ScriptedUpstream upstream([](int, const std::string&) {});
    auto mode = Make(upstream.url());
    CHECK(Call(*mode->executor).status == 502);
    CHECK(upstream.Requests() == 1);
  }
}

TEST_CASE("http mode answers 504 when the function is silent past exec_timeout") {
  ScriptedUpstream upstream([](int fd, const std::string&) {
    char byte;
    (void)::read(fd, &byte, 1);  // holds the connection until the watchdog gives up
  });
  auto mode = Make(upstream.url(), {{"exec_timeout", "300ms"}});
  CHECK(Call(*mode->executor).status == 504);
}

TEST_CASE("http mode answers 502 when nothing listens at upstream_url any more") {
  auto upstream = std::make_unique<ScriptedUpstream>(Replies("HTTP/1.1 200 OK\r\n\r\n"));
  auto mode = Make(upstream->url());
  upstream->Close();
  CHECK(Call(*mode->executor).status == 502);
}

TEST_CASE("http mode reports the function process's death as fatal") {
  ScriptedUpstream upstream(Replies("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
  auto mode = Make(upstream.url(), {{"fprocess", "sh -c 'exit 7'"}});
  CHECK(test::Eventually([&] { return mode->fatal.load() > 0; }));
}

}  // namespace
}  // namespace hw::executor
