#include "metrics/metrics.h"

#include <array>
#include <charconv>

#include <fmt/format.h>

namespace hw::metrics {
namespace {

// The method label values, in the order of their slot index; "other" is last.
constexpr std::array<std::string_view, 8> kMethodNames = {"get",   "post", "put",     "delete",
                                                          "patch", "head", "options", "other"};
constexpr std::size_t kOtherMethod = kMethodNames.size() - 1;

bool EqualsIgnoringAsciiCase(std::string_view text, std::string_view lower_case) {
  if (text.size() != lower_case.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower_case[i]) return false;
  }
  return true;
}

std::size_t MethodIndex(std::string_view method) {
  for (std::size_t i = 0; i < kOtherMethod; ++i) {
    if (EqualsIgnoringAsciiCase(method, kMethodNames[i])) return i;
  }
  return kOtherMethod;
}

// of-watchdog's buckets: the Go client's DefBuckets.
const std::vector<double> kDurationBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,    2.5,   5,    10};

}  // namespace

Metrics::Metrics()
    : requests_(registry_.AddCounterFamily("http_requests_total", "total HTTP requests processed",
                                           {"code", "method"})),
      durations_(registry_.AddHistogramFamily("http_request_duration_seconds",
                                              "Seconds spent serving HTTP requests.",
                                              {"code", "method"}, kDurationBuckets)),
      in_flight_(registry_.AddGauge("http_requests_in_flight", "total HTTP requests in-flight")),
      request_slots_(kMethodCount * kCodeCount),
      duration_slots_(kMethodCount * kCodeCount),
      verifications_(registry_.AddCounterFamily(
          "hmac_verifications_total",
          "Webhook signature checks by scheme and outcome (valid, missing, mismatch, ...).",
          {"scheme", "outcome"})),
      auth_decisions_(registry_.AddCounterFamily(
          "auth_decisions_total",
          "Authentication decisions by method (hmac, basic, jwt, plugin, none) and outcome.",
          {"method", "outcome"})),
      spawns_(registry_.AddCounter("hmac_function_spawns_total", "Function processes started.")),
      spawn_failures_(registry_.AddCounter("hmac_function_spawn_failures_total",
                                           "Function processes that could not be started.")),
      upstream_requests_(registry_.AddCounter("hmac_upstream_requests_total",
                                              "Requests forwarded to the function (http mode).")),
      unverified_bytes_(registry_.AddGauge(
          "hmac_unverified_body_bytes",
          "Request body bytes held whose signature is not yet decided (max_unverified_bytes).")),
      unverified_rejections_(
          registry_.AddCounter("hmac_unverified_budget_rejections_total",
                               "Requests answered 503 because max_unverified_bytes was reached.")),
      dropped_headers_(registry_.AddCounter(
          "hmac_dropped_headers_total",
          "Client headers dropped before the function (names containing '_').")) {
  static_assert(kMethodNames.size() == kMethodCount);
  registry_.AddCollector([this] { return CollectSecretReloads(); });
  registry_.AddCollector([this] { return CollectReplayStore(); });
  registry_.AddCollector([] { return ProcessFamilies(ReadProcessStats()); });
}

void Metrics::RequestStarted() { in_flight_.Add(1); }

void Metrics::RequestFinished(std::string_view method, int code, double seconds) {
  in_flight_.Sub(1);
  const std::size_t method_index = MethodIndex(method);
  const bool code_in_range = code >= kMinCode && code <= kMaxCode;
  const std::size_t code_index =
      code_in_range ? static_cast<std::size_t>(code - kMinCode) : kCodeCount - 1;
  const std::size_t slot = method_index * kCodeCount + code_index;

  // Only the first request of each (method, code) builds the label values and takes the
  // families' mutexes; the rest are one acquire load per family.
  const auto lookup = [&](auto& family) -> auto& {
    char code_text[8];
    std::string_view code_label = "other";
    if (code_in_range) {
      const auto result = std::to_chars(std::begin(code_text), std::end(code_text), code);
      code_label = std::string_view(code_text, result.ptr);
    }
    return family.WithLabelValues({code_label, kMethodNames[method_index]});
  };
  request_slots_.Get(slot, [&]() -> Counter& { return lookup(requests_); }).Inc();
  duration_slots_.Get(slot, [&]() -> Histogram& { return lookup(durations_); }).Observe(seconds);
}

void Metrics::Verification(std::string_view scheme, std::string_view outcome) {
  verifications_.WithLabelValues({scheme, outcome}).Inc();
}

void Metrics::AuthDecision(std::string_view method, std::string_view outcome) {
  auth_decisions_.WithLabelValues({method, outcome}).Inc();
}

void Metrics::Spawned() { spawns_.Inc(); }

void Metrics::SpawnFailed() { spawn_failures_.Inc(); }

void Metrics::UpstreamRequest() { upstream_requests_.Inc(); }
void Metrics::UnverifiedBytes(std::int64_t delta) {
  if (delta >= 0) {
    unverified_bytes_.Add(delta);
  } else {
    unverified_bytes_.Sub(-delta);
  }
}
void Metrics::UnverifiedBudgetRejected() { unverified_rejections_.Inc(); }
void Metrics::HeaderDropped() { dropped_headers_.Inc(); }

void Metrics::SetSecretReloadSource(std::function<std::pair<std::uint64_t, std::uint64_t>()> fn) {
  std::lock_guard lock(reload_source_mutex_);
  reload_source_ = std::move(fn);
}

std::vector<FamilySnapshot> Metrics::CollectSecretReloads() const {
  std::function<std::pair<std::uint64_t, std::uint64_t>()> source;
  {
    std::lock_guard lock(reload_source_mutex_);
    source = reload_source_;
  }
  FamilySnapshot family{
      "hmac_secret_reloads_total", "Secret reloads by result.", MetricType::kCounter, {}};
  if (source) {
    const auto [ok, failed] = source();
    family.samples.push_back(Sample{"", {Label{"result", "ok"}}, ok});
    family.samples.push_back(Sample{"", {Label{"result", "failed"}}, failed});
  }
  return {family};
}

void Metrics::SetReplayStoreSource(std::function<ReplayStoreSample()> fn) {
  std::lock_guard lock(replay_source_mutex_);
  replay_source_ = std::move(fn);
}

std::vector<FamilySnapshot> Metrics::CollectReplayStore() const {
  std::function<ReplayStoreSample()> source;
  {
    std::lock_guard lock(replay_source_mutex_);
    source = replay_source_;
  }
  FamilySnapshot claims{
      "hmac_replay_store_claims_total", "Replay store claims by result.", MetricType::kCounter, {}};
  FamilySnapshot errors{"hmac_replay_store_errors_total",
                        "Replay store commands that failed (unreachable, timeout, error reply).",
                        MetricType::kCounter,
                        {}};
  FamilySnapshot latency{"hmac_replay_store_duration_seconds",
                         "Replay store operation latency (claim, keep, release).",
                         MetricType::kHistogram,
                         {}};
  if (source) {
    const ReplayStoreSample r = source();
    for (const auto& [result, n] : r.claims) {
      claims.samples.push_back(Sample{"", {Label{"result", result}}, n});
    }
    errors.samples.push_back(Sample{"", {}, r.errors});
    for (const auto& [le, n] : r.buckets) {
      latency.samples.push_back(Sample{"_bucket", {Label{"le", fmt::format("{}", le)}}, n});
    }
    latency.samples.push_back(Sample{"_bucket", {Label{"le", "+Inf"}}, r.count});
    latency.samples.push_back(Sample{"_sum", {}, r.sum_seconds});
    latency.samples.push_back(Sample{"_count", {}, r.count});
  }
  return {claims, errors, latency};
}

std::string Metrics::Render() const { return registry_.Render(); }

}  // namespace hw::metrics
