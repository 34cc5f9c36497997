// The replay store: where verified deliveries are claimed, kept and released, so that a
// delivery runs the function once across retries and replicas (README "Replay and duplicate
// protection"). One interface, two implementations: memory (one process) and Redis (shared).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/expected.h"

namespace hw::replay {

// What a claim found. kClaimed: the caller now owns the delivery and must Keep or Release it.
enum class ClaimResult { kClaimed, kDone, kInFlight, kFull, kUnavailable };
inline constexpr std::size_t kClaimResultCount = 5;
// "claimed", "duplicate", "in_flight", "full", "unavailable".
std::string_view ClaimResultName(ClaimResult result);

// Counters every store keeps for the metrics (read with relaxed loads at scrape time).
struct StoreStats {
  static constexpr std::array<double, 10> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                      0.005,  0.01,    0.025,  0.1,   1.0};
  std::array<std::atomic<std::uint64_t>, kClaimResultCount> claims{};
  std::atomic<std::uint64_t> errors{0};  // commands that failed (connection, timeout, reply)
  // Latency of store operations (claim, keep, release), cumulative buckets + count + sum.
  std::array<std::atomic<std::uint64_t>, kBuckets.size()> latency_buckets{};
  std::atomic<std::uint64_t> latency_count{0};
  std::atomic<std::uint64_t> latency_sum_ns{0};
  void Observe(std::chrono::nanoseconds elapsed);
};

// A store's connection for one front loop, which must never wait: claims, keeps and releases
// are written without waiting and answered when the loop finds fd() readable. The loop calls
// Flush before it waits (the claims of one turn go out in one write) and Expire every tick
// (commands unanswered after the store's timeout fail as kUnavailable). Loop thread only.
class StoreLane {
 public:
  virtual ~StoreLane() = default;
  enum class Step {
    kSent,         // the answer comes later, through `done`, from OnReadable or Expire
    kAnswered,     // answered at once (`result`): a key known to be done, say
    kNeedsWorker,  // the lane cannot send now (no connection yet): claim on a worker
  };
  struct Started {
    Step step;
    ClaimResult result = ClaimResult::kUnavailable;  // with kAnswered
  };
  // As Store::Claim, without waiting. `done` is never called from within Claim itself. It gets
  // nullopt when the lane could not claim after all (a Redis before 7.0 refuses SET ... GET,
  // which the lane finds out only from the answer): the claim is then made on a worker.
  using ClaimDone = std::function<void(std::optional<ClaimResult>)>;
  virtual Started Claim(const std::string& key, const std::string& token,
                        std::chrono::milliseconds ttl, ClaimDone done) = 0;
  // As Store::Keep and Store::Release, written at once (so Redis has them before the client
  // has its answer); answers are only checked. Without a connection they wait in the lane
  // until a worker opens one; false when too many wait already (dropped, counted, logged:
  // the claim then expires by itself).
  virtual bool Keep(const std::string& key, const std::string& token,
                    std::chrono::milliseconds ttl) = 0;
  virtual bool Release(const std::string& key, const std::string& token) = 0;
  virtual int fd() const = 0;  // the descriptor the loop watches; -1: none now
  virtual void OnReadable() = 0;
  virtual void Flush() = 0;
  virtual void Expire() = 0;
  // Thread-safe: claims sent and not answered yet (the drain waits for them).
  virtual std::size_t ClaimsWaiting() const = 0;
};

// What a lane wants the loop to watch its descriptor for: nothing (before it is closed), answers,
// or answers and room to write (commands the socket did not take at once: the rest is written
// as soon as Redis reads, not at the loop's next tick).
enum class Interest { kNone, kRead, kReadWrite };
// Tells the loop what to watch a lane's descriptor for; called by the lane on the loop thread.
// False when it cannot be watched.
using WatchDescriptor = std::function<bool(int fd, Interest interest)>;

// The store lane of the front loop running on this thread, or null: a claim settled on a
// loop's thread (answered, refused with 429, or dropped) goes through it, so that the loop
// never waits on the store. Set by the server around each loop's Run.
StoreLane* CurrentLoopLane();
void SetCurrentLoopLane(StoreLane* lane);

class Store {
 public:
  virtual ~Store() = default;
  // Claims `key` (already namespaced and hashed) for `ttl` with the owner token `token`.
  // kDone: a delivery with this key succeeded inside its window; kInFlight: another attempt
  // holds it; kFull (memory) / kUnavailable (Redis unreachable, timed out): not decided.
  // Thread-safe, as are Keep and Release.
  virtual ClaimResult Claim(const std::string& key, const std::string& token,
                            std::chrono::milliseconds ttl) = 0;
  // The function succeeded: `key` (if `token` still owns it) is remembered as done for
  // `ttl`. Failures are counted and logged, not returned: the entry then expires by itself.
  virtual void Keep(const std::string& key, const std::string& token,
                    std::chrono::milliseconds ttl) = 0;
  // The function failed: `key` is forgotten if `token` still owns it, so a retry runs.
  virtual void Release(const std::string& key, const std::string& token) = 0;
  // "memory" or "redis://host:port/0" (without the password) for the startup log.
  virtual std::string Describe() const = 0;
  // True when Claim, Keep and Release may wait on another process (Redis): the front loop,
  // which must never wait, then leaves verified requests to a worker.
  virtual bool MayWait() const = 0;
  // A lane for one front loop (null: this store's calls do not wait, or it has none). The
  // store must outlive it.
  virtual std::unique_ptr<StoreLane> NewLane(WatchDescriptor /*watch*/) { return nullptr; }
  virtual bool HasLanes() const { return false; }

  const StoreStats& stats() const { return stats_; }

 protected:
  StoreStats stats_;
};

struct StoreOptions {
  std::string url;                         // "memory" or a redis URL (see ParseRedisUrl)
  std::size_t capacity = 0;                // memory: entries (hmac_replay_cache)
  std::string password;                    // redis: AUTH (read from the secret file by the caller)
  std::chrono::milliseconds timeout{500};  // redis: connect and command timeout
  std::size_t connections = 8;             // redis: pool size
};

// Makes the store `options.url` names. Error naming hmac_replay_store for an unknown URL.
// A Redis store starts without connecting: an unreachable Redis is an outcome, not an error.
Expected<std::unique_ptr<Store>> OpenStore(const StoreOptions& options,
                                           std::shared_ptr<const Clock> clock);

// A new random owner token (16 bytes, hex).
std::string NewToken();

}  // namespace hw::replay
