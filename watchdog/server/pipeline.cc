#include "server/pipeline.h"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "common/strings.h"

#include "common/body.h"
#include "logging/log.h"
#include "metrics/metrics.h"
#include "server/health.h"
#include "signature/verifier.h"

namespace hw::server {
namespace {

constexpr std::string_view kVerifiedHeader = "X-Webhook-Verified";
constexpr std::string_view kUnauthorizedBody = "Unauthorized: webhook signature not accepted\n";

class HeaderView final : public signature::HeaderSource {
 public:
  explicit HeaderView(const std::vector<executor::Header>& headers) : headers_(headers) {}
  std::vector<std::string_view> Values(std::string_view name) const override {
    std::vector<std::string_view> out;
    for (const auto& h : headers_) {
      if (IEquals(h.name, name)) out.push_back(h.value);
    }
    return out;
  }

 private:
  const std::vector<executor::Header>& headers_;
};

PipelineResult Reject(int status, std::string text, std::string_view outcome = "-",
                      std::string_view scheme = "-") {
  PipelineResult r;
  r.response = executor::InternalResponse(status, std::move(text));
  r.outcome = outcome;
  r.scheme = scheme;
  return r;
}

}  // namespace

std::optional<Rejection> CheckHead(const config::Config& config,
                                   const std::vector<executor::Header>& headers,
                                   std::string_view method, std::string_view target) {
  std::size_t head_bytes = target.size() + method.size() + 12;
  std::optional<std::string_view> content_length;
  for (const auto& h : headers) {
    // cpp-httplib percent-decodes header values, so %0D%0A arrives as a real CR LF: such a
    // value would split the request sent to the function.
    if (h.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos ||
        h.name.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return Rejection{400, "Bad Request: header value contains CR, LF or NUL\n"};
    }
    head_bytes += h.name.size() + h.value.size() + 4;
    if (IEquals(h.name, "Content-Length")) {
      if (content_length && *content_length != h.value) {
        return Rejection{400, "Bad Request: conflicting Content-Length headers\n"};
      }
      content_length = h.value;
    }
  }
  if (head_bytes > config.max_header_bytes) {
    return Rejection{431, "Request Header Fields Too Large\n"};
  }
  if (content_length) {
    std::uint64_t n = 0;
    const char* end = content_length->data() + content_length->size();
    auto [ptr, ec] = std::from_chars(content_length->data(), end, n);
    if (ec != std::errc() || ptr != end || content_length->empty()) {
      return Rejection{400, "Bad Request: invalid Content-Length\n"};
    }
    if (n > config.max_body_bytes) return Rejection{413, "Payload Too Large\n", "too_large"};
  }
  return std::nullopt;
}

Pipeline::Pipeline(const config::Config& config, const signature::Verifier& verifier,
                   executor::Executor& executor, metrics::Metrics& metrics, Health& health)
    : config_(config), verifier_(verifier), executor_(executor), metrics_(metrics),
      health_(health) {}

PipelineResult Pipeline::Handle(PipelineRequest request) const {
  auto& headers = request.headers;
  std::erase_if(headers, [](const executor::Header& h) { return IEquals(h.name, kVerifiedHeader); });
  std::string_view query;
  if (auto q = request.target.find('?'); q != std::string_view::npos) {
    query = request.target.substr(q + 1);
  }

  HeaderView view(headers);
  signature::RequestHead head{request.method, request.path, query, view};
  auto check = verifier_.Begin(head);

  Body body(config_.body_memory_bytes, config_.tmpdir);
  std::optional<signature::Decision> early;
  if (!check->NeedsBody()) early = check->Finish();
  // A request already refused from its headers is not read (the server closes it).
  bool read = request.read_body && (!early || signature::Admits(early->outcome));
  if (read) {
    const bool feed = !early.has_value();
    std::optional<std::string> spool_error;
    ReadResult result = request.read_body([&](std::string_view chunk) {
      if (feed) check->Update(chunk);
      if (auto s = body.Append(chunk); !s) {
        spool_error = s.error().message;
        return false;
      }
      return true;
    });
    if (spool_error) {
      log::Error(*spool_error);
      return Reject(507, "Insufficient Storage: the request body could not be spooled\n");
    }
    switch (result) {
      case ReadResult::kOk:
        break;
      case ReadResult::kTooLarge:
        metrics_.Verification("-", "too_large");
        return Reject(413, "Payload Too Large\n", "too_large");
      case ReadResult::kTimedOut:
        return Reject(408, "Request Timeout\n");
      case ReadResult::kError:
        return Reject(400, "Bad Request: the request body could not be read\n");
    }
  }

  signature::Decision decision = early ? *early : check->Finish();
  std::string_view outcome = signature::OutcomeName(decision.outcome);
  std::string_view scheme = decision.scheme.empty() ? std::string_view("-") : decision.scheme;
  metrics_.Verification(scheme, outcome);
  if (!signature::Admits(decision.outcome)) {
    if (decision.outcome == signature::Outcome::kTooLarge) {
      return Reject(413, "Payload Too Large\n", outcome, scheme);
    }
    return Reject(401, std::string(kUnauthorizedBody), outcome, scheme);
  }
  if (decision.outcome == signature::Outcome::kValid) {
    headers.push_back({std::string(kVerifiedHeader), std::string(decision.scheme)});
  }

  // Only verified requests take a slot: a flood of forged ones cannot crowd out real ones.
  if (!health_.TryAcquire()) {
    return Reject(429,
                  fmt::format("Concurrent request limit exceeded. Max concurrent requests: {}\n",
                              health_.max_inflight()),
                  outcome, scheme);
  }
  metrics_.RequestStarted();
  PipelineResult result;
  result.outcome = outcome;
  result.scheme = scheme;
  result.function_called = true;
  executor::FunctionRequest freq{request.method, request.path, request.target, query,
                                 request.remote_addr, headers, body};
  try {
    result.response = executor_.Invoke(freq);
  } catch (...) {
    health_.Release();
    throw;
  }
  result.holds_slot = result.response.stream != nullptr;
  if (!result.holds_slot) health_.Release();
  return result;
}

}  // namespace hw::server
