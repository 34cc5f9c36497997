#include "server/connection.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <span>

#include <fmt/format.h>

#include "common/strings.h"
#include "executor/executor.h"
#include "logging/log.h"
#include "metrics/metrics.h"
#include "server/health.h"
#include "server/pipeline.h"
#include "server/request_target.h"

namespace hw::server {
namespace {

using Clock = std::chrono::steady_clock;

// `n` in decimal, in room of its own (no allocation): status codes, lengths and sizes in
// the response head and the access log.
struct Decimal {
  explicit Decimal(std::uint64_t n)
      : size(static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, n).ptr -
                                      digits)) {}
  std::string_view view() const { return {digits, size}; }
  char digits[20];
  std::size_t size;
};

constexpr std::string_view kInternalHeader = "X-OpenFaaS-Internal";
constexpr std::string_view kInternalValue = "hmac-watchdog";
constexpr std::string_view kInternalType = "text/plain; charset=utf-8";
// Busy clients send their next request at once: wait this long for it on the worker rather
// than pay a trip through the front loop for every request.
constexpr int kLingerMs = 20;
// A connection ended with unread request bytes is drained this long (and this much) first:
// closing a socket with unread bytes makes the kernel send a reset, which can destroy the
// response the client has not read yet (a 413 before a huge chunked body).
constexpr int kLingerCloseMs = 200;
constexpr std::size_t kLingerCloseBytes = 1024 * 1024;
constexpr std::size_t kReadChunk = 32 * 1024;
// The most room a loop's response buffer keeps between responses.
constexpr std::size_t kKeptResponseBytes = 64 * 1024;
// The front loop waits for the rest of a body up to this size itself, so that a pipelined
// flood of forged requests never needs a worker; a larger body is read by a worker.
constexpr std::uint64_t kLoopBodyBytes = 64 * 1024;

// The methods a function is called with.
bool IsFunctionMethod(std::string_view m) {
  return m == "GET" || m == "HEAD" || m == "OPTIONS" || m == "POST" || m == "PUT" || m == "PATCH" ||
         m == "DELETE";
}

bool IsReservedPath(std::string_view path) { return path == "/_/health" || path == "/_/ready"; }

// What the transport itself reads of a request's headers, in one pass over them: the first
// X-Call-Id and User-Agent, and "Upgrade: websocket" (any case, any position in the list).
struct TransportHeaders {
  const std::string* call_id = nullptr;
  const std::string* user_agent = nullptr;
  bool websocket = false;
};

TransportHeaders ReadTransportHeaders(const std::vector<executor::Header>& headers) {
  TransportHeaders out;
  for (const auto& h : headers) {
    switch (h.name.size()) {
      case 9:
        if (out.call_id == nullptr && IEquals(h.name, "X-Call-Id")) out.call_id = &h.value;
        break;
      case 10:
        if (out.user_agent == nullptr && IEquals(h.name, "User-Agent")) out.user_agent = &h.value;
        break;
      case 7:
        if (IEquals(h.name, "Upgrade")) {
          const std::string_view v = h.value;
          for (std::size_t i = 0; i + 9 <= v.size() && !out.websocket; ++i) {
            out.websocket = IEquals(v.substr(i, 9), "websocket");
          }
        }
        break;
      default:
        break;
    }
  }
  return out;
}

// "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 section 5.6.7), formatted once per second per
// worker thread (a cache of the clock, not request state).
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

// A status without a body by definition (RFC 9110 sections 15.2, 15.3.5, 15.4.5).
bool NoBodyStatus(int status) { return status < 200 || status == 204 || status == 304; }

executor::FunctionResponse Internal(int status, std::string text) {
  executor::FunctionResponse r;
  r.status = status;
  r.body = std::move(text);
  r.internal = true;
  r.headers.push_back({"Content-Type", std::string(kInternalType)});
  return r;
}

executor::FunctionResponse FromRejection(Rejection&& rejection) {
  auto r = Internal(rejection.status, std::move(rejection.body));
  for (auto& h : rejection.headers) r.headers.push_back(std::move(h));
  return r;
}

enum class Io { kOk, kTimedOut, kClosed, kError };

}  // namespace

// What one request has been through, from its first byte to its access-log line.
struct Exchange {
  Clock::time_point start;
  std::string method = "-";
  std::string log_path = "-";
  std::string call_id = "-";
  bool kube_probe = false;
  std::string_view outcome = "-";
  std::string_view scheme = "-";
  bool function_call = false;     // counted in the function metrics
  bool message_complete = false;  // the whole request was read: the connection may go on
};

// How far a request has come.
enum class Stage {
  kHead,     // its head is being parsed
  kChecks,   // its head is parsed: the transport's own answers (health, 501) come next
  kBegin,    // Pipeline::Begin comes next
  kBody,     // begun: its body is read next
  kDecide,   // its body is read and nothing refused it yet: Handle decides and runs it
  kClaimed,  // on the loop: its replay claim was answered on the loop's lane; Admit next
  kRun,      // admitted (Pipeline::Admit): the executor runs it
  kInvoked,  // admitted and started (Pipeline::Start): its invocation is finished next
};

// A request the front loop began and a worker (or the loop, later) goes on with.
struct BegunRequest {
  std::unique_ptr<RequestParser> parser;  // the head parsed so far
  Exchange ex;
  Stage stage = Stage::kHead;
  std::unique_ptr<PendingRequest> pending;                  // from kBody on
  std::unique_ptr<executor::PendingInvocation> invocation;  // at kInvoked

  static std::shared_ptr<BegunRequest> Park(
      Exchange& ex, Stage stage, std::unique_ptr<PendingRequest> pending,
      std::unique_ptr<executor::PendingInvocation> invocation = nullptr) {
    auto begun = std::make_shared<BegunRequest>();
    begun->ex = std::move(ex);
    begun->stage = stage;
    begun->pending = std::move(pending);
    begun->invocation = std::move(invocation);
    return begun;
  }
  // Moves the request out of `begun` (which is reset) for the caller to go on with.
  static void Resume(std::shared_ptr<BegunRequest>& begun, Exchange& ex, Stage& stage,
                     std::unique_ptr<PendingRequest>& pending,
                     std::unique_ptr<executor::PendingInvocation>& invocation) {
    ex = std::move(begun->ex);
    stage = begun->stage;
    pending = std::move(begun->pending);
    invocation = std::move(begun->invocation);
    begun.reset();
  }
};

namespace {

// Serves one client connection: on a worker, where every wait is bounded by the timeouts;
// or on the front loop, where nothing waits and whatever would is left to a worker.
class Connection {
 public:
  // `lanes` outlives the connection object (a worker's: kNoLanes).
  Connection(ClientConnection& c, const ConnectionServices& services, bool on_loop,
             const LoopLanes& lanes)
      : c_(c), s_(services), on_loop_(on_loop), lanes_(lanes) {
    if (c_.resume && c_.resume->parser) {
      parser_ = std::move(c_.resume->parser);
    } else if (lanes_.parsers != nullptr) {
      parser_ = lanes_.parsers->Take(services.limits);
    } else {
      parser_ = std::make_unique<RequestParser>(services.limits);
    }
  }
  ~Connection() {
    if (parser_ && lanes_.parsers != nullptr) lanes_.parsers->Give(std::move(parser_));
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  AfterServe Serve();      // on a worker
  LoopServed ServeHere();  // on the front loop

 private:
  std::string_view Unparsed() const { return std::string_view(c_.buffered).substr(offset_); }
  Io ReadMore(Clock::time_point deadline);
  // Receives up to `capacity` bytes into `out` (a worker waits for them until `deadline`; the
  // loop takes only what is there); `got` is set on kOk.
  Io Receive(char* out, std::size_t capacity, std::size_t& got, Clock::time_point deadline);
  bool WaitFor(short events, int timeout_ms) const;
  bool Send(std::initializer_list<std::string_view> parts);
  ReadResult ReadBody(const RequestParser::BodySink& sink, Body& body, Clock::time_point deadline,
                      Exchange& ex);
  // Serves the request whose head the parser has, from `stage` on; false: the connection
  // must end. On the loop, a request that needs a worker is left in begun_.
  bool ServeRequest(Exchange& ex, Clock::time_point deadline, Stage stage,
                    std::unique_ptr<PendingRequest> pending);
  // On the loop: leaves the request to a worker (begun_), or to a later call when more of
  // its body has arrived (waiting_).
  bool Defer(Exchange& ex, Stage stage, std::unique_ptr<PendingRequest> pending);
  bool Wait(Exchange& ex, Stage stage, std::unique_ptr<PendingRequest> pending);
  // An admitted request: on the loop, started if it can be and then awaited; on a worker,
  // run (kRun) or finished (kInvoked).
  bool Invoke(Exchange& ex, Stage stage, std::unique_ptr<PendingRequest> pending);
  // On the loop, a request whose signature matched and whose claim is decided: admitted and
  // run here (http mode), or left to a worker.
  bool Decided(Exchange& ex, std::unique_ptr<PendingRequest> pending);
  // On a worker: reads the body (unless read), decides, runs and answers, blocking.
  bool Handle(Exchange& ex, std::unique_ptr<PendingRequest> pending, const BodyReader& reader);
  // Writes `out` (and logs it); false when the connection must end.
  bool Respond(Exchange& ex, executor::FunctionResponse&& out, bool holds_slot);
  bool RespondResult(Exchange& ex, PipelineResult&& result);
  // The parser's refusal (400, 413, 414, 431, 505); the connection ends after it.
  void RespondParseError(Exchange& ex) {
    std::string text = parser_->error_text();
    if (text.empty() || text.back() != '\n') text += '\n';
    Respond(ex, Internal(parser_->error_status(), std::move(text)), false);
  }
  // `end`: when the response was written (or its stream ended).
  void AccessLog(const Exchange& ex, Clock::time_point end, int status, std::size_t bytes,
                 std::string_view stream = {}) const;
  AfterServe Close();
  LoopServed HandOff(std::shared_ptr<BegunRequest> begun);
  void Compact() {
    c_.buffered.erase(0, offset_);
    offset_ = 0;
  }

  ClientConnection& c_;
  const ConnectionServices& s_;
  const bool on_loop_;
  const LoopLanes& lanes_;  // on the loop: its lanes
  std::unique_ptr<RequestParser> parser_;
  std::size_t offset_ = 0;                 // bytes of c_.buffered the parser has taken
  std::shared_ptr<BegunRequest> begun_;    // on the loop: the request a worker goes on with
  std::shared_ptr<BegunRequest> waiting_;  // on the loop: the request whose body is due
  std::unique_ptr<executor::PendingInvocation> invocation_;  // of the request at kInvoked
};

bool Connection::WaitFor(short events, int timeout_ms) const {
  pollfd p{c_.fd, events, 0};
  while (true) {
    int r = ::poll(&p, 1, std::max(0, timeout_ms));
    if (r < 0 && errno == EINTR) continue;
    return r > 0 && (p.revents & (events | POLLHUP | POLLERR)) != 0;
  }
}

Io Connection::ReadMore(Clock::time_point deadline) {
  auto& buffer = c_.buffered;
  if (offset_ == buffer.size()) {
    buffer.clear();
    offset_ = 0;
  } else if (offset_ > kReadChunk) {
    buffer.erase(0, offset_);
    offset_ = 0;
  }
  // Into a buffer on the worker's stack, then appended: growing the string first would
  // zero-fill the whole chunk before every recv, and a heap buffer per connection leaves
  // freed chunks in every worker thread's malloc arena.
  char chunk[kReadChunk];
  std::size_t got = 0;
  const Io io = Receive(chunk, sizeof chunk, got, deadline);
  if (io == Io::kOk) buffer.append(chunk, got);
  return io;
}

Io Connection::Receive(char* out, std::size_t capacity, std::size_t& got,
                       Clock::time_point deadline) {
  while (true) {
    const ssize_t n = ::recv(c_.fd, out, capacity, 0);
    if (n > 0) {
      got = static_cast<std::size_t>(n);
      return Io::kOk;
    }
    if (n == 0) return Io::kClosed;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Io::kError;
    // The loop reads only what is buffered already (ServeHere checks that first).
    if (on_loop_) return Io::kError;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return Io::kTimedOut;
    if (!WaitFor(POLLIN, static_cast<int>(left) + 1) && Clock::now() >= deadline) {
      return Io::kTimedOut;
    }
  }
}

bool Connection::Send(std::initializer_list<std::string_view> parts) {
  if (on_loop_ && !c_.unsent.empty()) {
    for (auto part : parts) c_.unsent.append(part);  // behind what waits already, in order
    return true;
  }
  iovec iov[4];
  std::size_t count = 0;
  for (auto part : parts) {
    if (part.empty() || count == 4) continue;
    iov[count++] = iovec{const_cast<char*>(part.data()), part.size()};
  }
  const int timeout_ms = static_cast<int>(s_.write_timeout.count());
  std::size_t first = 0;
  while (first < count) {
    msghdr msg{};
    msg.msg_iov = iov + first;
    msg.msg_iovlen = count - first;
    ssize_t n = ::sendmsg(c_.fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      if (on_loop_) {
        // The socket is full: the worker the connection goes to writes the rest.
        for (; first < count; ++first) {
          c_.unsent.append(static_cast<const char*>(iov[first].iov_base), iov[first].iov_len);
        }
        return true;
      }
      if (!WaitFor(POLLOUT, timeout_ms)) return false;
      continue;
    }
    auto sent = static_cast<std::size_t>(n);
    while (first < count && sent >= iov[first].iov_len) sent -= iov[first++].iov_len;
    if (first < count) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + sent;
      iov[first].iov_len -= sent;
    }
  }
  return true;
}

AfterServe Connection::Close() {
  ::shutdown(c_.fd, SHUT_WR);
  int pending = 0;
  if (::ioctl(c_.fd, FIONREAD, &pending) == 0 && pending > 0) {
    const auto until = Clock::now() + std::chrono::milliseconds(kLingerCloseMs);
    char sink[16384];
    std::size_t dropped = 0;
    while (dropped < kLingerCloseBytes && Clock::now() < until) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
      if (!WaitFor(POLLIN, static_cast<int>(std::max<long>(1, left.count())))) break;
      ssize_t n = ::recv(c_.fd, sink, sizeof sink, 0);
      if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EINTR))) break;
      if (n > 0) dropped += static_cast<std::size_t>(n);
    }
  }
  ::close(c_.fd);
  c_.fd = -1;
  return AfterServe::kClosed;
}

AfterServe Connection::Serve() {
  // What the loop left: the rest of a response, then maybe the end, or a request to go on with.
  if (!c_.unsent.empty()) {
    const std::string unsent = std::move(c_.unsent);
    c_.unsent.clear();
    if (!Send({unsent})) return Close();
  }
  if (c_.close_after) return Close();
  std::shared_ptr<BegunRequest> begun = std::move(c_.resume);

  while (true) {
    Exchange ex;
    Stage stage = Stage::kHead;
    std::unique_ptr<PendingRequest> pending;
    if (begun) {
      BegunRequest::Resume(begun, ex, stage, pending, invocation_);
    } else {
      ex.start = c_.request_start != Clock::time_point{} ? c_.request_start : Clock::now();
      c_.request_start = {};
    }
    const auto deadline = ex.start + s_.read_timeout;

    // The head.
    std::size_t seen = 0;  // bytes of this request so far
    while (stage == Stage::kHead) {
      auto step = parser_->Feed(Unparsed());
      offset_ += step.consumed;
      seen += step.consumed;
      if (step.event == RequestParser::Event::kHead) {
        stage = Stage::kChecks;
        break;
      }
      if (step.event == RequestParser::Event::kError) {
        RespondParseError(ex);
        return Close();
      }
      const Io io = ReadMore(deadline);
      if (io == Io::kOk) continue;
      if (io == Io::kTimedOut && seen > 0) {
        log::Warn("connection cut: no complete request head within read_timeout");
        Respond(ex, Internal(408, "Request Timeout\n"), false);
      }
      return Close();
    }

    const bool go_on = ServeRequest(ex, deadline, stage, std::move(pending));
    c_.served_before = true;
    if (!go_on || !ex.message_complete || !parser_->head().keep_alive || s_.stopping->load()) {
      return Close();
    }
    if (!Unparsed().empty()) continue;  // pipelined: the next request is here already
    // The loop serves a busy client best when it runs verified requests itself.
    if (!s_.loop_invokes && WaitFor(POLLIN, kLingerMs)) continue;
    // Idle connections wait in the front loop holding only what they sent so far.
    Compact();
    c_.buffered.shrink_to_fit();
    return AfterServe::kKeep;
  }
}

LoopServed Connection::ServeHere() {
  const std::size_t head_limit = s_.limits.max_head_bytes + s_.limits.max_target_bytes;
  std::shared_ptr<BegunRequest> waiting = std::move(c_.resume);  // its body or answer was due
  c_.upstream_fd = -1;
  c_.awaiting_store = false;
  while (true) {
    Exchange ex;
    Stage stage = Stage::kChecks;
    std::unique_ptr<PendingRequest> pending;
    if (waiting) {
      BegunRequest::Resume(waiting, ex, stage, pending, invocation_);
    } else {
      if (!HasHeadEnd(Unparsed())) {
        if (Unparsed().size() > head_limit) return HandOff(nullptr);  // a worker answers 431
        Compact();
        c_.request_start = {};
        return LoopServed::kKeep;
      }
      ex.start = c_.request_start != Clock::time_point{} ? c_.request_start : Clock::now();
      c_.request_start = {};
      auto step = parser_->Feed(Unparsed());
      offset_ += step.consumed;
      if (step.event == RequestParser::Event::kError) {
        RespondParseError(ex);
        c_.close_after = true;
        return HandOff(nullptr);
      }
      if (step.event != RequestParser::Event::kHead) {
        return HandOff(BegunRequest::Park(ex, Stage::kHead, nullptr));
      }
    }
    const bool go_on = ServeRequest(ex, ex.start + s_.read_timeout, stage, std::move(pending));
    if (begun_) return HandOff(std::move(begun_));
    if (waiting_) {
      // Held by the loop until more of the body is here (read_timeout counts from its start),
      // or until the function answers.
      Compact();
      c_.request_start = waiting_->ex.start;
      if (auto& invocation = waiting_->invocation) {
        c_.upstream_fd = invocation->fd();
        c_.upstream_watched = invocation->watched();
        c_.upstream_deadline = invocation->deadline();
        invocation->set_watched();  // the loop watches it from now on
      }
      waiting_->parser = std::move(parser_);
      c_.resume = std::move(waiting_);
      return LoopServed::kKeep;
    }
    c_.served_before = true;
    if (!go_on || !ex.message_complete || !parser_->head().keep_alive || s_.stopping->load()) {
      c_.close_after = true;  // a worker writes what is left and closes, draining
      return HandOff(nullptr);
    }
    if (!c_.unsent.empty()) return HandOff(nullptr);
  }
}

LoopServed Connection::HandOff(std::shared_ptr<BegunRequest> begun) {
  Compact();
  if (begun) begun->parser = std::move(parser_);
  c_.resume = std::move(begun);
  return LoopServed::kDispatch;
}

bool Connection::Wait(Exchange& ex, Stage stage, std::unique_ptr<PendingRequest> pending) {
  waiting_ = BegunRequest::Park(ex, stage, std::move(pending), std::move(invocation_));
  return true;
}

bool Connection::Defer(Exchange& ex, Stage stage, std::unique_ptr<PendingRequest> pending) {
  // A worker uses the connection to the function from now on: the loop stops watching it.
  if (invocation_ && invocation_->watched()) c_.unwatch_fd = invocation_->fd();
  begun_ = BegunRequest::Park(ex, stage, std::move(pending), std::move(invocation_));
  return true;
}

bool Connection::Invoke(Exchange& ex, Stage stage, std::unique_ptr<PendingRequest> pending) {
  using Progress = executor::PendingInvocation::Progress;
  if (on_loop_) {
    if (stage == Stage::kRun) {
      invocation_ = s_.pipeline->Start(*pending, lanes_.invocations);
      if (!invocation_) return Defer(ex, Stage::kRun, std::move(pending));
      // Sent (the answer cannot be here yet), or a worker sends the rest.
      stage = Stage::kInvoked;
      if (invocation_->sent()) return Wait(ex, stage, std::move(pending));
      return Defer(ex, stage, std::move(pending));
    }
    switch (invocation_->Advance()) {
      case Progress::kWaiting:
        return Wait(ex, stage, std::move(pending));
      case Progress::kNeedsWorker:
        return Defer(ex, stage, std::move(pending));
      case Progress::kDone:
        break;
    }
    executor::FunctionResponse response = invocation_->TakeResponse();
    invocation_.reset();
    return RespondResult(ex, s_.pipeline->Complete(*pending, std::move(response), lanes_.store));
  }
  PipelineResult result;
  try {
    result = stage == Stage::kRun ? s_.pipeline->Run(*pending)
                                  : s_.pipeline->Finish(*pending, *invocation_);
  } catch (const std::exception& e) {
    log::Error(
        fmt::format("internal error while serving {} {}: {}", ex.method, ex.log_path, e.what()));
    invocation_.reset();
    ex.message_complete = false;
    return Respond(ex, Internal(500, "Internal Server Error\n"), false);
  }
  invocation_.reset();
  return RespondResult(ex, std::move(result));
}

ReadResult Connection::ReadBody(const RequestParser::BodySink& sink, Body& body,
                                Clock::time_point deadline, Exchange& ex) {
  // Once what was buffered is parsed, the body's bytes go from the socket straight into the
  // parser (and so into the sink): a body of announced length into the room reserved for it
  // (Body::Room), where it stays, and otherwise through a chunk on this stack. Either way a
  // large body is copied once in user space, not first into the connection's buffer.
  const std::uint64_t length = parser_->head().content_length;  // 0 when chunked
  char chunk[kReadChunk];
  while (true) {
    std::string_view input = Unparsed();
    bool direct = false;
    if (input.empty()) {
      char* into = chunk;
      std::size_t capacity = sizeof chunk;
      if (length > parser_->body_bytes()) {
        // Only the body's own bytes: what follows it (a pipelined request) must not land there.
        const std::uint64_t due = length - parser_->body_bytes();
        if (std::span<char> room = body.Room();
            room.size() >= std::min<std::uint64_t>(due, sizeof chunk)) {
          into = room.data();
          capacity = static_cast<std::size_t>(std::min<std::uint64_t>(due, room.size()));
        }
      }
      std::size_t got = 0;
      switch (Receive(into, capacity, got, deadline)) {
        case Io::kOk:
          break;
        case Io::kTimedOut:
          return ReadResult::kTimedOut;
        case Io::kClosed:
        case Io::kError:
          return ReadResult::kError;
      }
      input = std::string_view(into, got);
      direct = true;
    }
    auto step = parser_->Feed(input, &sink);
    if (direct) {
      // What the parser left (the next pipelined request's first bytes) is kept as buffered.
      c_.buffered.assign(input.substr(step.consumed));
      offset_ = 0;
    } else {
      offset_ += step.consumed;
    }
    if (step.event == RequestParser::Event::kMessageEnd) {
      ex.message_complete = true;
      return ReadResult::kOk;
    }
    if (step.event == RequestParser::Event::kError) {
      if (!parser_->sink_stopped() && parser_->error_status() == 413) return ReadResult::kTooLarge;
      return ReadResult::kError;
    }
  }
}

bool Connection::ServeRequest(Exchange& ex, Clock::time_point deadline, Stage stage,
                              std::unique_ptr<PendingRequest> pending) {
  if (stage == Stage::kRun || stage == Stage::kInvoked) {
    return Invoke(ex, stage, std::move(pending));
  }
  if (stage == Stage::kClaimed) {
    // Only the loop parks a request at kClaimed, and it never hands one over before its claim
    // is answered: Admit waits on nothing now, wherever it runs. Unless the lane could not
    // claim after all (a Redis before 7.0): a worker claims.
    if (on_loop_ && !s_.pipeline->ClaimAnswered(*pending)) {
      return Defer(ex, Stage::kDecide, std::move(pending));
    }
    return on_loop_ ? Decided(ex, std::move(pending)) : Handle(ex, std::move(pending), nullptr);
  }
  if (stage == Stage::kChecks) {
    const ParsedHead& head = parser_->head();
    ex.method = head.method;
    const TransportHeaders seen = ReadTransportHeaders(head.headers);
    if (seen.call_id != nullptr && !seen.call_id->empty()) ex.call_id = *seen.call_id;
    if (seen.user_agent != nullptr) ex.kube_probe = seen.user_agent->starts_with("kube-probe/");
    // A request without a body is complete with its head.
    if (!head.has_body) {
      auto step = parser_->Feed(Unparsed());
      offset_ += step.consumed;
      ex.message_complete = step.event == RequestParser::Event::kMessageEnd;
    }

    auto target = ParseRequestTarget(head.target);
    if (target && IsReservedPath(target->path)) {
      ex.log_path = target->path;
      if (head.method != "GET") {
        auto r = Internal(405, "Method Not Allowed\n");
        r.headers.push_back({"Allow", "GET"});
        return Respond(ex, std::move(r), false);
      }
      int status =
          target->path == "/_/health" ? s_.health->HealthStatus() : s_.health->ReadyStatus();
      return Respond(ex, Internal(status, status == 200 ? "OK" : StatusText(status)), false);
    }
    // The watchdog neither speaks WebSocket nor forwards upgrades: say so instead of serving
    // the request as something else.
    if (seen.websocket) {
      ex.log_path = target ? target->path : std::string("-");
      ex.message_complete = false;
      return Respond(ex, Internal(501, "Not Implemented: WebSocket upgrades are not supported\n"),
                     false);
    }
    if (!IsFunctionMethod(head.method)) {
      ex.log_path = target ? target->path : std::string("-");
      ex.message_complete = false;
      return Respond(
          ex,
          Internal(501, fmt::format("Not Implemented: the {} method is not served\n", head.method)),
          false);
    }
    stage = Stage::kBegin;
  }
  if (stage == Stage::kBegin) {
    if (on_loop_ && !s_.pipeline->BeginsWithoutWaiting()) {
      return Defer(ex, Stage::kBegin, nullptr);
    }
    ParsedHead& head = parser_->mutable_head();
    RequestHead request_head;
    request_head.method = head.method;
    request_head.target = head.target;
    request_head.remote_addr = c_.remote_addr;
    request_head.headers = std::move(head.headers);  // nothing here reads them after Begin
    request_head.has_body = head.has_body;
    HeadResult began = s_.pipeline->Begin(std::move(request_head));
    ex.log_path = began.log_path.empty() ? "-" : std::move(began.log_path);
    if (began.rejection) {
      ex.outcome = began.rejection->outcome;
      ex.scheme = began.rejection->scheme;
      return Respond(ex, FromRejection(std::move(*began.rejection)), false);
    }
    pending = std::move(began.request);
    stage = Stage::kBody;
  }

  const ParsedHead& head = parser_->head();
  BodyReader reader;
  if (stage == Stage::kBody && head.has_body) {
    reader = [this, deadline, &ex](const RequestParser::BodySink& sink, Body& body) {
      return ReadBody(sink, body, deadline, ex);
    };
  }
  if (on_loop_) {
    // The body must be here already, whole (an announced length, no 100 Continue to send):
    // the loop reads nothing more. Then a forged request is answered without a worker.
    const auto length = pending->content_length();
    if (head.has_body &&
        (head.chunked || head.expect_continue || !length || Unparsed().size() < *length)) {
      const bool small =
          !head.chunked && !head.expect_continue && length && *length <= kLoopBodyBytes;
      if (small && !s_.stopping->load()) return Wait(ex, Stage::kBody, std::move(pending));
      return Defer(ex, Stage::kBody, std::move(pending));
    }
    if (auto failed = s_.pipeline->ReadBody(*pending, reader)) {
      return RespondResult(ex, std::move(*failed));
    }
    if (auto refused = s_.pipeline->RefuseNow(*pending)) {
      return RespondResult(ex, std::move(*refused));
    }
    if (s_.stopping->load() || !c_.unsent.empty()) {
      return Defer(ex, Stage::kDecide, std::move(pending));
    }
    // A matching signature: its replay claim goes out on the loop's store lane (Redis), and
    // the request waits in the loop for the answer, costing no worker.
    // A store lane is used only with a way back to this connection; that callback holds a
    // pointer and a descriptor (no allocation on the way of every verified request).
    replay::StoreLane* const store = lanes_.ready ? lanes_.store : nullptr;
    std::function<void()> claimed;
    if (store != nullptr) claimed = [ready = &lanes_.ready, fd = c_.fd] { (*ready)(fd); };
    switch (s_.pipeline->StartClaim(*pending, store, std::move(claimed))) {
      case signature::Check::ClaimStep::kNeedsWorker:
        return Defer(ex, Stage::kDecide, std::move(pending));
      case signature::Check::ClaimStep::kWaiting:
        c_.awaiting_store = true;
        return Wait(ex, Stage::kClaimed, std::move(pending));
      case signature::Check::ClaimStep::kDecided:
        break;
    }
    return Decided(ex, std::move(pending));
  }
  if (reader && head.expect_continue && !Send({"HTTP/1.1 100 Continue\r\n\r\n"})) return false;
  return Handle(ex, std::move(pending), reader);
}

bool Connection::Decided(Exchange& ex, std::unique_ptr<PendingRequest> pending) {
  // The loop admits and runs it too when nothing there waits (http mode), unless the
  // connection is ending or has a response still to write.
  if (!s_.loop_invokes || s_.stopping->load() || !c_.unsent.empty()) {
    return Defer(ex, Stage::kDecide, std::move(pending));
  }
  if (auto refused = s_.pipeline->Admit(*pending)) {
    return RespondResult(ex, std::move(*refused));
  }
  return Invoke(ex, Stage::kRun, std::move(pending));
}

bool Connection::Handle(Exchange& ex, std::unique_ptr<PendingRequest> pending,
                        const BodyReader& reader) {
  PipelineResult result;
  try {
    result = s_.pipeline->Handle(*pending, reader);
  } catch (const std::exception& e) {
    log::Error(
        fmt::format("internal error while serving {} {}: {}", ex.method, ex.log_path, e.what()));
    ex.message_complete = false;
    return Respond(ex, Internal(500, "Internal Server Error\n"), false);
  }
  return RespondResult(ex, std::move(result));
}

bool Connection::RespondResult(Exchange& ex, PipelineResult&& result) {
  ex.outcome = result.outcome;
  ex.scheme = result.scheme;
  ex.function_call = result.function_called;
  return Respond(ex, std::move(result.response), result.holds_slot);
}

bool Connection::Respond(Exchange& ex, executor::FunctionResponse&& out, bool holds_slot) {
  const ParsedHead& head = parser_->head();
  const bool head_only = ex.method == "HEAD";
  const bool no_body = NoBodyStatus(out.status);
  const bool http10 = head.version_minor == 0 && !head.method.empty();
  bool closing = !ex.message_complete || !head.keep_alive || head.upgrade || s_.stopping->load() ||
                 head.method.empty();
  const bool chunked = out.stream && !out.stream_length && !http10 && !no_body;
  if (out.stream && !out.stream_length && http10) closing = true;  // ends with the connection

  // The head is appended piece by piece (fmt's format string parsing cost more than the rest
  // of writing it: 3,600 instructions a response).
  // On a loop, in the loop's response buffer (its room stays for the next response: an
  // allocation a request fewer); Send takes all of it or copies what the socket left.
  std::string own_text;
  std::string& text = lanes_.response_buffer != nullptr ? *lanes_.response_buffer : own_text;
  if (text.capacity() > kKeptResponseBytes) std::string().swap(text);
  text.clear();
  text.reserve(256 + (out.stream ? 0 : out.body.size()));
  auto append_header = [&text](std::string_view name, std::string_view value) {
    text.append(name).append(": ").append(value).append("\r\n");
  };
  text.append("HTTP/1.1 ").append(Decimal(static_cast<std::uint64_t>(out.status)).view());
  text.push_back(' ');
  text.append(StatusText(out.status)).append("\r\n");
  bool has_type = false;
  bool has_date = false;
  for (const auto& h : out.headers) {
    if (IEquals(h.name, "Content-Length") || IEquals(h.name, "Transfer-Encoding") ||
        IEquals(h.name, "Connection") || IEquals(h.name, "Keep-Alive")) {
      continue;  // framing is the watchdog's
    }
    has_type = has_type || IEquals(h.name, "Content-Type");
    has_date = has_date || IEquals(h.name, "Date");
    append_header(h.name, h.value);
  }
  if (out.internal) append_header(kInternalHeader, kInternalValue);
  if (!has_date) append_header("Date", HttpDate());
  if (!no_body) {
    if (out.stream) {
      if (!has_type) text += "Content-Type: application/octet-stream\r\n";
      if (out.stream_length) {
        append_header("Content-Length", Decimal(*out.stream_length).view());
      } else if (chunked) {
        text += "Transfer-Encoding: chunked\r\n";
      }
    } else {
      if (!has_type && !out.body.empty()) text += "Content-Type: text/plain\r\n";
      append_header("Content-Length", Decimal(out.body.size()).view());
    }
  }
  if (closing) {
    text += "Connection: close\r\n";
  } else if (http10) {
    text += "Connection: keep-alive\r\n";
  }
  text += "\r\n";

  if (!out.stream) {
    const std::string_view body = head_only || no_body ? std::string_view() : out.body;
    // Logged before the bytes go out: a client that reads the log right after the response
    // finds its line.
    const auto end = Clock::now();
    if (ex.function_call) {
      s_.metrics->RequestFinished(ex.method, out.status,
                                  std::chrono::duration<double>(end - ex.start).count());
    }
    AccessLog(ex, end, out.status, out.body.size());
    if (body.size() <= 16 * 1024) {
      text.append(body);
      return Send({text}) && !closing;
    }
    return Send({text, body}) && !closing;
  }

  // A streamed body: the max_inflight slot, the metrics and the log line end with it. When
  // its first chunk is at hand (a forked function's first output), the head goes out with
  // that chunk in one send rather than alone.
  std::size_t bytes = 0;
  bool head_pending = out.stream->FirstChunkReady();
  bool ok = head_pending || Send({text});
  if (ok) {
    char size_line[24];
    ok = out.stream->Pump([&](std::string_view chunk) {
      if (s_.cut_streams->load()) return false;
      bytes += chunk.size();
      const std::string_view head = head_pending ? std::string_view(text) : std::string_view();
      head_pending = false;
      if (head_only || no_body || chunk.empty()) return head.empty() || Send({head});
      if (!chunked) return Send({head, chunk});
      auto end = fmt::format_to_n(size_line, sizeof size_line - 2, "{:x}", chunk.size()).out;
      *end++ = '\r';
      *end++ = '\n';
      return Send({head, std::string_view(size_line, static_cast<std::size_t>(end - size_line)),
                   chunk, "\r\n"});
    });
    if (ok && head_pending) ok = Send({text});  // the stream wrote nothing
  }
  out.stream.reset();  // the function's pipes and process go before the slot is given back
  if (holds_slot) s_.health->Release();
  const auto end = Clock::now();
  s_.metrics->RequestFinished(ex.method, out.status,
                              std::chrono::duration<double>(end - ex.start).count());
  AccessLog(ex, end, out.status, bytes, ok ? "complete" : "cut");
  if (ok && chunked && !head_only) ok = Send({"0\r\n\r\n"});
  return ok && !closing;
}

void Connection::AccessLog(const Exchange& ex, Clock::time_point end, int status, std::size_t bytes,
                           std::string_view stream) const {
  if (ex.kube_probe) return;
  const Decimal status_text(static_cast<std::uint64_t>(status));
  const Decimal bytes_text(bytes);
  const std::string duration = log::SecondsText(end - ex.start);
  const log::Field fields[] = {
      {"method", ex.method},        {"path", ex.log_path},   {"status", status_text.view()},
      {"bytes", bytes_text.view()}, {"duration", duration},  {"outcome", ex.outcome},
      {"scheme", ex.scheme},        {"call_id", ex.call_id}, {"stream", stream}};
  // The stream field only for a streamed body.
  const std::size_t count = stream.empty() ? std::size(fields) - 1 : std::size(fields);
  log::WriteFields(stream == "cut" ? log::Level::kWarn : log::Level::kInfo, "request",
                   std::span(fields, count));
}

}  // namespace

std::unique_ptr<RequestParser> ParserPool::Take(const ParseLimits& limits) {
  if (spare_.empty()) return std::make_unique<RequestParser>(limits);
  std::unique_ptr<RequestParser> parser = std::move(spare_.back());
  spare_.pop_back();
  return parser;
}

void ParserPool::Give(std::unique_ptr<RequestParser> parser) {
  if (spare_.size() >= kKept) return;
  parser->Reset();
  spare_.push_back(std::move(parser));
}

AfterServe ServeConnection(ClientConnection& connection, const ConnectionServices& services) {
  static const LoopLanes kNoLanes;
  Connection c(connection, services, false, kNoLanes);
  return c.Serve();
}

LoopServed ServeOnLoop(ClientConnection& connection, const ConnectionServices& services,
                       const LoopLanes& lanes) {
  Connection c(connection, services, true, lanes);
  return c.ServeHere();
}

const char* StatusText(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 203:
      return "Non-Authoritative Information";
    case 204:
      return "No Content";
    case 205:
      return "Reset Content";
    case 206:
      return "Partial Content";
    case 300:
      return "Multiple Choices";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 421:
      return "Misdirected Request";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 426:
      return "Upgrade Required";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    case 507:
      return "Insufficient Storage";
    default:
      return "Unknown";
  }
}

}  // namespace hw::server
