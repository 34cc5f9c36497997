// The function port: the front loop (front_loop.h) holds connections until a request head
// has arrived and answers what needs no waiting (ServeOnLoop: health, forged signatures);
// a worker serves the connection (connection.h) until it goes idle, then the loop holds it
// again. Metrics are on their own port (metrics_endpoint.h).
#include "server/http_server.h"

#include <netinet/in.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/unique_fd.h"
#include "logging/log.h"
#include "metrics/metrics.h"
#include "replay/store.h"
#include "server/connection.h"
#include "server/front_loop.h"
#include "server/health.h"
#include "server/metrics_endpoint.h"
#include "server/pipeline.h"
#include "server/worker_pool.h"

namespace hw::server {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kListenBacklog = 1024;
// Limits of README "Limits" that are not configuration keys.
constexpr std::size_t kMaxTargetBytes = 16 * 1024;
constexpr std::size_t kMaxHeaderCount = 256;
constexpr std::size_t kMaxHeaderLineBytes = 64 * 1024;

// A listening TCP socket on every address: IPv6 with IPv4 mapped when the host has IPv6,
// else IPv4. SO_REUSEADDR only (never SO_REUSEPORT: a second process could then bind the
// same port and silently take half of the connections). Port 0 takes a free port.
Expected<int> Listen(int port) {
  int last_errno = 0;
  for (int family : {AF_INET6, AF_INET}) {
    UniqueFd fd(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
      last_errno = errno;
      continue;
    }
    int yes = 1;
    int no = 0;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (family == AF_INET6) {
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &no, sizeof no);
      auto* a6 = reinterpret_cast<sockaddr_in6*>(&addr);
      a6->sin6_family = AF_INET6;
      a6->sin6_addr = in6addr_any;
      a6->sin6_port = htons(static_cast<std::uint16_t>(port));
      len = sizeof(sockaddr_in6);
    } else {
      auto* a4 = reinterpret_cast<sockaddr_in*>(&addr);
      a4->sin_family = AF_INET;
      a4->sin_addr.s_addr = htonl(INADDR_ANY);
      a4->sin_port = htons(static_cast<std::uint16_t>(port));
      len = sizeof(sockaddr_in);
    }
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd.get(), kListenBacklog) != 0) {
      last_errno = errno;
      if (last_errno == EADDRINUSE) break;  // the other family would hide the real problem
      continue;
    }
    return fd.release();
  }
  return Error{fmt::format("cannot listen on port {} (port): {}", port, std::strerror(last_errno))};
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return -1;
  if (addr.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

// Front loops: one per CPU this process may run on, at most 4 (a few loops already keep a small
// machine busy; more only divide the connections thinner).
std::size_t LoopCount() {
  constexpr std::size_t kMaxLoops = 4;
  cpu_set_t set;
  CPU_ZERO(&set);
  std::size_t cpus = 1;
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    cpus = static_cast<std::size_t>(CPU_COUNT(&set));
  }
  return std::clamp<std::size_t>(cpus, 1, kMaxLoops);
}

// Idle and half-open connections cost a descriptor each and nothing else: take the hard
// limit, as Go programs (of-watchdog) do at startup.
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(const ServerDeps& deps)
      : deps_(deps),
        cfg_(*deps.options),
        pipeline_(cfg_, *deps.verifier, *deps.executor, *deps.metrics, *deps.health, deps.auth) {
    ParseLimits limits;
    limits.max_target_bytes = kMaxTargetBytes;
    limits.max_head_bytes = cfg_.max_header_bytes;
    limits.max_header_count = kMaxHeaderCount;
    limits.max_header_bytes = kMaxHeaderLineBytes;
    limits.max_body_bytes = cfg_.max_body_bytes;
    services_ = ConnectionServices{&pipeline_,         deps.health, deps.metrics, cfg_.read_timeout,
                                   cfg_.write_timeout, limits,      &stopping_,   &cut_streams_};
    services_.loop_invokes = pipeline_.DecidesOnLoop() && deps.executor->StartsWithoutWaiting();
  }
  ~Impl() {
    if (workers_) workers_->Shutdown();
  }

  Status Bind();
  void Run();
  void Stop();
  void WaitUntilReady() {
    for (auto& loop : loops_) {
      while (!loop->running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  int port() const { return port_; }
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }

 private:
  void Dispatch(ClientConnection&& c);

  ServerDeps deps_;
  const config::ServerOptions& cfg_;
  Pipeline pipeline_;
  ConnectionServices services_{};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> cut_streams_{false};
  int port_ = 0;
  std::unique_ptr<MetricsEndpoint> metrics_;
  // One front loop per CPU (at most 4), each with its own epoll and thread; the first one
  // accepts.
  // Each loop's lanes, by loop: Executor::NewLane's (null when the executor needs none),
  // which outlives the loops, whose held requests may still point at it; and the replay
  // store's (null without Redis), which the loop's thread alone uses.
  struct Lanes {
    std::unique_ptr<executor::InvocationLane> invocations;
    std::unique_ptr<replay::StoreLane> store;
    ParserPool parsers;
    std::string response_buffer;
    LoopLanes lent;  // what the loop lends ServeOnLoop
  };
  std::vector<std::unique_ptr<Lanes>> lanes_;
  std::vector<std::unique_ptr<FrontLoop>> loops_;
  std::vector<std::thread> loop_threads_;
  std::unique_ptr<WorkerPool> workers_;
};

Status HttpServer::Impl::Bind() {
  auto fd = Listen(cfg_.port);
  if (!fd) return fd.error();
  port_ = BoundPort(*fd);
  if (cfg_.metrics_port != 0) {
    auto metrics = MetricsEndpoint::Bind(cfg_.metrics_port, *deps_.metrics);
    if (!metrics) {
      ::close(*fd);
      return metrics.error();
    }
    metrics_ = std::move(*metrics);
  }
  RaiseDescriptorLimit();
  // Workers serve connections whose request head is complete: eight wait from the start,
  // more are made as requests arrive (up to max_connections) and leave after 10 idle
  // seconds. Connections still waiting for a head cost no worker: the front loop holds them.
  const auto max_conn = static_cast<std::size_t>(cfg_.max_connections);
  workers_ = std::make_unique<WorkerPool>(WorkerPool::Options{
      std::min<std::size_t>(max_conn, 8), max_conn, max_conn * 4, std::chrono::seconds(10)});
  FrontLoop::Options options{cfg_.read_timeout, cfg_.keepalive_timeout,
                             cfg_.max_header_bytes + kMaxTargetBytes,
                             std::chrono::microseconds(cfg_.loop_spin_us)};
  // The first loop accepts and deals new connections out to every loop in turn; each loop
  // then serves its connections on its own thread.
  const std::size_t count = LoopCount();
  for (std::size_t i = 0; i < count; ++i) {
    FrontLoop::Place place = nullptr;
    if (i == 0 && count > 1) {
      // Round robin over the loops, this one included; each loop's share of a batch is
      // handed over at once.
      place = [this, next = std::size_t{0}, shares = std::vector<std::vector<ClientConnection>>()](
                  std::vector<ClientConnection>& accepted) mutable {
        shares.resize(loops_.size());
        for (auto& c : accepted) shares[next++ % shares.size()].push_back(std::move(c));
        accepted.clear();
        for (std::size_t l = 0; l < shares.size(); ++l) loops_[l]->ReturnAll(shares[l]);
      };
    }
    Lanes* lanes = lanes_.emplace_back(std::make_unique<Lanes>()).get();
    lanes->invocations = deps_.executor->NewLane();
    lanes->store = deps_.verifier->NewStoreLane([this, i](int lane_fd, replay::Interest interest) {
      return loops_[i]->Watch(lane_fd, interest != replay::Interest::kNone,
                              interest == replay::Interest::kReadWrite);
    });
    lanes->lent.invocations = lanes->invocations.get();
    lanes->lent.store = lanes->store.get();
    lanes->lent.ready = [this, i](int client_fd) { loops_[i]->Ready(client_fd); };
    lanes->lent.parsers = &lanes->parsers;
    lanes->lent.response_buffer = &lanes->response_buffer;
    FrontLoop::Stray stray = [lanes](int stray_fd) {
      if (lanes->store && stray_fd == lanes->store->fd()) {
        lanes->store->OnReadable();
        return true;
      }
      return lanes->invocations && lanes->invocations->OnIdleReadable(stray_fd);
    };
    FrontLoop::Tick tick = nullptr;
    if (lanes->store) tick = [lanes] { lanes->store->Expire(); };
    auto loop = FrontLoop::Create(
        i == 0 ? *fd : -1, options, [this](ClientConnection&& c) { Dispatch(std::move(c)); },
        std::move(tick),
        [this, lanes](ClientConnection& c) {
          return ServeOnLoop(c, services_, lanes->lent) == LoopServed::kKeep
                     ? FrontLoop::Served::kKeep
                     : FrontLoop::Served::kDispatch;
        },
        std::move(place), std::move(stray));
    if (!loop) {
      if (i == 0) ::close(*fd);
      return loop.error();
    }
    if (lanes->store) (*loop)->SetBeforeWait([lanes] { lanes->store->Flush(); });
    if (lanes->invocations) {
      (*loop)->SetAfterWait([lanes](bool complete) { lanes->invocations->Waited(complete); });
    }
    loops_.push_back(std::move(*loop));
  }
  return Ok{};
}

void HttpServer::Impl::Dispatch(ClientConnection&& c) {
  auto shared = std::make_shared<ClientConnection>(std::move(c));
  bool queued = workers_->Submit([this, shared] {
    if (ServeConnection(*shared, services_) == AfterServe::kKeep) {
      // Back to a loop (closed at once when the loops stopped accepting).
      const int fd = shared->fd;
      loops_[static_cast<std::size_t>(fd) % loops_.size()]->Return(std::move(*shared));
    }
  });
  if (!queued) {
    // Every worker busy and the queue full: say so rather than leave it waiting.
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n"
        "X-OpenFaaS-Internal: hmac-watchdog\r\nConnection: close\r\n\r\n";
    [[maybe_unused]] auto n = ::send(shared->fd, kBusy.data(), kBusy.size(), MSG_NOSIGNAL);
    ::close(shared->fd);
    log::Warn("503: every worker busy and max_connections requests queued");
  }
}

void HttpServer::Impl::Run() {
  if (metrics_) metrics_->Start();
  // Each loop's thread settles replay claims through its own lane (replay::CurrentLoopLane).
  auto run = [this](std::size_t i) {
    replay::SetCurrentLoopLane(lanes_[i]->store.get());
    loops_[i]->Run();
    replay::SetCurrentLoopLane(nullptr);
  };
  for (std::size_t i = 1; i < loops_.size(); ++i) loop_threads_.emplace_back(run, i);
  run(0);
  for (auto& t : loop_threads_) t.join();
  loop_threads_.clear();
  workers_->Shutdown();  // the requests still being served finish first
  if (metrics_) metrics_->Stop();
}

void HttpServer::Impl::Stop() {
  // No new connections, and the idle ones are closed; the requests in flight finish,
  // streamed responses included (up to write_timeout); then the loop ends.
  stopping_.store(true);
  for (auto& loop : loops_) loop->StopAccepting();
  const auto deadline = Clock::now() + cfg_.write_timeout;
  // Requests whose replay claim is still out on a loop's lane are in flight too: their answer
  // comes within the store's timeout, and a claim left behind would block its retries.
  auto claims_waiting = [this] {
    std::size_t n = 0;
    for (const auto& lanes : lanes_) n += lanes->store ? lanes->store->ClaimsWaiting() : 0;
    return n;
  };
  while ((deps_.health->inflight() > 0 || claims_waiting() > 0) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  cut_streams_.store(true);
  for (auto& loop : loops_) loop->Stop();
}

Expected<std::unique_ptr<HttpServer>> HttpServer::Create(const ServerDeps& deps) {
  auto impl = std::make_unique<Impl>(deps);
  if (auto s = impl->Bind(); !s) return s.error();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() = default;
int HttpServer::port() const { return impl_->port(); }
int HttpServer::metrics_port() const { return impl_->metrics_port(); }
void HttpServer::Run() { impl_->Run(); }
void HttpServer::Stop() { impl_->Stop(); }
void HttpServer::WaitUntilReady() { impl_->WaitUntilReady(); }

}  // namespace hw::server
