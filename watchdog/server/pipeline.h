// The request pipeline without the HTTP library: head checks, signature verification while
// the raw body is read, the max_inflight limiter, then the executor. http_server.cc adapts
// cpp-httplib to it; the fuzz target drives it in process. A request the pipeline rejects
// never reaches the executor.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "executor/executor.h"

namespace hw::signature {
class Verifier;
}
namespace hw::metrics {
class Metrics;
}

namespace hw::server {

class Health;

// A response the watchdog makes itself, before or instead of the function.
struct Rejection {
  int status;
  std::string body;
  std::string_view outcome = "-";  // verification outcome to log, if it got that far
};

// Checks that need only the request head, run before anything reads the body: header values
// with CR, LF or NUL (400), the head's size (431), conflicting or invalid Content-Length
// (400) and a Content-Length over max_body_bytes (413).
std::optional<Rejection> CheckHead(const config::Config& config,
                                   const std::vector<executor::Header>& headers,
                                   std::string_view method, std::string_view target);

enum class ReadResult { kOk, kTooLarge, kTimedOut, kError };

struct PipelineRequest {
  std::string_view method;
  std::string_view path;
  std::string_view target;
  std::string_view remote_addr;
  std::vector<executor::Header> headers;  // as received (X-Webhook-Verified is dropped here)
  // Delivers the raw body in chunks to `sink` (which returns false to stop reading). Null:
  // the request has no body.
  std::function<ReadResult(const std::function<bool(std::string_view)>& sink)> read_body;
};

struct PipelineResult {
  executor::FunctionResponse response;
  std::string_view outcome = "-";
  std::string_view scheme = "-";
  bool function_called = false;  // counted in the function metrics
  bool holds_slot = false;       // a streamed response keeps its max_inflight slot: Release()
};

class Pipeline {
 public:
  Pipeline(const config::Config& config, const signature::Verifier& verifier,
           executor::Executor& executor, metrics::Metrics& metrics, Health& health);

  // Runs one request through verification and, if admitted, the executor. Thread-safe.
  PipelineResult Handle(PipelineRequest request) const;

 private:
  const config::Config& config_;
  const signature::Verifier& verifier_;
  executor::Executor& executor_;
  metrics::Metrics& metrics_;
  Health& health_;
};

}  // namespace hw::server
