// The function port served in process by the real HttpServer (front loop, workers,
// connection, pipeline) with a real verifier, a real forked function and real sockets on
// loopback: what a client sees, and what an attacker cannot make it do.
#include "server/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/unique_fd.h"
#include "config/config.h"
#include "executor/child_reaper.h"
#include "executor/factory.h"
#include "metrics/metrics.h"
#include "server/health.h"
#include "signature/verifier.h"
#include "support/openssl_signature.h"
#include "support/temp_dir.h"

namespace hw::server {
namespace {

using namespace std::chrono_literals;
constexpr const char* kSecret = "unit-secret";

// The watchdog of main.cc in miniature: github signatures, serializing mode running `script`
// (in which "DIR" stands for the test's own folder).
class InProcess {
 public:
  explicit InProcess(std::string script, config::Environment extra = {}) {
    REQUIRE(executor::StartReaper().ok());
    dir_.Write("secrets/webhook-secret", kSecret);
    for (auto at = script.find("DIR"); at != std::string::npos;
         at = script.find("DIR", at + dir_.path().size())) {
      script.replace(at, 3, dir_.path());
    }
    config::Environment env{{"mode", "serializing"},
                            {"fprocess", "sh -c '" + script + "'"},
                            {"hmac_scheme", "github"},
                            {"secrets_path", dir_.path() + "/secrets"},
                            {"port", "0"},
                            {"metrics_port", "0"},
                            {"read_timeout", "2s"},
                            {"write_timeout", "2s"},
                            {"exec_timeout", "5s"}};
    for (auto& [k, v] : extra) env[k] = v;
    auto loaded = config::Load(env, {});
    INFO((loaded.ok() ? std::string() : loaded.error().message));
    REQUIRE(loaded.ok());
    config_ = std::make_unique<config::Config>(std::move(*loaded));
    auto verifier =
        signature::Verifier::Create(config_->signature, std::make_shared<SystemClock>());
    REQUIRE(verifier.ok());
    verifier_ = std::move(*verifier);
    auto made = executor::MakeExecutor(*config_, &metrics_, [](std::string) {});
    REQUIRE(made.ok());
    executor_ = std::move(*made);
    REQUIRE(executor_->Start().ok());
    health_.SetFunctionReady();
    // As main.cc: the server receives its own options only.
    const config::ServerOptions& server_options = *config_;
    auto server = HttpServer::Create(
        ServerDeps{&server_options, verifier_.get(), executor_.get(), &metrics_, &health_});
    INFO((server.ok() ? std::string() : server.error().message));
    REQUIRE(server.ok());
    server_ = std::move(*server);
    serving_ = std::thread([this] { server_->Run(); });
    server_->WaitUntilReady();
  }
  ~InProcess() {
    server_->Stop();
    serving_.join();
  }
  int port() const { return server_->port(); }
  Health& health() { return health_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  test::TempDir dir_;
  std::unique_ptr<config::Config> config_;
  std::unique_ptr<signature::Verifier> verifier_;
  metrics::Metrics metrics_;
  std::unique_ptr<executor::Executor> executor_;
  Health health_{0};
  std::unique_ptr<HttpServer> server_;
  std::thread serving_;
};

UniqueFd Connect(int port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

void SendAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    REQUIRE(n > 0);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads until the server closes, `until` appears `count` times, or 10 s pass.
std::string ReadSome(int fd, std::string_view until = {}, int count = 1) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  char buf[4096];
  for (;;) {
    if (!until.empty()) {
      int seen = 0;
      for (std::size_t at = got.find(until); at != std::string::npos;
           at = got.find(until, at + 1)) {
        ++seen;
      }
      if (seen >= count) return got;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return got;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return got;
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return got;
    got.append(buf, static_cast<std::size_t>(n));
  }
}

std::string SignedPost(const std::string& body, const std::string& extra_headers = "") {
  return "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nX-Hub-Signature-256: " + test::OpenSslGithubSignature(kSecret, body) + "\r\n" +
         extra_headers + "\r\n" + body;
}

TEST_CASE("http server: a signed request reaches the function, a forged one never does") {
  InProcess wd("touch DIR/ran; cat");
  const std::string marker = wd.dir() + "/ran";
  {
    UniqueFd fd = Connect(wd.port());
    SendAll(fd.get(),
            "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n"
            "X-Hub-Signature-256: sha256=" +
                std::string(64, '0') + "\r\n\r\nforge");
    const std::string answer = ReadSome(fd.get());
    CHECK(answer.rfind("HTTP/1.1 401", 0) == 0);
  }
  CHECK_FALSE(std::filesystem::exists(marker));
  UniqueFd fd = Connect(wd.port());
  SendAll(fd.get(), SignedPost("hello", "Connection: close\r\n"));
  const std::string answer = ReadSome(fd.get());
  CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(answer.substr(answer.size() - 5) == "hello");
}

TEST_CASE("http server: pipelined requests on one connection are answered in order") {
  InProcess wd("cat");
  UniqueFd fd = Connect(wd.port());
  SendAll(fd.get(), SignedPost("first") + SignedPost("second") + SignedPost("third"));
  const std::string answers = ReadSome(fd.get(), "HTTP/1.1 200", 3);
  const auto first = answers.find("first");
  const auto second = answers.find("second");
  const auto third = answers.find("third");
  REQUIRE(third != std::string::npos);
  CHECK(first < second);
  CHECK(second < third);
}

TEST_CASE("http server: clients that send nothing or half a head do not block others") {
  InProcess wd("cat");
  std::vector<UniqueFd> idle;
  for (int i = 0; i < 50; ++i) idle.push_back(Connect(wd.port()));
  for (int i = 0; i < 50; ++i)
    SendAll(idle[static_cast<std::size_t>(i)].get(), "POST /hook HTTP/1.1\r\nHo");
  UniqueFd fd = Connect(wd.port());
  SendAll(fd.get(), SignedPost("served", "Connection: close\r\n"));
  const std::string answer = ReadSome(fd.get());
  CHECK(answer.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(answer.find("served") != std::string::npos);
}

TEST_CASE("http server: a half-sent head is cut at read_timeout") {
  InProcess wd("cat", {{"read_timeout", "500ms"}});
  UniqueFd fd = Connect(wd.port());
  SendAll(fd.get(), "POST /hook HTTP/1.1\r\nHost: x\r\n");
  const auto started = std::chrono::steady_clock::now();
  const std::string answer = ReadSome(fd.get());  // returns when the server closes
  CHECK(std::chrono::steady_clock::now() - started < 8s);
  CHECK((answer.empty() || answer.rfind("HTTP/1.1 408", 0) == 0));
}

TEST_CASE("http server: a body over max_body_bytes gets 413 before the function runs") {
  InProcess wd("touch DIR/ran; cat", {{"max_body_bytes", "1KiB"}});
  UniqueFd fd = Connect(wd.port());
  const std::string body(4096, 'a');
  SendAll(fd.get(), SignedPost(body, "Connection: close\r\n"));
  const std::string answer = ReadSome(fd.get());
  CHECK(answer.rfind("HTTP/1.1 413", 0) == 0);
  CHECK_FALSE(std::filesystem::exists(wd.dir() + "/ran"));
}

TEST_CASE("http server: health follows readiness and draining") {
  InProcess wd("cat");
  auto health = [&] {
    UniqueFd fd = Connect(wd.port());
    SendAll(fd.get(), "GET /_/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    return ReadSome(fd.get()).substr(0, 12);
  };
  CHECK(health() == "HTTP/1.1 200");
  wd.health().SetDraining();
  CHECK(health() == "HTTP/1.1 503");
}

}  // namespace
}  // namespace hw::server
