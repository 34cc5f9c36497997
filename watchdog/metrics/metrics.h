// The watchdog's metrics as the server records and exposes them: of-watchdog's three request
// metrics, the hmac_* additions and the process_* metrics, rendered as Prometheus text 0.0.4
// (serve it with kTextContentType from metrics/exposition.h).
//
// Every method is thread-safe and may be called from any number of request threads; the
// per-request ones are a handful of relaxed atomic operations (Verification also takes a
// short mutex for one map lookup). Render takes no lock that a request path waits on for
// longer than copying a list of pointers.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/exposition.h"
#include "metrics/process_stats.h"
#include "metrics/registry.h"

namespace hw::metrics {

class Metrics {
 public:
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // of-watchdog's three, same names/labels/buckets:
  //   http_requests_total{code,method} counter, method lower case ("post")
  //   http_request_duration_seconds{code,method} histogram, buckets
  //     0.005,0.01,0.025,0.05,0.1,0.25,0.5,1,2.5,5,10
  //   http_requests_in_flight gauge
  // Label values are bounded: `method` is matched case-insensitively against get, post, put,
  // delete, patch, head, options and is "other" for anything else; `code` is the decimal
  // status for 100..599 and "other" outside that range.
  void RequestStarted();  // in_flight + 1
  // in_flight - 1, counter, histogram. Call exactly once per RequestStarted.
  void RequestFinished(std::string_view method, int code, double seconds);

  // hmac_verifications_total{scheme,outcome} counter. The values come from the signature
  // module's closed lists; they are escaped anyway.
  void Verification(std::string_view scheme, std::string_view outcome);
  // auth_decisions_total{method,outcome} counter: one per request the auth policy decided.
  // method: hmac, basic, jwt, plugin, none or "-" (no rule matched); outcome from the auth
  // and signature modules' closed lists (valid, missing, mismatch, denied, unavailable, ...).
  void AuthDecision(std::string_view method, std::string_view outcome);
  // hmac_function_spawns_total counter; hmac_function_spawn_failures_total counter.
  void Spawned();
  void SpawnFailed();
  // hmac_upstream_requests_total counter (http mode forwards).
  void UpstreamRequest();
  // hmac_unverified_body_bytes gauge: request body bytes held (memory and spool) whose
  // signature is not yet decided, reserved against max_unverified_bytes.
  void UnverifiedBytes(std::int64_t delta);
  // hmac_unverified_budget_rejections_total counter: requests answered 503 because
  // max_unverified_bytes was reached.
  void UnverifiedBudgetRejected();
  // hmac_dropped_headers_total counter: client headers dropped before the function (names
  // with '_', which would collide with '-' names in Http_* variables).
  void HeaderDropped();
  // hmac_secret_reloads_total{result="ok"|"failed"}, read through `fn` (returning {ok, failed})
  // at each Render, on the scraping thread. Until a source is set the family is left out.
  // Replacing the source is safe while another thread renders.
  void SetSecretReloadSource(std::function<std::pair<std::uint64_t, std::uint64_t>()> fn);

  // The replay store's counters, read through a source at each Render (families left out
  // until one is set): hmac_replay_store_claims_total{result} counter,
  // hmac_replay_store_errors_total counter, hmac_replay_store_duration_seconds histogram.
  struct ReplayStoreSample {
    std::vector<std::pair<std::string, std::uint64_t>> claims;  // result name, count
    std::uint64_t errors = 0;
    std::vector<std::pair<double, std::uint64_t>> buckets;  // upper bound, cumulative count
    std::uint64_t count = 0;
    double sum_seconds = 0;
  };
  void SetReplayStoreSource(std::function<ReplayStoreSample()> fn);

  // Whole exposition text, including the process_* metrics.
  std::string Render() const;

 private:
  static constexpr std::size_t kMethodCount = 8;  // get ... options, other
  static constexpr int kMinCode = 100;
  static constexpr int kMaxCode = 599;
  static constexpr std::size_t kCodeCount = kMaxCode - kMinCode + 2;  // + "other"

  std::vector<FamilySnapshot> CollectSecretReloads() const;

  Registry registry_;
  Family<Counter>& requests_;
  Family<Histogram>& durations_;
  Gauge& in_flight_;
  FixedSlots<Counter> request_slots_;
  FixedSlots<Histogram> duration_slots_;
  Family<Counter>& verifications_;
  Family<Counter>& auth_decisions_;
  Counter& spawns_;
  Counter& spawn_failures_;
  Counter& upstream_requests_;
  Gauge& unverified_bytes_;
  Counter& unverified_rejections_;
  Counter& dropped_headers_;

  std::vector<FamilySnapshot> CollectReplayStore() const;
  mutable std::mutex replay_source_mutex_;
  std::function<ReplayStoreSample()> replay_source_;

  mutable std::mutex reload_source_mutex_;
  std::function<std::pair<std::uint64_t, std::uint64_t>()> reload_source_;
};

// ProcessStats and ReadProcessStats() are declared in metrics/process_stats.h (included
// above): process_cpu_seconds_total, process_open_fds, process_max_fds,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_start_time_seconds.

}  // namespace hw::metrics
