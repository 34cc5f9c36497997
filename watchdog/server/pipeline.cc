#include "server/pipeline.h"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "common/strings.h"

#include "common/body.h"
#include "logging/log.h"
#include "metrics/metrics.h"
#include "server/health.h"
#include "server/request_target.h"
#include "signature/verifier.h"

namespace hw::server {
namespace {

constexpr std::string_view kVerifiedHeader = "X-Webhook-Verified";
constexpr std::string_view kUnauthorizedBody = "Unauthorized: webhook signature not accepted\n";
constexpr std::string_view kBudgetBody =
    "Service Unavailable: too many unverified request bodies at once (max_unverified_bytes)\n";

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
  bool has_transfer_encoding = false;
  for (const auto& h : headers) {
    // cpp-httplib percent-decodes header values, so %0D%0A arrives as a real CR LF: such a
    // value would split the request sent to the function.
    if (h.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos ||
        h.name.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
      return Rejection{400, "Bad Request: header value contains CR, LF or NUL\n"};
    }
    head_bytes += h.name.size() + h.value.size() + 4;
    if (IEquals(h.name, "Transfer-Encoding")) has_transfer_encoding = true;
    if (IEquals(h.name, "Content-Length")) {
      if (content_length && *content_length != h.value) {
        return Rejection{400, "Bad Request: conflicting Content-Length headers\n"};
      }
      content_length = h.value;
    }
  }
  // RFC 9112 section 6.3: a message with both is a smuggling attempt, whatever the length
  // (cpp-httplib lets "Content-Length: 0" through).
  if (content_length && has_transfer_encoding) {
    return Rejection{400, "Bad Request: Content-Length together with Transfer-Encoding\n"};
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

bool UnverifiedBudget::TryReserve(std::size_t n) {
  std::size_t used = used_.load();
  do {
    if (n > limit_ || used > limit_ - n) return false;
  } while (!used_.compare_exchange_weak(used, used + n));
  metrics_.UnverifiedBytes(static_cast<std::int64_t>(n));
  return true;
}

void UnverifiedBudget::Release(std::size_t n) {
  if (n == 0) return;
  used_.fetch_sub(n);
  metrics_.UnverifiedBytes(-static_cast<std::int64_t>(n));
}

UnverifiedBudget::Lease& UnverifiedBudget::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Done();
    budget_ = other.budget_;
    held_ = other.held_;
    other.budget_ = nullptr;
    other.held_ = 0;
  }
  return *this;
}

bool UnverifiedBudget::Lease::Grow(std::size_t n) {
  if (budget_ == nullptr || n == 0) return true;
  if (!budget_->TryReserve(n)) return false;
  held_ += n;
  return true;
}

void UnverifiedBudget::Lease::Done() {
  if (budget_ != nullptr) budget_->Release(held_);
  held_ = 0;
  budget_ = nullptr;
}

Pipeline::Pipeline(const config::Config& config, const signature::Verifier& verifier,
                   executor::Executor& executor, metrics::Metrics& metrics, Health& health)
    : config_(config), verifier_(verifier), executor_(executor), metrics_(metrics),
      health_(health), budget_(config.max_unverified_bytes, metrics) {}

HeadResult Pipeline::Begin(RequestHead head) const {
  HeadResult out;
  auto target = ParseRequestTarget(head.target);
  out.log_path = target ? target->path : std::string(head.target.substr(0, head.target.find('?')));
  if (auto rejection = CheckHead(config_, head.headers, head.method, head.target)) {
    if (rejection->status == 413) metrics_.Verification("-", "too_large");
    out.rejection = std::move(rejection);
    return out;
  }
  if (!target) {
    out.rejection = Rejection{400, target.error().message + "\n"};
    return out;
  }

  auto request = std::unique_ptr<PendingRequest>(new PendingRequest());
  request->method_.assign(head.method);
  request->target_.assign(head.target);
  request->remote_addr_.assign(head.remote_addr);
  request->path_ = std::move(target->path);
  if (auto q = request->target_.find('?'); q != std::string::npos) {
    request->query_ = std::string_view(request->target_).substr(q + 1);
  }
  // The function learns a request was verified only from the watchdog. A name with '_'
  // would become the same Http_* variable as its '-' twin (nginx drops them for the same
  // reason); such headers reach neither a forked function nor an upstream.
  auto& headers = request->headers_;
  headers = std::move(head.headers);
  std::erase_if(headers, [this](const executor::Header& h) {
    if (IEquals(h.name, kVerifiedHeader)) return true;
    if (h.name.find('_') == std::string::npos) return false;
    metrics_.HeaderDropped();
    log::Debug(fmt::format("dropped client header with '_' in its name ({} bytes)", h.name.size()));
    return true;
  });
  for (const auto& h : headers) {
    if (!IEquals(h.name, "Content-Length")) continue;
    std::uint64_t n = 0;
    std::from_chars(h.value.data(), h.value.data() + h.value.size(), n);  // CheckHead validated
    request->content_length_ = n;
  }

  request->header_view_ = std::make_unique<HeaderView>(headers);
  signature::RequestHead sig_head{request->method_, request->path_, request->query_,
                                  *request->header_view_};
  request->check_ = verifier_.Begin(sig_head);
  if (!request->check_->NeedsBody()) {
    request->early_ = request->check_->Finish();
    const auto& d = *request->early_;
    if (!signature::Admits(d.outcome)) {
      // Decided by the headers alone (missing, malformed, expired, replayed): answered
      // before the body is read.
      std::string_view outcome = signature::OutcomeName(d.outcome);
      std::string_view scheme = d.scheme.empty() ? std::string_view("-") : d.scheme;
      metrics_.Verification(scheme, outcome);
      out.rejection = d.outcome == signature::Outcome::kTooLarge
                          ? Rejection{413, "Payload Too Large\n", outcome, scheme}
                          : Rejection{401, std::string(kUnauthorizedBody), outcome, scheme};
      return out;
    }
  } else if (head.has_body) {
    // The body will be held before its signature is decided: reserve it (all of it when its
    // length is known; chunked bodies grow their reservation as they arrive).
    request->lease_ = UnverifiedBudget::Lease(&budget_);
    if (!request->lease_.Grow(static_cast<std::size_t>(request->content_length_.value_or(0)))) {
      metrics_.UnverifiedBudgetRejected();
      out.rejection = Rejection{503, std::string(kBudgetBody), "-", "-", {{"Retry-After", "1"}}};
      return out;
    }
  }
  out.request = std::move(request);
  return out;
}

PipelineResult Pipeline::Handle(PendingRequest& request, const BodyReader& read_body) const {
  auto& headers = request.headers_;
  auto& check = request.check_;
  const std::optional<signature::Decision>& early = request.early_;
  Body body(config_.body_memory_bytes, config_.tmpdir);
  const bool grow_lease = !early && !request.content_length_;
  if (read_body) {
    const bool feed = !early.has_value();
    std::optional<std::string> spool_error;
    bool over_budget = false;
    ReadResult result = read_body([&](std::string_view chunk) {
      if (grow_lease && !request.lease_.Grow(chunk.size())) {
        over_budget = true;
        return false;
      }
      if (feed) check->Update(chunk);
      if (auto s = body.Append(chunk); !s) {
        spool_error = s.error().message;
        return false;
      }
      return true;
    });
    if (over_budget) {
      metrics_.UnverifiedBudgetRejected();
      PipelineResult r = Reject(503, std::string(kBudgetBody));
      r.response.headers.push_back({"Retry-After", "1"});
      return r;
    }
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
  request.lease_.Done();  // decided: the body is no longer unverified
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
  executor::FunctionRequest freq{request.method_, request.path_,        request.target_,
                                 request.query_,  request.remote_addr_, headers,
                                 body};
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
