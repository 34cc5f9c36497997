// The contract between the server and the function: a verified request goes in, a response
// (whole, or streamed) comes out. One implementation per mode (serializing, streaming, http,
// static). Nothing here sees the HTTP library.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/body.h"
#include "common/expected.h"

namespace hw::executor {

struct Header {
  std::string name;
  std::string value;
};

// A request that passed verification and the limiter.
struct FunctionRequest {
  std::string_view method;
  std::string_view path;    // decoded path, e.g. "/hook"
  std::string_view target;  // raw request target as sent: path and query
  std::string_view query;   // raw query, without '?'
  std::string_view remote_addr;
  // Headers as received (names as sent), plus X-Webhook-Verified when a signature was valid;
  // any client copy of X-Webhook-Verified has been removed.
  const std::vector<Header>& headers;
  const Body& body;
};

// A response body produced while it is sent.
class BodyStream {
 public:
  virtual ~BodyStream() = default;
  // Calls `write` with each chunk until the body ends. Returns true when the body ended
  // normally; false when `write` returned false (client gone) or the source failed, in which
  // case the connection is cut.
  virtual bool Pump(const std::function<bool(std::string_view)>& write) = 0;
  // True when Pump's first `write` comes at once, with bytes already read (a forked
  // function's first output): the response head can then go out with them in one send.
  virtual bool FirstChunkReady() const { return false; }
};

struct FunctionResponse {
  int status = 200;
  std::vector<Header> headers;
  std::string body;                          // used when stream is null
  std::unique_ptr<BodyStream> stream;        // streamed body: chunked unless stream_length is set
  std::optional<std::size_t> stream_length;  // exact length of the streamed body, if known
  bool internal = false;  // made by the watchdog, not the function: X-OpenFaaS-Internal
};

// An invocation that does not hold a thread while the function works (http mode, served on
// the front loop): the request went out when it was started; the loop calls Advance whenever
// fd() is readable (and has stopped watching fd() before the call: the connection may go back
// to a pool). What cannot be finished without waiting (a response streamed or larger than
// what is buffered, an interim 1xx, a connection that broke and may be retried, the deadline)
// a worker finishes with Finish, which blocks within the invocation's deadline.
class PendingInvocation {
 public:
  virtual ~PendingInvocation() = default;
  virtual int fd() const = 0;
  // When a worker must take over (exec_timeout); time_point::max() without one.
  virtual std::chrono::steady_clock::time_point deadline() const = 0;
  // Whether the whole request went out (otherwise only a worker goes on: Finish).
  virtual bool sent() const = 0;
  // Whether fd() is watched by the loop already (a connection its lane kept, or marked by the
  // loop when it began watching it): the loop stops watching it before a worker takes over.
  virtual bool watched() const { return false; }
  virtual void set_watched() {}
  enum class Progress { kWaiting, kDone, kNeedsWorker };
  virtual Progress Advance() = 0;               // never blocks
  virtual FunctionResponse TakeResponse() = 0;  // after kDone
  // On a worker, with the request the invocation was started with.
  virtual FunctionResponse Finish(const FunctionRequest& request) = 0;
};

// What one front loop keeps for its own invocations between requests (http mode: idle
// connections to the function, which the loop goes on watching, so that reusing one costs no
// system call). Used on that loop's thread only.
class InvocationLane {
 public:
  virtual ~InvocationLane() = default;
  // The loop saw `fd` readable and it is none of its connections or awaited descriptors:
  // true when it was one of the lane's idle connections (the function closed it, or sent
  // bytes nobody asked for), which is then closed (and so no longer watched).
  virtual bool OnIdleReadable(int fd) = 0;
  // The loop has waited for events and passed those of idle connections to OnIdleReadable,
  // before serving any request. When `complete` (the wait returned every ready descriptor),
  // a connection kept before this wait is open as far as the wait could tell, and needs no
  // check of its own when this turn takes it.
  virtual void Waited(bool complete) { (void)complete; }
};

class Executor {
 public:
  virtual ~Executor() = default;
  // Prepares the function before traffic is admitted (http mode: starts the function process
  // and waits until it accepts connections). Fails with a message for the operator.
  virtual Status Start() { return Ok{}; }
  // True when Start may wait (for the function process): it is then run on a thread of its
  // own while signals are taken. False: Start returns at once.
  virtual bool StartMayWait() const { return false; }
  // Thread-safe: a Start waiting on another thread gives up soon with an error (SIGTERM
  // before the function was ready).
  virtual void CancelStart() {}
  // Called after the drain on shutdown (http mode: SIGTERM to the function, then wait).
  virtual void Shutdown() {}
  // Runs the function for one request. Thread-safe; never throws for a failing function
  // (that is a 5xx response).
  virtual FunctionResponse Invoke(const FunctionRequest& request) = 0;
  // True when Start can begin invocations without waiting (http mode).
  virtual bool StartsWithoutWaiting() const { return false; }
  // Begins the invocation without blocking when it can (http mode with an idle upstream
  // connection and the body in memory); null otherwise, and then nothing was sent: Invoke.
  // `lane` (may be null): the calling loop's, from NewLane.
  virtual std::unique_ptr<PendingInvocation> Start(const FunctionRequest& request,
                                                   InvocationLane* lane) {
    (void)request;
    (void)lane;
    return nullptr;
  }
  // A lane for one front loop (null when Start needs none).
  virtual std::unique_ptr<InvocationLane> NewLane() { return nullptr; }
};

// A response the watchdog itself makes (5xx and the like), marked internal.
FunctionResponse InternalResponse(int status, std::string text);
// The 504 every mode answers when exec_timeout ends an invocation.
FunctionResponse ExecTimeoutResponse();

}  // namespace hw::executor
