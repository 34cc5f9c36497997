#include "executor/serializing.h"

#include <signal.h>

#include <fmt/format.h>

#include "logging/log.h"

namespace hw::executor {

FunctionResponse SerializingExecutor::Invoke(const FunctionRequest& request) {
  const auto start = std::chrono::steady_clock::now();
  const config::ProcessOptions& cfg = launcher_.options();
  auto child = launcher_.Launch(request);
  if (!child) {
    log::Error(fmt::format("cannot start the function: {}", child.error().message));
    auto r = InternalResponse(500, "Function process could not be started\n");
    r.headers.push_back({"X-Duration-Seconds", DurationSeconds(start)});
    return r;
  }
  std::size_t offset = 0;
  std::string output;
  bool too_large = false;
  PumpOptions options = launcher_.PumpSettings(request, &offset);
  ChildProcess* process = &*child;
  const std::size_t limit = cfg.max_response_bytes;
  options.on_stdout = [&output, &too_large, process, limit](std::string_view chunk) {
    if (too_large) return true;  // draining what is left after the kill
    if (output.size() + chunk.size() > limit) {
      too_large = true;
      output.clear();
      output.shrink_to_fit();
      process->KillGroup(SIGKILL);
      return true;
    }
    output.append(chunk);
    return true;
  };
  ProcessPump pump(*child, std::move(options));
  auto result = pump.Run();

  FunctionResponse r;
  if (!result) {
    log::Error(fmt::format("function I/O failed: {}", result.error().message));
    r = InternalResponse(500, "Function process failed\n");
  } else if (too_large) {
    log::Warn(
        fmt::format("function output exceeded max_response_bytes ({} bytes): process "
                    "group killed",
                    cfg.max_response_bytes));
    r = InternalResponse(500, "Function output too large (max_response_bytes)\n");
  } else if (result->outcome == PumpOutcome::kTimedOut) {
    log::Warn(fmt::format("function exceeded exec_timeout ({} ms): process group killed",
                          cfg.exec_timeout.count()));
    r = ExecTimeoutResponse();
  } else if (!result->status.success()) {
    log::Warn(fmt::format("function failed: {}; {} bytes of output discarded",
                          result->status.Describe(), output.size()));
    r = InternalResponse(500,
                         fmt::format("Function process failed: {}\n", result->status.Describe()));
  } else {
    if (cfg.write_debug) log::FunctionOutput("stdout", output, cfg.prefix_logs);
    r.status = 200;
    r.headers.push_back({"Content-Type", launcher_.ContentType()});
    r.body = std::move(output);
  }
  r.headers.push_back({"X-Duration-Seconds", DurationSeconds(start)});
  return r;
}

}  // namespace hw::executor
