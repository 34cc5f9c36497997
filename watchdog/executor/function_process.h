// What the fork modes (serializing, streaming) share: starting the function for one request
// with the Http_* environment, feeding it the verified body, logging its stderr, and the
// response headers every fork-mode answer carries.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "executor/executor.h"
#include "executor/process.h"
#include "executor/process_pump.h"

namespace hw::metrics {
class Metrics;
}

namespace hw::executor {

// "x-hub-signature-256" -> "Http_X_Hub_Signature_256" (Go's canonical header form, '-' -> '_').
std::string HeaderEnvName(std::string_view header);

// The function's environment: `base` (the watchdog's own) plus, with cgi_headers, Http_* for
// each request header (first value only), Http_Method, Http_Path, Http_Query (when
// non-empty), Http_Content_Length and Http_ContentLength (the body's length). Every name
// appears once: the watchdog's own values always win (a client header that maps to
// Http_Method, Http_Path, Http_Query, Http_Content_Length or Http_ContentLength is dropped,
// even when the watchdog leaves that variable unset), then X-Webhook-Verified, then the first
// of the client headers that map to one name; `base` entries with a name already taken are
// left out (logged at debug for headers).
std::vector<std::string> FunctionEnvironment(const std::vector<std::string>& base,
                                             const FunctionRequest& request, bool cgi_headers);

class FunctionLauncher {
 public:
  FunctionLauncher(const config::ProcessOptions& options, metrics::Metrics* metrics);

  // Starts fprocess for `request`; counts the spawn (or the failure) in the metrics.
  Expected<ChildProcess> Launch(const FunctionRequest& request) const;
  // Pump settings: stdin from the request body, stderr lines to the log, exec_timeout. The
  // input reads request.body, so the pump must not run after the request is gone (streaming
  // mode replaces the input before it returns; see StreamingExecutor).
  PumpOptions PumpSettings(const FunctionRequest& request, std::size_t* input_offset) const;
  // The response's Content-Type: content_type, else application/octet-stream whatever the
  // request's type (as of-watchdog 0.10.10 does in both fork modes; the classic watchdog's
  // echo of the request's type is not reproduced: set content_type to fix a type instead).
  std::string ContentType() const;
  const config::ProcessOptions& options() const { return options_; }

 private:
  const config::ProcessOptions& options_;
  metrics::Metrics* metrics_;
  std::vector<std::string> base_env_;
};

// "0.012345" seconds since start, for X-Duration-Seconds.
std::string DurationSeconds(std::chrono::steady_clock::time_point start);

}  // namespace hw::executor
