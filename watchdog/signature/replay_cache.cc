#include "signature/replay_cache.h"

namespace hw::signature {

bool ReplayCache::Insert(std::string_view key, std::int64_t now_ms, std::int64_t expires_ms) {
  std::lock_guard<std::mutex> lock(mutex_);
  // Windows all have the same length, so the oldest entries expire first.
  while (!order_.empty() && order_.front().expires_ms <= now_ms) {
    index_.erase(order_.front().key);
    order_.pop_front();
  }
  if (auto found = index_.find(key); found != index_.end()) {
    if (found->second->expires_ms > now_ms) return false;
    const auto entry = found->second;
    index_.erase(found);
    order_.erase(entry);
  }
  while (order_.size() >= capacity_ && !order_.empty()) {
    index_.erase(order_.front().key);
    order_.pop_front();
  }
  order_.push_back(Entry{std::string(key), expires_ms});
  index_.emplace(order_.back().key, std::prev(order_.end()));
  return true;
}

std::size_t ReplayCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return order_.size();
}

}  // namespace hw::signature
