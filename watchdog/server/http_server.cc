// cpp-httplib glue: routes, limits, the request pipeline and the access log. With
// auth/http_client.cc the only translation units that include httplib.h (through
// common/httplib.h; it takes ~14 s to compile).
#include "server/http_server.h"

#include "common/httplib.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>

#include <charconv>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <exception>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <fmt/format.h>

#include "common/strings.h"

#include "executor/executor.h"
#include "logging/log.h"
#include "metrics/metrics.h"
#include "server/health.h"
#include "server/front_loop.h"
#include "server/pipeline.h"
#include "server/request_target.h"
#include "signature/verifier.h"


namespace hw::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kInternalHeader = "X-OpenFaaS-Internal";
constexpr std::string_view kInternalValue = "hmac-watchdog";

// What one request has been through so far. cpp-httplib runs a connection's requests one
// after another on one worker thread, so a thread_local follows the request from the
// Expect and pre-routing hooks to the handler and the logger.
struct RequestContext {
  Clock::time_point start;
  bool seen = false;            // went through our Expect or pre-routing hook
  bool routed = false;          // pre-routing ran (cpp-httplib may call it twice)
  bool function_call = false;   // counted in the function metrics
  bool from_function = false;   // the response is the function's (leave 4xx/5xx alone)
  bool deferred_log = false;    // streamed: logged when the stream ends
  bool closing = false;         // the response says Connection: close
  bool body_consumed = false;   // the whole request body was read
  std::string_view outcome = "-";
  std::string_view scheme = "-";
  // What the head decided (Pipeline::Begin), once per request.
  bool began = false;
  std::optional<Rejection> rejection;
  std::unique_ptr<PendingRequest> pending;
  std::string log_path;  // the decoded path (the raw one when it could not be decoded)
  // Method and path set aside while cpp-httplib routes (see HideFromRouting).
  std::string routed_method;
  std::string routed_path;
  bool hidden = false;
};

RequestContext& Ctx() {
  thread_local RequestContext ctx;
  return ctx;
}

// The context for `req`, reset when it belongs to an earlier request of the connection.
RequestContext& StartContext(const httplib::Request& req) {
  auto& ctx = Ctx();
  if (!ctx.seen || ctx.start != req.start_time_) {
    ctx = RequestContext{};
    ctx.seen = true;
    ctx.start = req.start_time_;
  }
  return ctx;
}

bool IsCurrent(const httplib::Request& req) {
  const auto& ctx = Ctx();
  return ctx.seen && ctx.start == req.start_time_;
}

// cpp-httplib routes with std::regex_match, which libstdc++ runs recursively, one stack
// frame per character: a 15 KB path overflowed a worker's stack in the sanitizer builds. And
// it reads the body into memory for GET, HEAD and OPTIONS, streaming it to a content reader
// only for POST, PUT, PATCH and DELETE. So routing sees "POST /" for every function request;
// the real method and the decoded path are put back before anything reads them.
void HideFromRouting(const httplib::Request& req, RequestContext& ctx) {
  auto& method = const_cast<std::string&>(req.method);
  auto& path = const_cast<std::string&>(req.path);
  ctx.routed_method.swap(method);
  method.assign("POST");
  ctx.routed_path = ctx.pending ? ctx.pending->path() : path;
  path.assign("/");
  ctx.hidden = true;
}

void RestoreFromRouting(const httplib::Request& req, RequestContext& ctx) {
  if (!ctx.hidden || ctx.start != req.start_time_) return;
  const_cast<std::string&>(req.method).swap(ctx.routed_method);
  const_cast<std::string&>(req.path).swap(ctx.routed_path);
  ctx.routed_method.clear();
  ctx.routed_path.clear();
  ctx.hidden = false;
}

// The methods a function is called with (cpp-httplib refuses any other with 400).
bool IsFunctionMethod(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "POST" || m == "PUT" ||
         m == "PATCH" || m == "DELETE";
}

// "Upgrade: websocket" (any case): cpp-httplib would take the request down its WebSocket
// path, which the watchdog does not serve.
bool IsWebSocketUpgrade(const httplib::Request& req) {
  for (auto [it, end] = req.headers.equal_range("Upgrade"); it != end; ++it) {
    std::string_view v = it->second;
    for (std::size_t i = 0; i + 9 <= v.size(); ++i) {
      if (IEquals(v.substr(i, 9), "websocket")) return true;
    }
  }
  return false;
}

bool IsReservedPath(std::string_view path) {
  return path == "/_/health" || path == "/_/ready";
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 section 5.6.7), made once per second per thread.
const std::string& HttpDate() {
  thread_local std::time_t cached_second = 0;
  thread_local std::string text;
  std::time_t now = std::time(nullptr);
  if (now != cached_second || text.empty()) {
    std::tm tm{};
    ::gmtime_r(&now, &tm);
    char buf[64];
    std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    text.assign(buf, n);
    cached_second = now;
  }
  return text;
}

void SetInternal(httplib::Response& res, int status, std::string_view text) {
  res.status = status;
  res.set_header(std::string(kInternalHeader), std::string(kInternalValue));
  res.set_content(std::string(text), "text/plain; charset=utf-8");
}

// Cuts connections whose request takes too long to arrive once a worker serves them.
// cpp-httplib's read timeout applies to each recv() only, so a client sending one body byte
// every few seconds would hold a worker forever; the front loop's tick calls Scan(), which
// shuts such sockets down at their deadline.
class ConnectionGuard {
 public:
  struct Slot {
    int fd;
    std::atomic<std::int64_t> deadline_ms{0};  // steady clock; 0 = no deadline now
    bool cut = false;        // reading side shut at the deadline
    bool cut_whole = false;  // both sides shut kFullCutGraceMs later
  };
  static constexpr std::int64_t kFullCutGraceMs = 1000;

  Slot* Add(int fd, Clock::time_point deadline) {
    auto slot = std::make_unique<Slot>();
    slot->fd = fd;
    Set(slot.get(), deadline);
    std::lock_guard lock(mutex_);
    Slot* raw = slot.get();
    slots_.emplace(raw, std::move(slot));
    return raw;
  }
  // Called before the socket is closed or handed back, so Scan never touches a reused
  // descriptor.
  void Remove(Slot* slot) {
    std::lock_guard lock(mutex_);
    slots_.erase(slot);
  }
  static void Set(Slot* slot, Clock::time_point deadline) {
    if (slot == nullptr) return;
    slot->deadline_ms.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                deadline.time_since_epoch())
                                .count());
  }
  // Like Set, but never moves an existing deadline later.
  static void SetEarlier(Slot* slot, Clock::time_point deadline) {
    if (slot == nullptr) return;
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline.time_since_epoch())
                  .count();
    auto current = slot->deadline_ms.load();
    if (current == 0 || ms < current) slot->deadline_ms.store(ms);
  }
  static void Clear(Slot* slot) {
    if (slot != nullptr) slot->deadline_ms.store(0);
  }
  void Scan() {
    auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   Clock::now().time_since_epoch())
                   .count();
    std::lock_guard lock(mutex_);
    for (auto& [raw, slot] : slots_) {
      auto deadline = slot->deadline_ms.load();
      if (deadline == 0) continue;
      // First only the reading side: the blocked read ends and the short answer (408, 400)
      // can still be written. A connection still here a second later is cut whole.
      if (now > deadline && !slot->cut) {
        slot->cut = true;
        ::shutdown(slot->fd, SHUT_RD);
        log::Warn("connection cut: no complete request within read_timeout");
      } else if (now > deadline + kFullCutGraceMs && slot->cut && !slot->cut_whole) {
        slot->cut_whole = true;
        ::shutdown(slot->fd, SHUT_RDWR);
      }
    }
  }

 private:
  std::mutex mutex_;
  std::unordered_map<Slot*, std::unique_ptr<Slot>> slots_;
};

// One client connection as cpp-httplib's request parser reads it: first the bytes the front
// loop already read (the head, maybe more), then the socket, through a read-ahead buffer
// (cpp-httplib reads a head one byte at a time). The socket is non-blocking; every wait is
// a poll() bounded by the read or write timeout.
class ConnectionStream final : public httplib::Stream {
 public:
  ConnectionStream(ClientConnection& c, config::Duration read_timeout,
                   config::Duration write_timeout)
      : c_(c), read_timeout_ms_(static_cast<int>(read_timeout.count())),
        write_timeout_ms_(static_cast<int>(write_timeout.count())), start_(Clock::now()) {}

  bool is_readable() const override { return offset_ < c_.buffered.size(); }
  bool wait_readable() const override { return is_readable() || Poll(POLLIN, read_timeout_ms_); }
  bool wait_writable() const override { return Poll(POLLOUT, write_timeout_ms_); }
  bool is_peer_alive() const override {
    pollfd p{c_.fd, POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return true;  // nothing to read: alive
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return false;
    char byte;
    return ::recv(c_.fd, &byte, 1, MSG_PEEK) > 0;
  }
  ssize_t read(char* ptr, std::size_t size) override {
    if (!is_readable()) {
      c_.buffered.clear();
      offset_ = 0;
      while (true) {
        if (!Poll(POLLIN, read_timeout_ms_)) {
          error_ = httplib::Error::Timeout;
          return -1;
        }
        // Large reads (bodies) go straight to the caller; small ones (heads) through the
        // read-ahead buffer.
        if (size >= kReadAhead) {
          ssize_t n = ::recv(c_.fd, ptr, size, 0);
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          if (n <= 0) error_ = n == 0 ? httplib::Error::ConnectionClosed : httplib::Error::Read;
          return n;
        }
        c_.buffered.resize(kReadAhead);
        ssize_t n = ::recv(c_.fd, c_.buffered.data(), kReadAhead, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) {
          c_.buffered.clear();
          error_ = n == 0 ? httplib::Error::ConnectionClosed : httplib::Error::Read;
          return n;
        }
        c_.buffered.resize(static_cast<std::size_t>(n));
        break;
      }
    }
    std::size_t n = std::min(size, c_.buffered.size() - offset_);
    std::memcpy(ptr, c_.buffered.data() + offset_, n);
    offset_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, std::size_t size) override {
    while (true) {
      ssize_t n = ::send(c_.fd, ptr, size, MSG_NOSIGNAL);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      if (!Poll(POLLOUT, write_timeout_ms_)) return -1;
    }
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.remote_addr;
    port = c_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.local_addr;
    port = c_.local_port;
  }
  socket_t socket() const override { return c_.fd; }
  time_t duration() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start_).count();
  }
  void set_read_timeout(time_t sec, time_t usec) override {
    read_timeout_ms_ = static_cast<int>(sec * 1000 + usec / 1000);
  }
  // What was read beyond the requests parsed so far (the start of the next one), moved back
  // into the connection before it returns to the front loop.
  void KeepUnread() {
    c_.buffered.erase(0, offset_);
    offset_ = 0;
  }

 private:
  static constexpr std::size_t kReadAhead = 16 * 1024;
  bool Poll(short events, int timeout_ms) const {
    pollfd p{c_.fd, events, 0};
    while (true) {
      int r = ::poll(&p, 1, timeout_ms);
      if (r < 0 && errno == EINTR) continue;
      return r > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
    }
  }

  ClientConnection& c_;
  std::size_t offset_ = 0;
  int read_timeout_ms_;
  int write_timeout_ms_;
  Clock::time_point start_;
};

// The guard slot of the connection this worker thread is serving.
thread_local ConnectionGuard::Slot* t_slot = nullptr;

// cpp-httplib's server as a request parser and router: connections come from the front
// loop, not from its own accept loop, and each is served by ServeConnection on a worker.
class GuardedServer final : public httplib::Server {
 public:
  GuardedServer(ConnectionGuard& guard, const config::Config& cfg) : guard_(guard), cfg_(cfg) {}

  int listening_socket() const { return svr_sock_.load(); }
  // cpp-httplib reads "server stopping" from this descriptor: streamed responses give up
  // once it is invalid. Called when requests in flight are done (or write_timeout passed).
  void FinishStop() {
    stopping_.store(true);
    svr_sock_.store(INVALID_SOCKET);
  }
  bool stopping() const { return stopping_.load(); }
  void BeginStopping() { stopping_.store(true); }

  // Serves requests on `c` while they come: pipelined ones from the buffer, the next one if
  // it arrives within a short linger; then gives the connection back to `loop` to wait (or
  // closes it).
  void ServeConnection(ClientConnection c, FrontLoop& loop) {
    ConnectionGuard::Slot* slot = guard_.Add(c.fd, Clock::now() + cfg_.read_timeout);
    t_slot = slot;
    bool keep = false;
    {
      ConnectionStream strm(c, cfg_.read_timeout, cfg_.write_timeout);
      std::size_t count = keep_alive_max_count_;
      while (count-- > 0) {
        bool connection_closed = false;
        bool ok = process_request(strm, c.remote_addr, c.remote_port, c.local_addr,
                                  c.local_port, count == 0, connection_closed, nullptr);
        c.served_before = true;
        // cpp-httplib answers "Connection: close" to every status >= 400 but keeps some of
        // those connections open; end them as the response said.
        if (Ctx().closing) connection_closed = true;
        if (!ok || connection_closed || stopping()) break;
        if (strm.is_readable()) continue;  // pipelined: the next request is buffered
        // Busy clients send the next request at once: wait a moment here rather than pay
        // a trip through the front loop for every request.
        pollfd p{c.fd, POLLIN, 0};
        if (::poll(&p, 1, kLingerMs) > 0) continue;
        strm.KeepUnread();
        keep = true;
        break;
      }
    }
    t_slot = nullptr;
    guard_.Remove(slot);
    if (keep && !stopping()) {
      loop.Return(std::move(c));
      return;
    }
    CloseLingering(c.fd);
  }

  // Closing a socket with unread request bytes makes the kernel send a reset, which can
  // destroy the response the client has not read yet (a 413 before a huge chunked body).
  // So: end our side, then read and drop what still arrives, for a short while.
  static void CloseLingering(int fd) {
    ::shutdown(fd, SHUT_WR);
    int pending = 0;
    if (::ioctl(fd, FIONREAD, &pending) == 0 && pending > 0) {
      const auto until = Clock::now() + std::chrono::milliseconds(kLingerCloseMs);
      char sink[16384];
      std::size_t dropped = 0;
      while (dropped < kLingerCloseBytes && Clock::now() < until) {
        pollfd p{fd, POLLIN, 0};
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
        if (::poll(&p, 1, static_cast<int>(std::max<long>(1, left.count()))) <= 0) break;
        ssize_t n = ::recv(fd, sink, sizeof sink, 0);
        if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) break;
        if (n > 0) dropped += static_cast<std::size_t>(n);
      }
    }
    ::close(fd);
  }

 private:
  static constexpr int kLingerMs = 20;
  static constexpr int kLingerCloseMs = 200;
  static constexpr std::size_t kLingerCloseBytes = 1024 * 1024;
  ConnectionGuard& guard_;
  const config::Config& cfg_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(const ServerDeps& deps)
      : deps_(deps),
        cfg_(*deps.config),
        pipeline_(cfg_, *deps.verifier, *deps.executor, *deps.metrics, *deps.health, deps.auth),
        server_(guard_, cfg_) {}

  ~Impl() { ShutdownWorkers(); }
  Status Bind();
  void Run();
  void Stop();
  void WaitUntilReady() {
    while (!loop_->running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  int port() const { return port_; }
  int metrics_port() const { return metrics_bound_port_; }

 private:
  void Configure();
  static void RaiseDescriptorLimit();
  void ShutdownWorkers() {
    if (workers_ && !workers_shut_) workers_->shutdown();
    workers_shut_ = true;
  }
  httplib::Server::HandlerResponse PreRouting(const httplib::Request& req, httplib::Response& res);
  // Runs Pipeline::Begin once per request (from the Expect hook or pre-routing).
  void BeginOnce(const httplib::Request& req, RequestContext& ctx);
  static void ApplyRejection(const Rejection& rejection, httplib::Response& res);
  void HandleFunction(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader* reader);
  void ApplyResponse(const httplib::Request& req, httplib::Response& res,
                     executor::FunctionResponse&& out);
  void AccessLog(const httplib::Request& req, int status, std::size_t bytes);

  // After a response, the next request must arrive within keepalive_timeout and be read
  // within read_timeout.
  void NextRequestDeadline() {
    ConnectionGuard::Set(t_slot, Clock::now() + cfg_.keepalive_timeout + cfg_.read_timeout);
  }

  ServerDeps deps_;
  const config::Config& cfg_;
  Pipeline pipeline_;
  ConnectionGuard guard_;
  GuardedServer server_;
  httplib::Server metrics_server_;
  int port_ = 0;
  int metrics_bound_port_ = 0;
  std::thread metrics_thread_;
  std::unique_ptr<FrontLoop> loop_;
  std::unique_ptr<httplib::ThreadPool> workers_;
  bool workers_shut_ = false;
};

void HttpServer::Impl::Configure() {
  const int max_conn = cfg_.max_connections;
  // Workers serve connections whose request head is complete. Eight wait from the start;
  // more are made as requests arrive (up to max_connections) and leave after
  // CPPHTTPLIB_THREAD_POOL_IDLE_TIMEOUT idle seconds. Connections still waiting for a head
  // cost no worker: the front loop holds them.
  const std::size_t base_threads = static_cast<std::size_t>(std::min(max_conn, 8));
  workers_ = std::make_unique<httplib::ThreadPool>(
      base_threads, static_cast<std::size_t>(max_conn), static_cast<std::size_t>(max_conn) * 4);
  auto secs = [](config::Duration d) {
    return std::chrono::duration_cast<std::chrono::microseconds>(d);
  };
  server_.set_read_timeout(secs(cfg_.read_timeout));
  server_.set_write_timeout(secs(cfg_.write_timeout));
  server_.set_keep_alive_timeout(std::max<time_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(cfg_.keepalive_timeout).count()));
  server_.set_keep_alive_max_count(CPPHTTPLIB_KEEPALIVE_MAX_COUNT);
  server_.set_payload_max_length(cfg_.max_body_bytes);
  server_.set_tcp_nodelay(true);

  server_.set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) { return PreRouting(req, res); });

  // Every function request is routed as "POST /" (see HideFromRouting), so its body is
  // always streamed to the pipeline, whatever the method.
  server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
    HandleFunction(req, res, nullptr);
  });
  server_.Post(".*", [this](const httplib::Request& req, httplib::Response& res,
                            const httplib::ContentReader& reader) {
    HandleFunction(req, res, &reader);
  });

  // A client that sends "Expect: 100-continue" waits for the go-ahead before the body: what
  // the head decides (401, 413, 503) is answered instead, and the body is never sent.
  server_.set_expect_100_continue_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        auto& ctx = StartContext(req);
        auto target = ParseRequestTarget(req.target);
        if (target && IsReservedPath(target->path)) return 100;
        BeginOnce(req, ctx);
        if (!ctx.rejection) return 100;
        ApplyRejection(*ctx.rejection, res);
        return ctx.rejection->status;
      });

  // SO_REUSEADDR only: cpp-httplib's default SO_REUSEPORT lets a second process bind the
  // same port and silently take half of its connections.
  auto socket_options = [](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  };
  server_.set_socket_options(socket_options);
  metrics_server_.set_socket_options(socket_options);

  server_.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown exception";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        RestoreFromRouting(req, Ctx());
        log::Error(fmt::format("internal error while serving {} {}: {}", req.method, req.path,
                               what));
        Ctx().from_function = false;
        res.headers.clear();
        SetInternal(res, 500, "Internal Server Error\n");
      });

  // Responses cpp-httplib makes itself (bad request line, oversized URI, ...) get a short
  // body and the internal marker; the function's own 4xx/5xx pass untouched.
  server_.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    auto& ctx = Ctx();
    RestoreFromRouting(req, ctx);
    bool ours = !(IsCurrent(req) && ctx.from_function);
    if (!ours || !res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string text = fmt::format("{} {}\n", res.status, httplib::status_message(res.status));
    SetInternal(res, res.status, text);
    return httplib::Server::HandlerResponse::Handled;
  });

  // cpp-httplib closes the connection after every status >= 400. A 401 whose request was
  // read completely keeps it open instead: a sender retrying with the right secret, or a
  // flood of forged requests, then costs no new connection per request.
  server_.set_post_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    auto& ctx = Ctx();
    // RFC 9110 section 6.6.1: an origin server with a clock sends Date.
    if (!res.has_header("Date")) res.set_header("Date", HttpDate());
    if (res.status == 401 && IsCurrent(req) && ctx.body_consumed &&
        req.get_header_value("Connection") != "close" && req.version == "HTTP/1.1") {
      res.headers.erase("Connection");
    }
  });

  server_.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    auto& ctx = Ctx();
    bool matched = IsCurrent(req);
    if (matched) RestoreFromRouting(req, ctx);
    if (!matched) {  // cpp-httplib answered before our hooks saw the request
      ctx = RequestContext{};
      ctx.start = req.start_time_;
    }
    // A response that says "Connection: close" (every status >= 400 in cpp-httplib) must
    // end the connection even when the client does not close it: cpp-httplib itself keeps
    // some of them open for keep-alive.
    ctx.closing = res.get_header_value("Connection") == "close";
    if (ctx.closing) {
      ConnectionGuard::SetEarlier(t_slot, Clock::now() + cfg_.write_timeout);
    } else if (!(matched && ctx.deferred_log)) {
      NextRequestDeadline();
    }
    if (matched && ctx.deferred_log) return;  // logged when the stream ends
    if (matched && ctx.function_call) {
      deps_.metrics->RequestFinished(
          req.method, res.status,
          std::chrono::duration<double>(Clock::now() - ctx.start).count());
    }
    AccessLog(req, res.status, res.body.size());
  });

  if (cfg_.metrics_port != 0) {
    metrics_server_.new_task_queue = [] { return new httplib::ThreadPool(1, 4, 16); };
    metrics_server_.set_read_timeout(std::chrono::seconds(10));
    metrics_server_.set_write_timeout(std::chrono::seconds(10));
    metrics_server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(deps_.metrics->Render(), "text/plain; version=0.0.4; charset=utf-8");
    });
  }
}

void HttpServer::Impl::BeginOnce(const httplib::Request& req, RequestContext& ctx) {
  if (ctx.began) return;
  ctx.began = true;
  RequestHead head;
  head.method = req.method;
  head.target = req.target;
  head.remote_addr = req.remote_addr;
  head.headers.reserve(req.headers.size() + 1);
  for (const auto& [name, value] : req.headers) {
    head.headers.push_back({name, value});
    if ((IEquals(name, "Content-Length") && value != "0") || IEquals(name, "Transfer-Encoding")) {
      head.has_body = true;
    }
  }
  HeadResult result = pipeline_.Begin(std::move(head));
  ctx.log_path = std::move(result.log_path);
  if (result.rejection) {
    ctx.outcome = result.rejection->outcome;
    ctx.scheme = result.rejection->scheme;
    ctx.rejection = std::move(result.rejection);
  }
  ctx.pending = std::move(result.request);
}

void HttpServer::Impl::ApplyRejection(const Rejection& rejection, httplib::Response& res) {
  for (const auto& h : rejection.headers) res.set_header(h.name, h.value);
  SetInternal(res, rejection.status, rejection.body);
}

httplib::Server::HandlerResponse HttpServer::Impl::PreRouting(const httplib::Request& req,
                                                              httplib::Response& res) {
  using HR = httplib::Server::HandlerResponse;
  auto& ctx = StartContext(req);
  // cpp-httplib runs this hook twice for a WebSocket upgrade it has no handler for; the
  // second run must not hide an already hidden path.
  if (ctx.routed) return HR::Unhandled;
  ctx.routed = true;
  // The head and the body must both arrive within read_timeout of the request line.
  ConnectionGuard::Set(t_slot, req.start_time_ + cfg_.read_timeout);

  // Reserved endpoints.
  auto target = ParseRequestTarget(req.target);
  if (target && IsReservedPath(target->path)) {
    ctx.log_path = target->path;
    if (req.method != "GET") {
      res.set_header("Allow", "GET");
      SetInternal(res, 405, "Method Not Allowed\n");
      return HR::Handled;
    }
    int status = target->path == "/_/health" ? deps_.health->HealthStatus()
                                             : deps_.health->ReadyStatus();
    SetInternal(res, status, status == 200 ? "OK" : httplib::status_message(status));
    return HR::Handled;
  }

  // The watchdog neither speaks WebSocket nor forwards upgrades: say so instead of serving
  // the request as something else.
  if (IsWebSocketUpgrade(req)) {
    ctx.log_path = target ? target->path : std::string("-");
    SetInternal(res, 501, "Not Implemented: WebSocket upgrades are not supported\n");
    res.set_header("Connection", "close");
    return HR::Handled;
  }

  BeginOnce(req, ctx);
  if (ctx.rejection) {
    ApplyRejection(*ctx.rejection, res);
    return HR::Handled;
  }
  if (!IsFunctionMethod(req.method)) return HR::Unhandled;  // cpp-httplib answers 400

  // Keep cpp-httplib from decoding or parsing the body (gzip, multipart, forms): the
  // signature is over the wire bytes. The function still gets these headers (the pipeline
  // has its own copy).
  auto& mutable_headers = const_cast<httplib::Headers&>(req.headers);
  mutable_headers.erase("Content-Encoding");
  mutable_headers.erase("Content-Type");
  // RFC 9112 section 6.3: a request with neither Content-Length nor Transfer-Encoding has no
  // body. cpp-httplib would read one until the client closes, and every request is routed
  // as a POST: say so explicitly.
  if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
    mutable_headers.emplace("Content-Length", "0");
  }
  HideFromRouting(req, ctx);
  return HR::Unhandled;
}

void HttpServer::Impl::HandleFunction(const httplib::Request& req, httplib::Response& res,
                                      const httplib::ContentReader* reader) {
  auto& ctx = Ctx();
  RestoreFromRouting(req, ctx);
  if (!IsCurrent(req) || !ctx.pending) {
    SetInternal(res, 500, "Internal Server Error\n");
    return;
  }
  BodyReader read_body;
  if (reader != nullptr) {
    const auto deadline = ctx.start + cfg_.read_timeout;
    read_body = [reader, deadline, &res](const std::function<bool(std::string_view)>& sink) {
      bool timed_out = false;
      bool ok = (*reader)([&](const char* data, std::size_t n) {
        if (Clock::now() > deadline) {
          timed_out = true;
          return false;
        }
        return sink(std::string_view(data, n));
      });
      Ctx().body_consumed = ok;
      if (ok) {
        // The request is in: exec_timeout governs from here, not read_timeout.
        ConnectionGuard::Clear(t_slot);
        return ReadResult::kOk;
      }
      // A body abandoned half-way: cpp-httplib would then wait to drain bytes it already
      // consumed. The short answer goes out, then the guard ends the connection.
      ConnectionGuard::Set(t_slot, Clock::now() + std::chrono::seconds(1));
      if (res.status == 413) return ReadResult::kTooLarge;
      if (timed_out) return ReadResult::kTimedOut;
      return ReadResult::kError;
    };
  } else {
    ConnectionGuard::Clear(t_slot);
    ctx.body_consumed = true;  // no content reader: there was no body
  }
  PipelineResult result = pipeline_.Handle(*ctx.pending, read_body);
  ctx.pending.reset();
  ctx.outcome = result.outcome;
  ctx.scheme = result.scheme;
  ctx.function_call = result.function_called;
  ApplyResponse(req, res, std::move(result.response));
}

void HttpServer::Impl::ApplyResponse(const httplib::Request& req, httplib::Response& res,
                                     executor::FunctionResponse&& out) {
  auto& ctx = Ctx();
  ctx.from_function = !out.internal;
  res.status = out.status;
  std::string content_type;
  for (auto& h : out.headers) {
    if (IEquals(h.name, "Content-Type")) {
      content_type = h.value;
      if (out.stream) continue;
    }
    res.headers.emplace(std::move(h.name), std::move(h.value));
  }
  if (out.internal) res.set_header(std::string(kInternalHeader), std::string(kInternalValue));
  if (!out.stream) {
    res.body = std::move(out.body);
    return;
  }
  // Streamed body: the limiter slot, the metrics and the access log end with the stream.
  ctx.deferred_log = true;
  struct StreamState {
    std::unique_ptr<executor::BodyStream> stream;
    std::size_t bytes = 0;
    int status = 200;
    std::string method, path, call_id, user_agent, outcome, scheme;
    Clock::time_point start;
  };
  auto state = std::make_shared<StreamState>();
  state->stream = std::move(out.stream);
  state->status = out.status;
  state->method = req.method;
  state->path = req.path;
  state->call_id = req.get_header_value("X-Call-Id");
  state->user_agent = req.get_header_value("User-Agent");
  state->outcome = std::string(ctx.outcome);
  state->scheme = std::string(ctx.scheme);
  state->start = ctx.start;
  auto pump = [state](httplib::DataSink& sink) {
    return state->stream->Pump([&](std::string_view chunk) {
      state->bytes += chunk.size();
      return sink.write(chunk.data(), chunk.size());
    });
  };
  const std::string type = content_type.empty() ? "application/octet-stream" : content_type;
  auto releaser = [this, state](bool success) {
        if (!Ctx().closing) NextRequestDeadline();
        deps_.health->Release();
        double seconds = std::chrono::duration<double>(Clock::now() - state->start).count();
        deps_.metrics->RequestFinished(state->method, state->status, seconds);
        if (state->user_agent.rfind("kube-probe/", 0) == 0) return;
        log::WriteFields(
            success ? log::Level::kInfo : log::Level::kWarn, "request",
            {{"method", state->method},
             {"path", state->path},
             {"status", std::to_string(state->status)},
             {"bytes", std::to_string(state->bytes)},
             {"duration", fmt::format("{:.6f}", seconds)},
             {"outcome", state->outcome},
             {"scheme", state->scheme},
             {"call_id", state->call_id.empty() ? "-" : state->call_id},
             {"stream", success ? "complete" : "cut"}});
  };
  if (out.stream_length) {
    res.set_content_provider(
        *out.stream_length, type,
        [pump](std::size_t, std::size_t, httplib::DataSink& sink) { return pump(sink); },
        releaser);
  } else {
    res.set_chunked_content_provider(
        type,
        [pump](std::size_t, httplib::DataSink& sink) {
          if (!pump(sink)) return false;
          sink.done();
          return true;
        },
        releaser);
  }
}

void HttpServer::Impl::AccessLog(const httplib::Request& req, int status, std::size_t bytes) {
  const auto& ua = req.get_header_value("User-Agent");
  if (ua.rfind("kube-probe/", 0) == 0) return;
  auto& ctx = Ctx();
  double seconds = std::chrono::duration<double>(Clock::now() - ctx.start).count();
  std::string call_id = req.get_header_value("X-Call-Id");
  std::string status_text = std::to_string(status);
  std::string bytes_text = std::to_string(bytes);
  std::string duration = fmt::format("{:.6f}", seconds);
  log::WriteFields(log::Level::kInfo, "request",
                   {{"method", req.method.empty() ? std::string_view("-") : req.method},
                    {"path", !ctx.log_path.empty() ? std::string_view(ctx.log_path)
                             : req.path.empty()      ? std::string_view("-")
                                                     : std::string_view(req.path)},
                    {"status", status_text},
                    {"bytes", bytes_text},
                    {"duration", duration},
                    {"outcome", ctx.outcome},
                    {"scheme", ctx.scheme},
                    {"call_id", call_id.empty() ? std::string_view("-") : call_id}});
}

Status HttpServer::Impl::Bind() {
  Configure();
  auto bind = [](httplib::Server& s, int port) -> int {
    for (const char* host : {"::", "0.0.0.0"}) {
      if (port == 0) {
        int p = s.bind_to_any_port(host);
        if (p > 0) return p;
      } else if (s.bind_to_port(host, port)) {
        return port;
      }
    }
    return -1;
  };
  port_ = bind(server_, cfg_.port);
  if (port_ < 0) {
    return Error{fmt::format("cannot listen on port {} (port): {}", cfg_.port,
                             std::strerror(errno))};
  }
  if (cfg_.metrics_port != 0) {
    metrics_bound_port_ = bind(metrics_server_, cfg_.metrics_port);
    if (metrics_bound_port_ < 0) {
      return Error{fmt::format("cannot listen on port {} (metrics_port): {}", cfg_.metrics_port,
                               std::strerror(errno))};
    }
  }
  RaiseDescriptorLimit();
  FrontLoop::Options options{cfg_.read_timeout, cfg_.keepalive_timeout,
                             cfg_.max_header_bytes + CPPHTTPLIB_REQUEST_URI_MAX_LENGTH};
  auto loop = FrontLoop::Create(
      server_.listening_socket(), options,
      [this](ClientConnection&& c) {
        auto shared = std::make_shared<ClientConnection>(std::move(c));
        bool queued = workers_->enqueue([this, shared] {
          server_.ServeConnection(std::move(*shared), *loop_);
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
      },
      [this] { guard_.Scan(); });
  if (!loop) return loop.error();
  loop_ = std::move(*loop);
  return Ok{};
}

void HttpServer::Impl::RaiseDescriptorLimit() {
  // Idle and half-open connections cost a descriptor each and nothing else: take the hard
  // limit, as Go programs (of-watchdog) do at startup.
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

void HttpServer::Impl::Run() {
  if (metrics_bound_port_ > 0) {
    metrics_thread_ = std::thread([this] { metrics_server_.listen_after_bind(); });
  }
  loop_->Run();
  ShutdownWorkers();  // the requests still being served finish first
  if (metrics_thread_.joinable()) {
    metrics_server_.wait_until_ready();  // stop() before listen started would be lost
    metrics_server_.stop();
    metrics_thread_.join();
  }
}

void HttpServer::Impl::Stop() {
  // No new connections, and the idle ones are closed; the requests in flight finish,
  // streamed responses included (up to write_timeout); then the loop ends.
  server_.BeginStopping();
  loop_->StopAccepting();
  const auto deadline = Clock::now() + cfg_.write_timeout;
  while (deps_.health->inflight() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server_.FinishStop();
  loop_->Stop();
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
