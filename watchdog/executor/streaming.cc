#include "executor/streaming.h"

#include <memory>
#include <vector>

#include <fmt/format.h>

#include "logging/log.h"

namespace hw::executor {
namespace {

// The running function and its pump, owned by the response body after the headers went out.
// The pump outlives Invoke while the request (and its Body) does not: the input reads
// `source` only during Invoke, and `rest`, an owned copy of what was not yet written to
// stdin, after it.
struct Running {
  ChildProcess child;
  const Body* source = nullptr;  // the request's body, valid only during Invoke
  std::unique_ptr<Body> rest;    // body bytes from rest_base on, once Invoke returned
  std::size_t rest_base = 0;
  std::size_t input_offset = 0;  // body bytes handed to the pump so far
  std::string first;             // output read before the status was decided
  std::function<bool(std::string_view)> sink;
  std::unique_ptr<ProcessPump> pump;
  std::chrono::milliseconds exec_timeout{0};

  explicit Running(ChildProcess c) : child(std::move(c)) {}
};

class StreamedOutput final : public BodyStream {
 public:
  explicit StreamedOutput(std::unique_ptr<Running> running) : running_(std::move(running)) {}

  bool Pump(const std::function<bool(std::string_view)>& write) override {
    auto& r = *running_;
    if (!r.first.empty() && !write(r.first)) return false;
    r.first.clear();
    bool client_gone = false;
    r.sink = [&](std::string_view chunk) {
      if (write(chunk)) return true;
      client_gone = true;
      return false;
    };
    auto result = r.pump->Run();
    r.sink = nullptr;
    if (client_gone) {
      log::Warn("client went away while the function was streaming: process group killed");
      return false;  // ~ChildProcess kills the group
    }
    if (!result) {
      log::Error(fmt::format("function I/O failed: {}", result.error().message));
      return false;
    }
    if (result->outcome == PumpOutcome::kTimedOut) {
      log::Warn(
          fmt::format("function exceeded exec_timeout ({} ms) after output started: response cut",
                      r.exec_timeout.count()));
      return false;
    }
    if (!result->status.success()) {
      log::Warn(fmt::format("function failed after output started ({}): response cut",
                            result->status.Describe()));
      return false;
    }
    return true;
  }
  bool FirstChunkReady() const override { return !running_->first.empty(); }

 private:
  std::unique_ptr<Running> running_;
};

// Before Invoke returns, copies the part of the request body the pump has not taken yet
// (memory up to body_memory_bytes, spooled beyond, like the original), so the stream never
// reads the request's Body after the server released it.
Status KeepUnwrittenInput(const Body& body, const config::SpoolOptions& spool, Running& r) {
  r.source = nullptr;
  if (r.input_offset >= body.size()) return Ok{};
  auto rest = std::make_unique<Body>(spool.body_memory_bytes, spool.tmpdir);
  std::vector<char> buffer(ProcessPump::kMaxChunk);
  for (std::size_t offset = r.input_offset; offset < body.size();) {
    const long n = body.ReadAt(offset, buffer.data(), buffer.size());
    if (n <= 0) return Error{"the request body could not be read"};
    if (Status s = rest->Append(std::string_view(buffer.data(), static_cast<std::size_t>(n))); !s) {
      return s;
    }
    offset += static_cast<std::size_t>(n);
  }
  r.rest_base = r.input_offset;
  r.rest = std::move(rest);
  return Ok{};
}

}  // namespace

FunctionResponse StreamingExecutor::Invoke(const FunctionRequest& request) {
  const config::ProcessOptions& cfg = launcher_.options();
  auto child = launcher_.Launch(request);
  if (!child) {
    log::Error(fmt::format("cannot start the function: {}", child.error().message));
    return InternalResponse(500, "Function process could not be started\n");
  }
  auto running = std::make_unique<Running>(std::move(*child));
  running->exec_timeout = cfg.exec_timeout;
  Running* r = running.get();
  PumpOptions options = launcher_.PumpSettings(request, &r->input_offset);
  r->source = &request.body;
  options.input = [r](char* buf, std::size_t cap) -> long {
    const Body* body = r->rest ? r->rest.get() : r->source;
    if (body == nullptr) return 0;  // everything was written during Invoke
    const long n = body->ReadAt(r->input_offset - r->rest_base, buf, cap);
    if (n > 0) r->input_offset += static_cast<std::size_t>(n);
    return n;
  };
  // Until the status is decided the first chunk is kept; after that chunks go to the client.
  options.on_stdout = [r](std::string_view chunk) {
    if (r->sink) return r->sink(chunk);
    r->first.append(chunk);
    return false;
  };
  r->pump = std::make_unique<ProcessPump>(r->child, std::move(options));
  auto result = r->pump->Run();
  if (!result) {
    log::Error(fmt::format("function I/O failed: {}", result.error().message));
    return InternalResponse(500, "Function process failed\n");
  }
  FunctionResponse response;
  response.headers.push_back({"Content-Type", launcher_.ContentType()});
  switch (result->outcome) {
    case PumpOutcome::kStopped:  // first output: the function is answering
      if (Status kept = KeepUnwrittenInput(request.body, spool_, *r); !kept) {
        log::Error(fmt::format("function input could not be kept for streaming: {}",
                               kept.error().message));
        return InternalResponse(500, "Function process failed\n");  // ~Running kills it
      }
      response.status = 200;
      response.stream = std::make_unique<StreamedOutput>(std::move(running));
      return response;
    case PumpOutcome::kTimedOut:
      log::Warn(fmt::format("function exceeded exec_timeout ({} ms): process group killed",
                            cfg.exec_timeout.count()));
      return ExecTimeoutResponse();
    case PumpOutcome::kCompleted:
      break;
  }
  if (!result->status.success()) {
    log::Warn(fmt::format("function failed before any output: {}", result->status.Describe()));
    return InternalResponse(
        500, fmt::format("Function process failed: {}\n", result->status.Describe()));
  }
  response.status = 200;
  response.body = std::move(r->first);
  return response;
}

}  // namespace hw::executor
