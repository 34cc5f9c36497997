#include "replay/memory_store.h"

namespace hw::replay {

void MemoryStore::Erase(std::unordered_map<std::string, Entry>::iterator it) {
  expiry_.erase(it->second.by_expiry);
  entries_.erase(it);
}

// An entry whose window ends at `now_ms` is gone at `now_ms` (the window is [start, end)).
void MemoryStore::SweepExpired(std::int64_t now_ms) {
  while (!expiry_.empty() && expiry_.begin()->first <= now_ms) {
    entries_.erase(expiry_.begin()->second);
    expiry_.erase(expiry_.begin());
  }
}

ClaimResult MemoryStore::Claim(const std::string& key, const std::string& token,
                               std::chrono::milliseconds ttl) {
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t now_ms = clock_->NowUnixMillis();
  ClaimResult result = ClaimResult::kClaimed;
  {
    std::lock_guard lock(mutex_);
    SweepExpired(now_ms);
    if (auto found = entries_.find(key); found != entries_.end()) {
      result = found->second.token.empty() ? ClaimResult::kDone : ClaimResult::kInFlight;
    } else if (entries_.size() >= capacity_) {
      result = ClaimResult::kFull;
    } else {
      const std::int64_t expires = now_ms + ttl.count();
      auto by_expiry = expiry_.emplace(expires, key);
      entries_.emplace(key, Entry{token, expires, by_expiry});
    }
  }
  stats_.claims[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  stats_.Observe(std::chrono::steady_clock::now() - start);
  return result;
}

void MemoryStore::Keep(const std::string& key, const std::string& token,
                       std::chrono::milliseconds ttl) {
  const std::int64_t now_ms = clock_->NowUnixMillis();
  std::lock_guard lock(mutex_);
  auto found = entries_.find(key);
  if (found == entries_.end() || found->second.token != token) return;
  // As in Redis (SET ... PX ttl): the window counts again from the function's success.
  Entry& e = found->second;
  e.token.clear();
  expiry_.erase(e.by_expiry);
  e.expires_ms = now_ms + ttl.count();
  e.by_expiry = expiry_.emplace(e.expires_ms, key);
}

void MemoryStore::Release(const std::string& key, const std::string& token) {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(key);
  if (found == entries_.end() || found->second.token != token) return;
  Erase(found);
}

std::size_t MemoryStore::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

}  // namespace hw::replay
