// HTTP basic authentication against the gateway's secret files (basic-auth-user,
// basic-auth-password under secrets_path), re-read in the background like the HMAC secrets,
// compared in constant time; and a per-client-address limit on failed attempts.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/clock.h"
#include "common/expected.h"
#include "config/config.h"
#include "secrets/secret_watcher.h"

namespace hw::auth {

// Failed attempts per client address in a sliding one-minute window. An address past the
// limit is refused (429) until its oldest failure is a minute old; other addresses are not
// affected. Thread-safe; the table is bounded (oldest entries dropped past 10000 addresses).
class FailureLimiter {
 public:
  FailureLimiter(std::size_t max_failures, std::shared_ptr<const Clock> clock)
      : max_(max_failures), clock_(std::move(clock)) {}
  // Seconds until `address` may try again, 0 when it may try now.
  std::int64_t RetryAfter(std::string_view address);
  void Failed(std::string_view address);

 private:
  struct Entry {
    std::int64_t window_start = 0;  // unix seconds
    std::size_t failures = 0;
  };
  const std::size_t max_;
  std::shared_ptr<const Clock> clock_;
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

class BasicAuthenticator {
 public:
  // Reads both secret files (Error naming the file if missing or empty) and starts the
  // reload thread.
  static Expected<std::unique_ptr<BasicAuthenticator>> Create(const config::AuthOptions& options,
                                                              std::shared_ptr<const Clock> clock);
  ~BasicAuthenticator();

  enum class Result { kValid, kMismatch, kLimited };
  // Checks one pair; a mismatch counts against `address`. kLimited (nothing compared) while the
  // address is over its limit; retry_after then holds the seconds to wait.
  Result Check(std::string_view user, std::string_view password, std::string_view address,
               std::int64_t& retry_after);
  // Counts a failed attempt without credentials worth comparing (malformed header).
  void CountFailure(std::string_view address) { limiter_.Failed(address); }
  std::int64_t RetryAfter(std::string_view address) { return limiter_.RetryAfter(address); }
  std::uint64_t reloads() const;
  std::uint64_t reload_failures() const;

 private:
  struct Pair;
  BasicAuthenticator(std::size_t max_failures, std::shared_ptr<const Clock> clock);
  FailureLimiter limiter_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Pair> current_;
  std::unique_ptr<secrets::SecretWatcher> watcher_;
};

}  // namespace hw::auth
