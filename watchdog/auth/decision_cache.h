// Short-lived memory of the auth plugin's positive decisions (auth_proxy_cache), keyed by a
// SHA-256 digest of the request's credential headers (auth_proxy_cache_headers, by default
// Authorization and Cookie): the credentials themselves are never stored. A request carrying
// none of those headers has no key and is never answered from the cache; a refusal is never
// cached. Bounded: past `capacity` entries the oldest one goes first.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "executor/executor.h"

namespace hw::auth {

class DecisionCache {
 public:
  using Key = std::array<std::uint8_t, 32>;
  // `ttl` > 0; `capacity` > 0; `key_headers`: header names (case-insensitive) in key order.
  DecisionCache(std::chrono::milliseconds ttl, std::size_t capacity,
                std::vector<std::string> key_headers);

  // The digest of the key headers (names and values, in order), or nullopt when the request
  // has none of them.
  std::optional<Key> KeyOf(const std::vector<executor::Header>& headers) const;
  // True when `key` was admitted less than ttl ago (`now_ms`: a monotonic clock). Thread-safe.
  bool Admitted(const Key& key, std::int64_t now_ms);
  // Remembers an admission of `key` at `now_ms`. Thread-safe.
  void Remember(const Key& key, std::int64_t now_ms);
  std::size_t size() const;

 private:
  struct KeyHash {
    std::size_t operator()(const Key& k) const;
  };
  void DropExpired(std::int64_t now_ms);  // mutex_ held

  const std::int64_t ttl_ms_;
  const std::size_t capacity_;
  const std::vector<std::string> key_headers_;
  mutable std::mutex mutex_;
  std::unordered_map<Key, std::int64_t, KeyHash> expiry_;  // key -> expiry
  std::deque<std::pair<Key, std::int64_t>> order_;         // insertion (= expiry) order
};

}  // namespace hw::auth
