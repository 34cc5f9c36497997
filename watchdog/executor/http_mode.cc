#include "executor/http_mode.h"

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <iterator>

#include <fmt/format.h>

#include "common/environment.h"
#include "executor/function_process.h"
#include "executor/line_splitter.h"
#include "executor/process_pump.h"
#include "logging/log.h"
#include "metrics/metrics.h"

namespace hw::executor {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kBufferLimit = 1024 * 1024;  // larger upstream bodies are streamed

TimePoint DeadlineFor(const config::ProcessOptions& c, SteadyClock::time_point start) {
  if (c.exec_timeout.count() > 0) return start + c.exec_timeout;
  return start + std::chrono::hours(24 * 365);
}

FunctionResponse FailureResponse(UpstreamFailure failure, const std::string& why,
                                 const config::ProcessOptions& c,
                                 const config::UpstreamOptions& upstream,
                                 SteadyClock::time_point start) {
  FunctionResponse r;
  if (failure == UpstreamFailure::kTimeout) {
    log::Warn(fmt::format("function did not answer within exec_timeout ({} ms): {}",
                          c.exec_timeout.count(), why));
    r = ExecTimeoutResponse();
  } else {
    log::Warn(fmt::format("upstream {} failed: {}", upstream.upstream_url, why));
    r = InternalResponse(502, "Bad Gateway: the function could not be reached\n");
  }
  r.headers.push_back({"X-Duration-Seconds", DurationSeconds(start)});
  return r;
}

// Relays the rest of an upstream body to the client after the headers went out.
class UpstreamBody final : public BodyStream {
 public:
  UpstreamBody(std::unique_ptr<UpstreamConnection> conn, ResponseHead head, TimePoint deadline,
               UpstreamPool& pool)
      : conn_(std::move(conn)), head_(std::move(head)), deadline_(deadline), pool_(pool) {}

  bool Pump(const std::function<bool(std::string_view)>& write) override {
    bool ok = conn_->ReadBody(head_, deadline_, write);
    if (!ok) {
      if (conn_->failure() == UpstreamFailure::kTimeout) {
        log::Warn("function exceeded exec_timeout while streaming: response cut");
      } else if (conn_->failure() != UpstreamFailure::kNone) {
        log::Warn("upstream connection broke while streaming: response cut");
      }
      return false;
    }
    if (conn_->reusable()) pool_.Give(std::move(conn_));
    return true;
  }

 private:
  std::unique_ptr<UpstreamConnection> conn_;
  ResponseHead head_;
  TimePoint deadline_;
  UpstreamPool& pool_;
};

// RFC 9110 9.2.2: the methods a client may repeat without changing the effect. (TRACE too,
// but the watchdog forwards nothing for it that matters.)
bool IsIdempotent(std::string_view method) {
  for (std::string_view m : {"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}) {
    if (method == m) return true;
  }
  return false;
}

bool IsEventStream(const ResponseHead& head) {
  for (const auto& h : head.headers) {
    if (h.name.size() == 12 && strncasecmp(h.name.c_str(), "Content-Type", 12) == 0 &&
        h.value.rfind("text/event-stream", 0) == 0) {
      return true;
    }
  }
  return false;
}

// Relayed as it arrives rather than buffered: chunked, until-close, event streams and bodies
// over kBufferLimit.
bool Streams(const ResponseHead& head) {
  return head.framing == ResponseHead::Framing::kChunked ||
         head.framing == ResponseHead::Framing::kUntilClose ||
         (head.framing == ResponseHead::Framing::kLength && head.length > kBufferLimit) ||
         IsEventStream(head);
}

}  // namespace

HttpExecutor::HttpExecutor(const config::ProcessOptions& process,
                           const config::UpstreamOptions& upstream, std::size_t max_idle,
                           config::Duration stop_grace, metrics::Metrics* metrics,
                           std::function<void(std::string)> on_fatal)
    : process_(process),
      upstream_(upstream),
      stop_grace_(stop_grace),
      metrics_(metrics),
      on_fatal_(std::move(on_fatal)),
      pool_(std::max<std::size_t>(1, max_idle)) {}

HttpExecutor::~HttpExecutor() { Shutdown(); }

Status HttpExecutor::Start() {
  if (!process_.argv.empty()) {
    SpawnOptions options;
    options.argv = process_.argv;
    options.env = OwnEnvironment();
    options.pipe_stdin = false;
    auto child = ChildProcess::Spawn(options);
    if (!child) return Error{fmt::format("cannot start the function: {}", child.error().message)};
    if (metrics_ != nullptr) metrics_->Spawned();
    function_ = std::make_unique<ChildProcess>(std::move(*child));
    log::Info(
        fmt::format("started function process {} (pid {})", process_.fprocess, function_->pid()));
    ChildProcess* fn = function_.get();
    output_thread_ = std::thread([this, fn] {
      const bool prefix = process_.prefix_logs;
      LineSplitter stdout_lines(process_.log_buffer_size, [prefix](std::string_view line) {
        log::FunctionOutput("stdout", line, prefix);
      });
      PumpOptions options;
      options.on_stdout = [&stdout_lines](std::string_view chunk) {
        stdout_lines.Append(chunk);
        return true;
      };
      options.on_stderr_line = [prefix](std::string_view line) {
        log::FunctionOutput("stderr", line, prefix);
      };
      options.max_line = process_.log_buffer_size;
      ProcessPump pump(*fn, std::move(options));
      auto result = pump.Run();
      stdout_lines.Flush();
      std::string how = result ? result->status.Describe() : result.error().message;
      if (!stopping_.load()) {
        on_fatal_(
            fmt::format("the function process ({}) exited: {}; exiting so the container "
                        "restarts",
                        process_.fprocess, how));
      } else {
        log::Info(fmt::format("function process exited: {}", how));
      }
    });
  }
  // Not ready until the function accepts connections (of-watchdog answers 200 at once and
  // the first requests after a scale-up fail).
  auto start = SteadyClock::now();
  auto deadline = start + upstream_.upstream_ready_timeout;
  auto next_log = start + std::chrono::seconds(2);
  while (true) {
    UpstreamFailure failure = UpstreamFailure::kNone;
    auto conn = UpstreamConnection::Open(upstream_.upstream_address,
                                         SteadyClock::now() + std::chrono::seconds(1), &failure);
    if (conn) {
      log::Info(fmt::format(
          "function accepts connections on {} after {} ms", upstream_.upstream_url,
          std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start)
              .count()));
      return Ok{};
    }
    if (start_cancelled_.load()) {
      return Error{fmt::format("stopped before the function accepted connections on {}",
                               upstream_.upstream_url)};
    }
    if (function_ && function_->TryExitStatus()) {
      return Error{
          fmt::format("the function process exited ({}) before accepting connections on {}",
                      function_->TryExitStatus()->Describe(), upstream_.upstream_url)};
    }
    auto now = SteadyClock::now();
    if (now >= deadline) {
      return Error{fmt::format(
          "the function did not accept connections on {} within "
          "upstream_ready_timeout ({} ms): {}",
          upstream_.upstream_url, upstream_.upstream_ready_timeout.count(), conn.error().message)};
    }
    if (now >= next_log) {
      log::Info(fmt::format("waiting for the function to accept connections on {}",
                            upstream_.upstream_url));
      next_log = now + std::chrono::seconds(2);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::unique_ptr<UpstreamConnection> UpstreamPool::Take() {
  std::lock_guard lock(mutex_);
  if (idle_.empty()) return nullptr;
  auto conn = std::move(idle_.back());
  idle_.pop_back();
  return conn;
}

void UpstreamPool::Give(std::unique_ptr<UpstreamConnection> connection) {
  std::unique_ptr<UpstreamConnection> surplus;  // closed outside the lock
  std::lock_guard lock(mutex_);
  if (idle_.size() >= max_idle_) {
    surplus = std::move(connection);
    return;
  }
  idle_.push_back(std::move(connection));
}

std::size_t UpstreamPool::idle() const {
  std::lock_guard lock(mutex_);
  return idle_.size();
}

FunctionResponse HttpExecutor::Failure(UpstreamFailure failure, const std::string& why,
                                       TimePoint start) const {
  return FailureResponse(failure, why, process_, upstream_, start);
}

FunctionResponse HttpExecutor::Invoke(const FunctionRequest& request) {
  const auto start = SteadyClock::now();
  if (metrics_ != nullptr) metrics_->UpstreamRequest();
  return Exchange(request, start, DeadlineFor(process_, start), nullptr, false, std::nullopt);
}

FunctionResponse HttpExecutor::Exchange(const FunctionRequest& request, TimePoint start,
                                        TimePoint deadline,
                                        std::unique_ptr<UpstreamConnection> sent, bool sent_reused,
                                        std::optional<ResponseHead> head) {
  if (sent && head) return Relay(std::move(sent), std::move(*head), start, deadline);
  std::string target(request.target.empty() ? request.path : request.target);
  const bool head_request = request.method == "HEAD";

  std::unique_ptr<UpstreamConnection> conn;
  ResponseHead got;
  for (int attempt = 0;; ++attempt) {
    bool reused = sent_reused;
    Status status = Ok{};
    if (attempt == 0 && sent) {
      // Begun on the front loop.
      conn = std::move(sent);
      status = conn->failure() == UpstreamFailure::kNone
                   ? conn->FlushRequest(deadline)
                   : Status(Error{"the connection to the function broke while sending"});
    } else {
      conn = pool_.Take();
      // Closed by the function while idle (its keep-alive timeout): nothing was sent on it,
      // so any request may go on a new connection.
      if (conn && conn->Stale()) conn.reset();
      reused = conn != nullptr;
      if (!conn) {
        UpstreamFailure failure = UpstreamFailure::kNone;
        auto opened = UpstreamConnection::Open(upstream_.upstream_address, deadline, &failure);
        if (!opened) return Failure(failure, opened.error().message, start);
        conn = std::make_unique<UpstreamConnection>(std::move(*opened));
      }
      conn->BeginExchange();
      status = conn->SendRequest(request.method, target, request.headers, request.body,
                                 upstream_.upstream_address, deadline);
    }
    if (status) {
      auto read = conn->ReadHead(head_request, deadline);
      if (read) {
        got = std::move(*read);
        break;
      }
      status = read.error();
    }
    // A reused connection that broke before any response byte: the function may have closed
    // it while idle, or read the request and died. Sent again (once, on a new connection)
    // only when the method is idempotent (RFC 9110 9.2.2); otherwise it may have run
    // already, and running it twice is worse than a 502.
    const bool closed_unanswered = reused && attempt == 0 && !conn->received_anything() &&
                                   conn->failure() == UpstreamFailure::kBroken;
    if (closed_unanswered && IsIdempotent(request.method)) continue;
    std::string why = status.error().message;
    if (closed_unanswered) {
      why += fmt::format(
          " (a reused connection closed before any response byte; {} is not idempotent and "
          "may have reached the function, so it is not sent again)",
          request.method);
    }
    return Failure(conn->failure(), why, start);
  }
  return Relay(std::move(conn), std::move(got), start, deadline);
}

// A front loop's idle upstream connections, watched by that loop (executor.h). The most
// recently used first. Loop thread only.
class HttpLane final : public InvocationLane {
 public:
  explicit HttpLane(std::size_t max_idle) : max_idle_(max_idle) {}

  bool OnIdleReadable(int fd) override {
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if (it->connection->fd() == fd) {
        idle_.erase(it);  // closed: the function closed it or sent what nobody asked for
        return true;
      }
    }
    return false;
  }
  void Waited(bool complete) override {
    ++turn_;
    waited_complete_ = complete;
  }
  // The most recently used idle connection still open (null when none). One kept before this
  // turn's complete wait is known open without a system call (Waited), so those come first;
  // one given back this turn (its end of file may have come with the answer), idle long
  // enough that the function's keep-alive timeout may be near, or any after a wait that
  // returned a full batch, is checked with a poll.
  std::unique_ptr<UpstreamConnection> Take() {
    const auto now = SteadyClock::now();
    for (auto it = idle_.rbegin(); waited_complete_ && it != idle_.rend(); ++it) {
      if (it->turn == turn_ || now - it->since >= kTrustedIdle) continue;
      auto seen_open = std::move(it->connection);
      idle_.erase(std::next(it).base());
      return seen_open;
    }
    while (!idle_.empty()) {
      Idle last = std::move(idle_.back());
      idle_.pop_back();
      if (!last.connection->Stale()) return std::move(last.connection);
    }
    return nullptr;
  }
  void Give(std::unique_ptr<UpstreamConnection> connection) {
    if (idle_.size() >= max_idle_) return;  // closed
    idle_.push_back(Idle{std::move(connection), turn_, SteadyClock::now()});
  }

 private:
  // Far below any function's keep-alive timeout (Node's default is 5 s, Go's unlimited).
  static constexpr auto kTrustedIdle = std::chrono::seconds(1);
  struct Idle {
    std::unique_ptr<UpstreamConnection> connection;
    std::uint64_t turn;             // the loop's turn when it was given back
    SteadyClock::time_point since;  // idle since
  };
  const std::size_t max_idle_;
  std::uint64_t turn_ = 0;
  bool waited_complete_ = false;
  std::vector<Idle> idle_;
};

std::unique_ptr<InvocationLane> HttpExecutor::NewLane() {
  return std::make_unique<HttpLane>(pool_.max_idle());
}

FunctionResponse HttpExecutor::Relay(std::unique_ptr<UpstreamConnection> conn, ResponseHead head,
                                     TimePoint start, TimePoint deadline, HttpLane* lane) {
  FunctionResponse response;
  response.status = head.status;
  response.headers = std::move(head.headers);
  head.headers.clear();
  if (Streams(head)) {
    if (head.framing == ResponseHead::Framing::kLength) response.stream_length = head.length;
    response.stream = std::make_unique<UpstreamBody>(std::move(conn), head, deadline, pool_);
    return response;
  }
  std::string body;
  if (head.framing == ResponseHead::Framing::kLength) body.reserve(head.length);
  bool ok = conn->ReadBody(head, deadline, [&body](std::string_view chunk) {
    body.append(chunk);
    return true;
  });
  if (!ok) return Failure(conn->failure(), "response body cut", start);
  if (conn->reusable()) {
    if (lane != nullptr) {
      lane->Give(std::move(conn));
    } else {
      pool_.Give(std::move(conn));
    }
  }
  response.body = std::move(body);
  response.headers.push_back({"X-Duration-Seconds", DurationSeconds(start)});
  return response;
}

// An invocation on the front loop: the request is sent; the loop feeds Advance.
class LoopInvocation final : public PendingInvocation {
 public:
  LoopInvocation(HttpExecutor& executor, HttpLane* lane, std::unique_ptr<UpstreamConnection> conn,
                 bool watched, bool reused, bool sent, bool head_request, TimePoint start,
                 TimePoint deadline)
      : executor_(executor),
        lane_(lane),
        watched_(watched),
        conn_(std::move(conn)),
        fd_(conn_->fd()),
        reused_(reused),
        sent_(sent),
        head_request_(head_request),
        start_(start),
        deadline_(deadline) {}

  int fd() const override { return fd_; }
  TimePoint deadline() const override { return deadline_; }
  bool sent() const override { return sent_; }
  bool watched() const override { return watched_; }
  void set_watched() override { watched_ = true; }

  Progress Advance() override {
    if (!conn_ || !sent_) return Progress::kNeedsWorker;
    // Ended: what is buffered may still be the whole answer (sent with the end of file);
    // if not, a worker reports it, or retries an idempotent request.
    const bool ended = conn_->ReceiveAvailable() == UpstreamConnection::Receive::kEnded;
    if (ended) conn_->NoteEnded();
    const Progress wait = ended ? Progress::kNeedsWorker : Progress::kWaiting;
    if (!head_) {
      if (conn_->InterimBuffered()) return Progress::kNeedsWorker;  // ReadHead skips it
      auto taken = conn_->TakeBufferedHead(head_request_);
      if (!taken) return conn_->buffered() > kLoopHeadBytes ? Progress::kNeedsWorker : wait;
      if (!*taken) {
        response_ = executor_.Failure(conn_->failure(), taken->error().message, start_);
        conn_.reset();
        return Progress::kDone;
      }
      head_ = std::move(**taken);
    }
    if (Streams(*head_)) return Progress::kNeedsWorker;
    if (!conn_->BodyBuffered(*head_)) return wait;
    // All of it is here: Relay reads it from the buffer without waiting.
    // The connection stays with the loop that watches it (when it is watched: it is then
    // in that loop's epoll), else it goes back to the shared pool.
    response_ = executor_.Relay(std::move(conn_), std::move(*head_), start_, deadline_,
                                watched_ ? lane_ : nullptr);
    head_.reset();
    return Progress::kDone;
  }

  FunctionResponse TakeResponse() override { return std::move(response_); }

  FunctionResponse Finish(const FunctionRequest& request) override {
    return executor_.Exchange(request, start_, deadline_, std::move(conn_), reused_,
                              std::move(head_));
  }

 private:
  // A response head larger than this is left to a worker (which refuses it at 64 KiB a line).
  static constexpr std::size_t kLoopHeadBytes = 64 * 1024;
  HttpExecutor& executor_;
  HttpLane* const lane_;  // the starting loop's (may be null)
  bool watched_;
  std::unique_ptr<UpstreamConnection> conn_;
  const int fd_;
  const bool reused_;  // from the pool (a retry may be due if it was closed while idle)
  const bool sent_;
  const bool head_request_;
  const TimePoint start_;
  const TimePoint deadline_;
  std::optional<ResponseHead> head_;
  FunctionResponse response_;
};

std::unique_ptr<PendingInvocation> HttpExecutor::Start(const FunctionRequest& request,
                                                       InvocationLane* invocation_lane) {
  if (!request.body.in_memory()) return nullptr;
  auto* lane = static_cast<HttpLane*>(invocation_lane);  // made by NewLane
  std::unique_ptr<UpstreamConnection> conn;
  bool watched = false;
  if (lane != nullptr) {
    conn = lane->Take();  // open, as far as the loop's last wait or a poll can tell
    watched = conn != nullptr;
  }
  if (!conn) {
    conn = pool_.Take();
    if (conn && conn->Stale()) return nullptr;  // closed by the function: Invoke opens another
  }
  const bool reused = conn != nullptr;
  const auto start = SteadyClock::now();
  if (!conn) {
    // A new connection, if connecting takes no waiting (loopback usually connects at once);
    // otherwise, or when it fails, Invoke on a worker connects and reports what went wrong.
    UpstreamFailure failure = UpstreamFailure::kNone;
    auto opened = UpstreamConnection::Open(upstream_.upstream_address, start, &failure);
    if (!opened) return nullptr;
    conn = std::make_unique<UpstreamConnection>(std::move(*opened));
  }
  if (metrics_ != nullptr) metrics_->UpstreamRequest();
  conn->BeginExchange();
  const std::string target(request.target.empty() ? request.path : request.target);
  const bool sent = conn->SendWithoutWaiting(request.method, target, request.headers, request.body,
                                             upstream_.upstream_address);
  return std::make_unique<LoopInvocation>(*this, lane, std::move(conn), watched, reused, sent,
                                          request.method == "HEAD", start,
                                          DeadlineFor(process_, start));
}

void HttpExecutor::Shutdown() {
  if (stopping_.exchange(true)) return;
  if (function_) {
    if (function_->KillGroup(SIGTERM)) {
      log::Info("sent SIGTERM to the function process");
      auto grace = SteadyClock::now() + stop_grace_;
      if (!function_->WaitUntil(grace)) {
        log::Warn("the function process ignored SIGTERM: SIGKILL");
        function_->KillGroup(SIGKILL);
        function_->Wait();
      }
    }
  }
  if (output_thread_.joinable()) output_thread_.join();
}

}  // namespace hw::executor
