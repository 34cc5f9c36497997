#include "replay/store.h"

#include <random>

#include "crypto/encoding.h"
#include "replay/memory_store.h"
#include "replay/redis_store.h"

namespace hw::replay {

std::string_view ClaimResultName(ClaimResult result) {
  switch (result) {
    case ClaimResult::kClaimed:
      return "claimed";
    case ClaimResult::kDone:
      return "duplicate";
    case ClaimResult::kInFlight:
      return "in_flight";
    case ClaimResult::kFull:
      return "full";
    case ClaimResult::kUnavailable:
      return "unavailable";
  }
  return "unavailable";
}

void StoreStats::Observe(std::chrono::nanoseconds elapsed) {
  const double seconds = std::chrono::duration<double>(elapsed).count();
  for (std::size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) latency_buckets[i].fetch_add(1, std::memory_order_relaxed);
  }
  latency_count.fetch_add(1, std::memory_order_relaxed);
  latency_sum_ns.fetch_add(static_cast<std::uint64_t>(elapsed.count()), std::memory_order_relaxed);
}

namespace {
thread_local StoreLane* current_loop_lane = nullptr;
}  // namespace

StoreLane* CurrentLoopLane() { return current_loop_lane; }
void SetCurrentLoopLane(StoreLane* lane) { current_loop_lane = lane; }

std::string NewToken() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  std::uint8_t bytes[16];
  for (std::size_t i = 0; i < sizeof bytes; i += 8) {
    const std::uint64_t v = engine();
    for (std::size_t j = 0; j < 8; ++j) bytes[i + j] = static_cast<std::uint8_t>(v >> (8 * j));
  }
  return crypto::EncodeHex(bytes);
}

Expected<std::unique_ptr<Store>> OpenStore(const StoreOptions& options,
                                           std::shared_ptr<const Clock> clock) {
  if (options.url.empty() || options.url == "memory") {
    if (options.capacity == 0) {
      return Error{"hmac_replay_store=memory needs hmac_replay_cache=N (N > 0: the capacity)"};
    }
    return std::unique_ptr<Store>(
        std::make_unique<MemoryStore>(options.capacity, std::move(clock)));
  }
  Expected<RedisEndpoint> endpoint = ParseRedisUrl(options.url);
  if (!endpoint) return endpoint.error();
  return std::unique_ptr<Store>(
      std::make_unique<RedisStore>(std::move(endpoint).value(), options.password, options.timeout,
                                   options.connections, std::move(clock)));
}

}  // namespace hw::replay
