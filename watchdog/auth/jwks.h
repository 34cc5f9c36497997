// The issuer's signing keys, kept fresh: fetched at startup (from the OIDC discovery
// document's jwks_uri, or a configured jwks_url) by a background thread that retries every
// second until it has them, then refreshes periodically and, rate limited, when a token names
// an unknown kid. A fetch that fails keeps the last good keys.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "auth/jwt.h"
#include "common/expected.h"

namespace hw::auth {

class KeyStore {
 public:
  // GET url → body; Error when unreachable or not 200.
  using Fetch = std::function<Expected<std::string>(const std::string& url)>;
  struct Options {
    std::string issuer;    // discovery at issuer + "/.well-known/openid-configuration"
    std::string jwks_url;  // used directly when set
    std::chrono::milliseconds refresh_interval = std::chrono::minutes(5);
    std::chrono::milliseconds retry_interval = std::chrono::seconds(1);
    std::chrono::milliseconds min_refresh_gap = std::chrono::seconds(2);  // unknown-kid refreshes
    std::function<void()> on_ready;  // called once, from the thread, when the first keys arrive
  };
  KeyStore(Options options, Fetch fetch);
  ~KeyStore();  // stops and joins the thread
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // The current keys (empty set before the first fetch). Thread-safe.
  std::shared_ptr<const KeySet> Keys() const;
  bool Ready() const;
  // A token named an unknown kid: refresh now unless one ran within min_refresh_gap, and wait
  // up to `wait` for it. Returns the keys after that (the same ones when rate limited).
  std::shared_ptr<const KeySet> RefreshForUnknownKid(std::chrono::milliseconds wait);
  // One fetch, synchronously (the thread runs the same). Error keeps the current keys.
  Status FetchNow();

 private:
  void Run();

  const Options options_;
  const Fetch fetch_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::shared_ptr<const KeySet> keys_;
  bool ready_ = false;
  bool stop_ = false;
  bool refresh_requested_ = false;
  std::uint64_t generation_ = 0;  // completed fetch attempts
  std::chrono::steady_clock::time_point last_fetch_{};
  std::mutex fetch_mutex_;  // one fetch at a time
  std::thread thread_;
};

}  // namespace hw::auth
