#include "executor/function_process.h"

#include "common/environment.h"

#include <cctype>
#include <unordered_set>

#include <fmt/format.h>

#include "common/strings.h"

#include "logging/log.h"
#include "metrics/metrics.h"

namespace hw::executor {
namespace {

constexpr std::string_view kVerifiedHeader = "X-Webhook-Verified";

}  // namespace

std::string HeaderEnvName(std::string_view header) {
  std::string name = "Http_";
  bool upper = true;
  for (char c : header) {
    if (c == '-') {
      name += '_';
      upper = true;
      continue;
    }
    auto u = static_cast<unsigned char>(c);
    name += static_cast<char>(upper ? std::toupper(u) : std::tolower(u));
    upper = false;
  }
  return name;
}

std::vector<std::string> FunctionEnvironment(const std::vector<std::string>& base,
                                             const FunctionRequest& request, bool cgi_headers) {
  if (!cgi_headers) return base;
  // Each name once, by priority: the request data the watchdog sets itself, then the
  // X-Webhook-Verified marker (only the watchdog sets it), then client headers in the order
  // received (the first of headers that map to one name wins), then the watchdog's own
  // environment. The reserved names are taken even when not set (an empty query), so a
  // client header "Query:" or "Path:" can never stand in for them.
  std::unordered_set<std::string> taken = {"Http_Method", "Http_Path", "Http_Query",
                                           "Http_Content_Length", "Http_ContentLength"};
  std::vector<std::string> request_vars;
  request_vars.reserve(request.headers.size() + 5);
  request_vars.push_back(fmt::format("Http_Method={}", request.method));
  if (!request.path.empty()) request_vars.push_back(fmt::format("Http_Path={}", request.path));
  if (!request.query.empty()) request_vars.push_back(fmt::format("Http_Query={}", request.query));
  request_vars.push_back(fmt::format("Http_Content_Length={}", request.body.size()));
  request_vars.push_back(fmt::format("Http_ContentLength={}", request.body.size()));
  const auto add_header = [&](const Header& h) {
    // '=' ends an environment name: "A=B: v" would read as variable Http_A (HTTP does not
    // allow '=' in a header name either).
    if (h.name.find_first_of(std::string_view("=\0", 2)) != std::string::npos) {
      log::Debug("header with '=' in its name not passed to the function");
      return;
    }
    std::string name = HeaderEnvName(h.name);
    if (!taken.insert(name).second) {
      log::Debug(
          fmt::format("header {} not passed to the function: {} is already set", h.name, name));
      return;
    }
    request_vars.push_back(name + "=" + h.value);
  };
  for (const auto& h : request.headers) {
    if (IEquals(h.name, kVerifiedHeader)) add_header(h);
  }
  for (const auto& h : request.headers) {
    if (!IEquals(h.name, kVerifiedHeader)) add_header(h);
  }
  std::vector<std::string> env;
  env.reserve(base.size() + request_vars.size());
  for (const auto& entry : base) {
    const std::string name = entry.substr(0, entry.find('='));
    if (taken.insert(name).second) env.push_back(entry);  // also the first of duplicates
  }
  for (auto& v : request_vars) env.push_back(std::move(v));
  return env;
}

FunctionLauncher::FunctionLauncher(const config::ProcessOptions& options, metrics::Metrics* metrics)
    : options_(options), metrics_(metrics), base_env_(OwnEnvironment()) {}

Expected<ChildProcess> FunctionLauncher::Launch(const FunctionRequest& request) const {
  SpawnOptions options;
  options.argv = options_.argv;
  options.env = FunctionEnvironment(base_env_, request, options_.cgi_headers);
  options.combine_output = options_.combine_output;
  auto child = ChildProcess::Spawn(options);
  if (metrics_ != nullptr) {
    if (child) {
      metrics_->Spawned();
    } else {
      metrics_->SpawnFailed();
    }
  }
  return child;
}

PumpOptions FunctionLauncher::PumpSettings(const FunctionRequest& request,
                                           std::size_t* input_offset) const {
  PumpOptions options;
  const Body* body = &request.body;
  options.input = [body, input_offset](char* buf, std::size_t cap) -> long {
    const long n = body->ReadAt(*input_offset, buf, cap);
    if (n > 0) *input_offset += static_cast<std::size_t>(n);
    return n;  // -1: the spool file failed, and the pump fails rather than truncate
  };
  const bool prefix = options_.prefix_logs;
  options.on_stderr_line = [prefix](std::string_view line) {
    log::FunctionOutput("stderr", line, prefix);
  };
  options.max_line = options_.log_buffer_size;
  if (options_.exec_timeout.count() > 0) {
    options.deadline = std::chrono::steady_clock::now() + options_.exec_timeout;
  }
  return options;
}

std::string FunctionLauncher::ContentType() const {
  if (!options_.content_type.empty()) return options_.content_type;
  return "application/octet-stream";
}

std::string DurationSeconds(std::chrono::steady_clock::time_point start) {
  // "0.000123", from integer microseconds (a double through fmt cost 400 instructions).
  return log::SecondsText(std::chrono::steady_clock::now() - start);
}

FunctionResponse ExecTimeoutResponse() {
  return InternalResponse(504, "Function timed out (exec_timeout)\n");
}

FunctionResponse InternalResponse(int status, std::string text) {
  FunctionResponse r;
  r.status = status;
  r.internal = true;
  r.headers.push_back({"Content-Type", "text/plain; charset=utf-8"});
  r.body = std::move(text);
  return r;
}

}  // namespace hw::executor
