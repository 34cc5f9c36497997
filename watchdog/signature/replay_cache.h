// ReplayCache: the delivery ids seen recently (hmac_replay_cache), each remembered until its
// window ends, in bounded memory: when full, the oldest id is forgotten first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace hw::signature {

class ReplayCache {
 public:
  // Remembers at most `capacity` ids (capacity > 0).
  explicit ReplayCache(std::size_t capacity) : capacity_(capacity) {}

  // Records `key` as seen until `expires_ms`. Returns false, and changes nothing, when `key`
  // was recorded before and its window has not ended at `now_ms` (a replay). Thread-safe.
  bool Insert(std::string_view key, std::int64_t now_ms, std::int64_t expires_ms);
  std::size_t size() const;

 private:
  struct Entry {
    std::string key;
    std::int64_t expires_ms;
  };
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> order_;  // oldest first; nodes never move, so the index can view them
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_;
};

}  // namespace hw::signature
