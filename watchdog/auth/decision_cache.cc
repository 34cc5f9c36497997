#include "auth/decision_cache.h"

#include <cctype>
#include <cstring>

#include "common/strings.h"
#include "crypto/sha256.h"

namespace hw::auth {

DecisionCache::DecisionCache(std::chrono::milliseconds ttl, std::size_t capacity,
                             std::vector<std::string> key_headers)
    : ttl_ms_(ttl.count()), capacity_(capacity), key_headers_(std::move(key_headers)) {}

std::size_t DecisionCache::KeyHash::operator()(const Key& k) const {
  std::size_t h = 0;
  std::memcpy(&h, k.data(), sizeof(h));  // already a uniform digest
  return h;
}

std::optional<DecisionCache::Key> DecisionCache::KeyOf(
    const std::vector<executor::Header>& headers) const {
  // Length-prefixed name/value pairs, so no two different header sets share an input.
  std::string input;
  bool any = false;
  auto add = [&input](std::string_view s) {
    input += std::to_string(s.size());
    input += ':';
    input += s;
  };
  for (const auto& name : key_headers_) {
    std::string lower(name);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    add(lower);
    for (const auto& h : headers) {
      if (!IEquals(h.name, name)) continue;
      any = true;
      add(h.value);
    }
    input += ';';
  }
  if (!any) return std::nullopt;
  const auto digest = crypto::Sha256(input);
  if (digest.size() != 32) return std::nullopt;  // OpenSSL failed: no caching
  Key key;
  std::memcpy(key.data(), digest.data(), key.size());
  return key;
}

void DecisionCache::DropExpired(std::int64_t now_ms) {
  while (!order_.empty() && order_.front().second <= now_ms) {
    auto it = expiry_.find(order_.front().first);
    if (it != expiry_.end() && it->second == order_.front().second) expiry_.erase(it);
    order_.pop_front();
  }
}

bool DecisionCache::Admitted(const Key& key, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto it = expiry_.find(key);
  return it != expiry_.end() && it->second > now_ms;
}

void DecisionCache::Remember(const Key& key, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  DropExpired(now_ms);
  const std::int64_t expiry = now_ms + ttl_ms_;
  auto it = expiry_.find(key);
  if (it == expiry_.end()) {
    // Full: the oldest entry goes (with one TTL for all, also the first to expire).
    while (expiry_.size() >= capacity_ && !order_.empty()) {
      auto old = expiry_.find(order_.front().first);
      if (old != expiry_.end() && old->second == order_.front().second) expiry_.erase(old);
      order_.pop_front();
    }
    expiry_.emplace(key, expiry);
  } else {
    it->second = expiry;
  }
  order_.emplace_back(key, expiry);
  // A key remembered again leaves a stale pair behind; bound those too.
  while (order_.size() > 2 * capacity_) {
    auto old = expiry_.find(order_.front().first);
    if (old != expiry_.end() && old->second == order_.front().second) expiry_.erase(old);
    order_.pop_front();
  }
}

std::size_t DecisionCache::size() const {
  std::lock_guard lock(mutex_);
  return expiry_.size();
}

}  // namespace hw::auth
