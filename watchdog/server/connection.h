// One client connection served on a worker thread: its requests are parsed
// (request_parser.h), taken through the pipeline (pipeline.h) and answered one after
// another, pipelined ones in order. Every wait is bounded: a request, head and body, must
// arrive within read_timeout of its first byte; a write may wait write_timeout. The state of
// a request lives in one Exchange object on the worker's stack, from the head to the access
// log line.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "server/front_loop.h"
#include "server/request_parser.h"

namespace hw::metrics {
class Metrics;
}
namespace hw::executor {
class InvocationLane;
}
namespace hw::replay {
class StoreLane;
}

namespace hw::server {

class Health;
class Pipeline;

// What every connection shares: read-only, or thread-safe.
struct ConnectionServices {
  const Pipeline* pipeline;
  Health* health;
  metrics::Metrics* metrics;
  config::Duration read_timeout;
  config::Duration write_timeout;
  ParseLimits limits;
  const std::atomic<bool>* stopping;     // answer the current request, then close
  const std::atomic<bool>* cut_streams;  // streamed responses give up (end of the drain)
  // The front loop runs verified requests itself (Pipeline::DecidesOnLoop and an
  // executor that starts without waiting: http mode): workers then give connections back
  // after each request instead of lingering on them.
  bool loop_invokes = false;
};

enum class AfterServe {
  kKeep,    // idle, keep-alive: give it back to the front loop (buffered bytes kept)
  kClosed,  // closed here
};

// Serves the requests on `connection` (its head is complete or over the limit): pipelined
// ones from the buffer, and the next one if it arrives within a short linger. First writes
// and goes on with what the front loop left (ServeOnLoop). Never throws.
AfterServe ServeConnection(ClientConnection& connection, const ConnectionServices& services);

enum class LoopServed {
  kKeep,      // every complete request buffered was answered: the loop holds the connection
  kDispatch,  // a worker goes on: its unsent bytes, its closing, or a request in resume
};

// On the front loop's thread, waiting on nothing: answers the complete requests at the front
// of `connection.buffered` that the watchdog answers itself without waiting (health, 501, a
// refused head, a forged signature over a body that is here whole), so floods of forged
// requests never occupy a worker. Stops at the first request that needs a worker (a matching
// signature, a body still to come, auth_routes methods, a response the socket does not take
// at once, a closing connection) and leaves its state in the connection. Never throws.
// Request parsers a front loop keeps for the requests it serves (loop thread only): a
// request takes one and the loop gets it back once the request is answered, instead of
// making one for every request. At most `kKept` are kept.
class ParserPool {
 public:
  std::unique_ptr<RequestParser> Take(const ParseLimits& limits);
  void Give(std::unique_ptr<RequestParser> parser);

 private:
  static constexpr std::size_t kKept = 64;
  std::vector<std::unique_ptr<RequestParser>> spare_;
};

// What the calling loop lends the requests it serves; every member may be null.
struct LoopLanes {
  executor::InvocationLane* invocations = nullptr;  // for the invocations it starts
  replay::StoreLane* store = nullptr;               // for replay claims, keeps and releases
  // Called (on the loop thread) with a connection's descriptor when the claim its request
  // waits on (ClientConnection::awaiting_store) is answered: serve it again.
  std::function<void(int fd)> ready;
  ParserPool* parsers = nullptr;
  std::string* response_buffer = nullptr;  // a response's head (and small body) is made here
};
LoopServed ServeOnLoop(ClientConnection& connection, const ConnectionServices& services,
                       const LoopLanes& lanes = {});

// The reason phrase of a status code ("Not Found"); "Unknown" for codes without one.
const char* StatusText(int status);

}  // namespace hw::server
