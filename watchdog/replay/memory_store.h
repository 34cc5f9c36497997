// The memory replay store (hmac_replay_store=memory): one process's claims, bounded by
// hmac_replay_cache entries. An entry is never forgotten inside its window; when every
// entry is live, new claims are refused (kFull) rather than forgetting one.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "replay/store.h"

namespace hw::replay {

class MemoryStore final : public Store {
 public:
  // `capacity` > 0 entries; `clock` decides when windows end.
  MemoryStore(std::size_t capacity, std::shared_ptr<const Clock> clock)
      : capacity_(capacity), clock_(std::move(clock)) {}

  ClaimResult Claim(const std::string& key, const std::string& token,
                    std::chrono::milliseconds ttl) override;
  void Keep(const std::string& key, const std::string& token,
            std::chrono::milliseconds ttl) override;
  void Release(const std::string& key, const std::string& token) override;
  std::string Describe() const override { return "memory"; }
  bool MayWait() const override { return false; }
  std::size_t size() const;

 private:
  struct Entry {
    std::string token;  // "" once kept (done)
    std::int64_t expires_ms;
    std::multimap<std::int64_t, std::string>::iterator by_expiry;
  };
  void Erase(std::unordered_map<std::string, Entry>::iterator it);
  void SweepExpired(std::int64_t now_ms);

  const std::size_t capacity_;
  std::shared_ptr<const Clock> clock_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
  std::multimap<std::int64_t, std::string> expiry_;  // expires_ms -> key, soonest first
};

}  // namespace hw::replay
