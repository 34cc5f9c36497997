#include "server/pipeline.h"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "common/strings.h"

#include "auth/gate.h"
#include "common/body.h"
#include "logging/log.h"
#include "metrics/metrics.h"
#include "server/health.h"
#include "server/request_target.h"
#include "signature/outcome.h"
#include "signature/verifier.h"

namespace hw::server {
namespace {

constexpr std::string_view kVerifiedHeader = "X-Webhook-Verified";
constexpr std::string_view kUnauthorizedBody = "Unauthorized: webhook signature not accepted\n";
constexpr std::string_view kBudgetBody =
    "Service Unavailable: too many unverified request bodies at once (max_unverified_bytes)\n";

PipelineResult Reject(int status, std::string text, std::string_view outcome = "-",
                      std::string_view scheme = "-") {
  PipelineResult r;
  r.response = executor::InternalResponse(status, std::move(text));
  r.outcome = outcome;
  r.scheme = scheme;
  return r;
}

Rejection FromDenial(auth::Denial d) {
  return Rejection{d.status, std::move(d.body), d.outcome, d.method, std::move(d.headers)};
}

PipelineResult FromRejection(Rejection r) {
  PipelineResult out = Reject(r.status, std::move(r.body), r.outcome, r.scheme);
  for (auto& h : r.headers) out.response.headers.push_back(std::move(h));
  return out;
}

// Reads a (possibly spooled) body into memory, for the auth plugin.
std::string BodyText(const Body& body) {
  if (body.in_memory()) return std::string(body.memory());
  std::string out(body.size(), '\0');
  std::size_t done = 0;
  while (done < out.size()) {
    long n = body.ReadAt(done, out.data() + done, out.size() - done);
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.resize(done);
  return out;
}

// The answers of the replay store (README "Replay and duplicate protection") to a request
// whose signature was valid; nullopt for every other outcome.
std::optional<Rejection> ReplayRejection(signature::Outcome o, std::string_view outcome,
                                         std::string_view scheme) {
  using signature::Outcome;
  const int status = signature::HttpStatusFor(o);
  switch (o) {
    case Outcome::kDuplicate:
      return Rejection{status, "", outcome, scheme, {{"X-Webhook-Duplicate", "true"}}};
    case Outcome::kInFlight:
      return Rejection{status,
                       "Conflict: this delivery is being handled by another attempt\n",
                       outcome,
                       scheme,
                       {{"Retry-After", "5"}}};
    case Outcome::kReplayFull:
      return Rejection{status,
                       "Service Unavailable: the replay cache is full (hmac_replay_cache)\n",
                       outcome,
                       scheme,
                       {{"Retry-After", "60"}}};
    case Outcome::kReplayUnavailable:
      return Rejection{status,
                       "Service Unavailable: the replay store cannot be reached\n",
                       outcome,
                       scheme,
                       {{"Retry-After", "5"}}};
    default:
      return std::nullopt;
  }
}

// A streamed response settles the delivery's claim when the stream ends: kept if it ended
// normally with a 2xx status, released otherwise (cut, or dropped unfinished).
class SettlingStream final : public executor::BodyStream {
 public:
  SettlingStream(std::unique_ptr<executor::BodyStream> inner,
                 std::shared_ptr<signature::Claim> claim, bool success_status)
      : inner_(std::move(inner)), claim_(std::move(claim)), success_status_(success_status) {}
  ~SettlingStream() override { claim_->Settle(false); }
  bool Pump(const std::function<bool(std::string_view)>& write) override {
    const bool complete = inner_->Pump(write);
    claim_->Settle(complete && success_status_);
    return complete;
  }

 private:
  std::unique_ptr<executor::BodyStream> inner_;
  std::shared_ptr<signature::Claim> claim_;
  bool success_status_;
};

}  // namespace

std::vector<std::string_view> HeaderView::Values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& h : headers_) {
    if (IEquals(h.name, name)) out.push_back(h.value);
  }
  return out;
}

std::size_t HeaderView::Count(std::string_view name, std::string_view* first) const {
  std::size_t n = 0;
  for (const auto& h : headers_) {
    if (!IEquals(h.name, name)) continue;
    if (n++ == 0 && first != nullptr) *first = h.value;
  }
  return n;
}

std::optional<Rejection> CheckHead(const config::ServerOptions& options,
                                   const std::vector<executor::Header>& headers,
                                   std::string_view method, std::string_view target) {
  std::size_t head_bytes = target.size() + method.size() + 12;
  std::optional<std::string_view> content_length;
  bool has_transfer_encoding = false;
  for (const auto& h : headers) {
    // The parser refuses these already; the pipeline is also driven without it (fuzz target),
    // and such a value would split the request sent to the function.
    if (HasCrLfOrNul(h.value) || HasCrLfOrNul(h.name)) {
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
  // RFC 9112 section 6.3: a message with both is a smuggling attempt, whatever the length.
  if (content_length && has_transfer_encoding) {
    return Rejection{400, "Bad Request: Content-Length together with Transfer-Encoding\n"};
  }
  if (head_bytes > options.max_header_bytes) {
    return Rejection{431, "Request Header Fields Too Large\n"};
  }
  if (content_length) {
    std::uint64_t n = 0;
    const char* end = content_length->data() + content_length->size();
    auto [ptr, ec] = std::from_chars(content_length->data(), end, n);
    if (ec != std::errc() || ptr != end || content_length->empty()) {
      return Rejection{400, "Bad Request: invalid Content-Length\n"};
    }
    if (n > options.max_body_bytes) return Rejection{413, "Payload Too Large\n", "too_large"};
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

Pipeline::Pipeline(const config::ServerOptions& options, const signature::Verifier& verifier,
                   executor::Executor& executor, metrics::Metrics& metrics, Health& health,
                   const auth::Gate* gate)
    : options_(options),
      verifier_(verifier),
      executor_(executor),
      metrics_(metrics),
      health_(health),
      gate_(gate),
      begins_without_waiting_(gate == nullptr || (!gate->policy().Uses(auth::Method::kPlugin) &&
                                                  !gate->policy().Uses(auth::Method::kJwt))),
      decides_without_waiting_(begins_without_waiting_ && verifier.DecidesWithoutWaiting()),
      decides_on_loop_(begins_without_waiting_ &&
                       (verifier.DecidesWithoutWaiting() || verifier.ClaimsOnLanes())),
      budget_(options.max_unverified_bytes, metrics) {}

// The answer when the signature check refused the request: the signature's own 401 (413),
// unless the route's other methods were tried with a credential the client did send and
// the request carried no signature at all, whose denial says more.
Rejection Pipeline::HmacRejection(PendingRequest& request, const signature::Decision& d) const {
  std::string_view outcome = signature::OutcomeName(d.outcome);
  std::string_view scheme = d.scheme.empty() ? std::string_view("-") : d.scheme;
  if (request.auth_denial_ && request.auth_denial_presented_ &&
      d.outcome == signature::Outcome::kMissing) {
    Rejection r = std::move(*request.auth_denial_);
    if (gate_ != nullptr) metrics_.AuthDecision(r.scheme, r.outcome);
    return r;
  }
  if (gate_ != nullptr) metrics_.AuthDecision("hmac", outcome);
  if (d.outcome == signature::Outcome::kTooLarge) {
    return Rejection{signature::HttpStatusFor(d.outcome), "Payload Too Large\n", outcome, scheme};
  }
  if (auto replay = ReplayRejection(d.outcome, outcome, scheme)) return std::move(*replay);
  Rejection r{signature::HttpStatusFor(d.outcome), std::string(kUnauthorizedBody), outcome, scheme};
  if (gate_ != nullptr && request.rule_ != nullptr) r.headers = gate_->Challenges(*request.rule_);
  return r;
}

HeadResult Pipeline::Begin(RequestHead head) const {
  HeadResult out;
  auto target = ParseRequestTarget(head.target);
  out.log_path = target ? target->path : std::string(head.target.substr(0, head.target.find('?')));
  if (auto rejection = CheckHead(options_, head.headers, head.method, head.target)) {
    if (rejection->status == 413) metrics_.Verification("-", "too_large");
    out.rejection = std::move(rejection);
    return out;
  }
  if (!target) {
    out.rejection = Rejection{400, target.error().message + "\n"};
    return out;
  }

  // Default-initialised (no "()"): every member initialises itself, and the check's storage
  // is not zeroed first.
  auto request = std::unique_ptr<PendingRequest>(new PendingRequest);
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

  // Authentication (auth_routes): the rule of the longest prefix of the decoded path decides
  // which methods may admit the request. Without a gate it is "/=hmac".
  bool use_hmac = true;
  if (gate_ != nullptr) {
    std::erase_if(headers,
                  [](const executor::Header& h) { return auth::Gate::IsReservedHeader(h.name); });
    const auth::Rule* rule = gate_->policy().Match(request->path_);
    if (rule == nullptr) {
      metrics_.AuthDecision("-", "no_rule");
      out.rejection =
          Rejection{401, "Unauthorized: no authentication rule covers this path\n", "no_rule"};
      return out;
    }
    request->rule_ = rule;
    auth::HeadVerdict v = gate_->Decide(*rule, request->remote_addr_, headers);
    switch (v.kind) {
      case auth::HeadVerdict::Kind::kAdmit:
        metrics_.AuthDecision(v.method, v.outcome);
        request->auth_admitted_ = true;
        request->auth_method_ = v.method;
        request->auth_outcome_ = v.outcome;
        for (auto& h : v.add) headers.push_back(std::move(h));
        use_hmac = false;
        break;
      case auth::HeadVerdict::Kind::kDeny:
        metrics_.AuthDecision(v.denial->method, v.denial->outcome);
        out.rejection = FromDenial(std::move(*v.denial));
        return out;
      case auth::HeadVerdict::Kind::kContinue:
        use_hmac = v.hmac;
        request->plugin_with_body_ = v.plugin_with_body;
        if (v.denial) {
          request->auth_denial_presented_ = v.denial->presented;
          request->auth_denial_ = FromDenial(std::move(*v.denial));
        }
        break;
    }
  }

  bool unverified_body = request->plugin_with_body_;
  if (use_hmac) {
    signature::RequestHead sig_head{request->method_, request->path_, request->query_,
                                    request->header_view_};
    request->check_ = verifier_.Begin(sig_head, &request->check_storage_);
    if (!request->check_->NeedsBody()) {
      // Refused by the headers alone (missing, malformed, expired): answered before the body
      // is read. A header-only signature that matched claims its identity in Handle, so that
      // Begin waits on nothing.
      request->early_ = request->check_->Refusal();
      if (request->early_ && !request->plugin_with_body_) {
        const auto& d = *request->early_;
        std::string_view scheme = d.scheme.empty() ? std::string_view("-") : d.scheme;
        metrics_.Verification(scheme, signature::OutcomeName(d.outcome));
        out.rejection = HmacRejection(*request, d);
        return out;
      }
    } else {
      unverified_body = true;
    }
  }
  if (unverified_body && head.has_body) {
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

std::optional<PipelineResult> Pipeline::ReadBody(PendingRequest& request,
                                                 const BodyReader& read_body) const {
  auto& check = request.check_;
  Body& body = request.body_.emplace(options_.body_memory_bytes, options_.tmpdir);
  if (request.content_length_) body.Reserve(static_cast<std::size_t>(*request.content_length_));
  if (!read_body) return std::nullopt;
  // Fed to the check only while a signature is undecided; a chunked body whose
  // authentication is undecided grows its reservation as it comes.
  const bool feed = check && check->NeedsBody() && !request.early_;
  const bool grow_lease = !request.content_length_ && (feed || request.plugin_with_body_);
  std::optional<std::string> spool_error;
  bool over_budget = false;
  const auto sink = [&](std::string_view chunk) {
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
  };
  ReadResult result = read_body(sink, body);
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
      return std::nullopt;
    case ReadResult::kTooLarge:
      metrics_.Verification("-", "too_large");
      return Reject(413, "Payload Too Large\n", "too_large");
    case ReadResult::kTimedOut:
      return Reject(408, "Request Timeout\n");
    case ReadResult::kError:
      break;
  }
  return Reject(400, "Bad Request: the request body could not be read\n");
}

PipelineResult Pipeline::Refuse(PendingRequest& request, const signature::Decision& d) const {
  std::string_view scheme = d.scheme.empty() ? std::string_view("-") : d.scheme;
  metrics_.Verification(scheme, signature::OutcomeName(d.outcome));
  request.lease_.Done();
  return FromRejection(HmacRejection(request, d));
}

std::optional<PipelineResult> Pipeline::RefuseNow(PendingRequest& request) const {
  // Admitted by the head, or left to an auth plugin: not decided here.
  if (request.auth_admitted_ || request.plugin_with_body_ || !request.check_) return std::nullopt;
  std::optional<signature::Decision> refusal =
      request.early_ ? request.early_ : request.check_->Refusal();
  if (!refusal) return std::nullopt;
  request.early_ = refusal;
  return Refuse(request, *refusal);
}

PipelineResult Pipeline::Handle(PendingRequest& request, const BodyReader& read_body) const {
  if (!request.body_read()) {
    if (auto failed = ReadBody(request, read_body)) return std::move(*failed);
  }
  if (auto refused = Admit(request)) return std::move(*refused);
  return Run(request);
}

std::optional<PipelineResult> Pipeline::Admit(PendingRequest& request) const {
  auto& headers = request.headers_;
  auto& check = request.check_;
  const std::optional<signature::Decision>& early = request.early_;
  Body& body = *request.body_;

  std::string_view outcome = request.auth_outcome_;
  std::string_view scheme = request.auth_method_;
  if (!request.auth_admitted_) {
    std::optional<signature::Decision> decision;
    if (check) {
      decision = early ? *early : check->Finish();
      outcome = signature::OutcomeName(decision->outcome);
      scheme = decision->scheme.empty() ? std::string_view("-") : decision->scheme;
      metrics_.Verification(scheme, outcome);
    }
    if (decision && signature::Admits(decision->outcome)) {
      request.lease_.Done();  // decided: the body is no longer unverified
      request.claim_ = decision->claim;
      if (gate_ != nullptr) metrics_.AuthDecision("hmac", outcome);
      if (decision->outcome == signature::Outcome::kValid) {
        headers.push_back({std::string(kVerifiedHeader), std::string(decision->scheme)});
      }
    } else if (request.plugin_with_body_ && gate_ != nullptr &&
               !(decision && (decision->outcome == signature::Outcome::kTooLarge ||
                              ReplayRejection(decision->outcome, "", "")))) {
      auto denial = gate_->AskPluginWithBody(headers, BodyText(body));
      request.lease_.Done();
      if (denial) {
        metrics_.AuthDecision(denial->method, denial->outcome);
        return FromRejection(FromDenial(std::move(*denial)));
      }
      metrics_.AuthDecision("plugin", "valid");
      outcome = "valid";
      scheme = "plugin";
      headers.push_back({"X-Auth-Method", "plugin"});
    } else {
      request.lease_.Done();
      if (decision) return FromRejection(HmacRejection(request, *decision));
      Rejection r = request.auth_denial_ ? std::move(*request.auth_denial_)
                                         : Rejection{401, "Unauthorized\n", "missing", "-"};
      if (gate_ != nullptr) metrics_.AuthDecision(r.scheme, r.outcome);
      return FromRejection(std::move(r));
    }
  }

  // Only verified requests take a slot: a flood of forged ones cannot crowd out real ones.
  if (!health_.TryAcquire()) {
    request.claim_.reset();  // released: a retry may run
    return Reject(429,
                  fmt::format("Concurrent request limit exceeded. Max concurrent requests: {}\n",
                              health_.max_inflight()),
                  outcome, scheme);
  }
  metrics_.RequestStarted();
  request.slot_ = &health_;
  request.outcome_ = outcome;
  request.scheme_ = scheme;
  return std::nullopt;
}

signature::Check::ClaimStep Pipeline::StartClaim(PendingRequest& request, replay::StoreLane* lane,
                                                 std::function<void()> ready) const {
  using Step = signature::Check::ClaimStep;
  if (request.plugin_with_body_) return Step::kNeedsWorker;  // the plugin is asked, waiting
  // Admitted by the head, or decided by it: no claim to wait for.
  if (request.auth_admitted_ || request.early_ || !request.check_) return Step::kDecided;
  if (lane == nullptr) {
    return verifier_.DecidesWithoutWaiting() ? Step::kDecided : Step::kNeedsWorker;
  }
  if (!request.alive_) request.alive_ = std::make_shared<char>();
  return request.check_->StartClaim(*lane, request.alive_, std::move(ready));
}

bool Pipeline::ClaimAnswered(const PendingRequest& request) const {
  return !request.check_ || request.early_ || request.auth_admitted_ ||
         request.check_->HasDecision();
}

PendingRequest::~PendingRequest() { ReleaseSlot(); }

void PendingRequest::ReleaseSlot() {
  if (slot_ != nullptr) slot_->Release();
  slot_ = nullptr;
}

executor::FunctionRequest PendingRequest::ForFunction() const {
  return executor::FunctionRequest{method_, path_, target_, query_, remote_addr_, headers_, *body_};
}

std::unique_ptr<executor::PendingInvocation> Pipeline::Start(PendingRequest& request,
                                                             executor::InvocationLane* lane) const {
  return executor_.Start(request.ForFunction(), lane);
}

PipelineResult Pipeline::Run(PendingRequest& request) const {
  return Completed(request, [&] { return executor_.Invoke(request.ForFunction()); });
}

PipelineResult Pipeline::Finish(PendingRequest& request,
                                executor::PendingInvocation& invocation) const {
  return Completed(request, [&] { return invocation.Finish(request.ForFunction()); });
}

PipelineResult Pipeline::Completed(
    PendingRequest& request, const std::function<executor::FunctionResponse()>& invoke) const {
  executor::FunctionResponse response;
  try {
    response = invoke();
  } catch (...) {
    request.ReleaseSlot();
    throw;
  }
  return Complete(request, std::move(response));
}

PipelineResult Pipeline::Complete(PendingRequest& request, executor::FunctionResponse response,
                                  replay::StoreLane* lane) const {
  PipelineResult result;
  result.outcome = request.outcome_;
  result.scheme = request.scheme_;
  result.function_called = true;
  result.response = std::move(response);
  if (auto claim = std::move(request.claim_)) {
    const bool ok = result.response.status >= 200 && result.response.status < 300;
    if (result.response.stream) {
      result.response.stream =
          std::make_unique<SettlingStream>(std::move(result.response.stream), std::move(claim), ok);
    } else if (lane != nullptr) {
      claim->SettleOn(ok, *lane);
    } else {
      claim->Settle(ok);
    }
  }
  result.holds_slot = result.response.stream != nullptr;
  if (result.holds_slot) {
    request.slot_ = nullptr;  // the stream's end gives it back (Respond)
  } else {
    request.ReleaseSlot();
  }
  return result;
}

}  // namespace hw::server
