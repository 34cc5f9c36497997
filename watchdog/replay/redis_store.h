// The Redis replay store (hmac_replay_store=redis://host:port/db or
// redis+unix:///path/to.sock?db=N): claims shared by every replica. A claim is one
// `SET key running:<token> NX PX ttl GET`; keep and release are small Lua scripts (EVALSHA)
// that act only while the caller's token owns the key. Every key has an expiry.
//
// A kept key holds "done:<expiry, Unix ms>" and stays so until it expires (release only
// removes a running claim), so a replica that saw it done remembers that until the expiry and
// answers repeats without asking Redis (a bounded cache: forgetting only costs a round trip).
//
// A few connections (hiredis, the only file that includes it) carry every thread's commands:
// a thread whose connection is busy queues its command, and the next thread to send on that
// connection sends everything queued in one write and reads all the answers (pipelining), so
// Redis and the kernel handle one batch instead of one round trip per request. A broken
// connection is reopened with backoff.
//
// The front loops do not wait: each has a lane (NewLane) with a connection of its own, on
// which it writes the claims of one turn in one go and reads the answers when epoll says so.
// A lane never connects (that waits: DNS, connect, AUTH): while it has no connection its
// claims go to workers, and the next worker to claim opens one for it and hands it over.
//
// Time bound: a command waits for the batch in flight when it was queued (if any), then for
// its own; each batch is bounded by the timeout per connect and per blocking read or write,
// and a batch after a failed one fails at once (backoff). The store must outlive every call
// (the verifier and each claim hold it by shared_ptr), so it is never destroyed with
// commands queued.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "replay/store.h"

struct redisReply;  // hiredis (only redis_store.cc includes it)

namespace hw::replay {

struct RedisEndpoint {
  std::string host;  // empty for a Unix socket
  int port = 6379;
  std::string socket_path;  // redis+unix
  int db = 0;
  std::string display;  // the URL as logged
};

// Parses redis://host[:port][/db] and redis+unix:///path[?db=N]. Error naming
// hmac_replay_store otherwise (passwords do not belong in the URL: use
// hmac_replay_store_password_secret).
Expected<RedisEndpoint> ParseRedisUrl(std::string_view url);

// The SHA-1 of the keep and release scripts, as EVALSHA names them (checked against Redis's
// SCRIPT LOAD answer when a connection opens).
extern const std::string_view kKeepScriptSha;
extern const std::string_view kReleaseScriptSha;

class RedisStore final : public Store {
 public:
  // `connections` (>= 1) connections, opened on first use; `timeout` bounds connecting and
  // each batch of commands; `clock` dates the done entries.
  RedisStore(RedisEndpoint endpoint, std::string password, std::chrono::milliseconds timeout,
             std::size_t connections, std::shared_ptr<const Clock> clock);
  ~RedisStore() override;

  ClaimResult Claim(const std::string& key, const std::string& token,
                    std::chrono::milliseconds ttl) override;
  void Keep(const std::string& key, const std::string& token,
            std::chrono::milliseconds ttl) override;
  void Release(const std::string& key, const std::string& token) override;
  std::string Describe() const override { return endpoint_.display; }
  bool MayWait() const override { return true; }
  std::unique_ptr<StoreLane> NewLane(WatchDescriptor watch) override;
  bool HasLanes() const override { return true; }

  struct Connection;  // a hiredis context (redis_store.cc)
  struct Command;     // one command waiting for its batch (redis_store.cc)
  class LoopLane;     // a front loop's connection (redis_store.cc)

 private:
  // One connection and the commands queued for it. Who may touch what:
  // - `queued`, and `busy`'s writes: under `mutex` only. A command is in `queued` from its
  //   Run until a sender moves it into `sending` (under `mutex`) or hands it the lane.
  // - `sending`, `connection`, `generation`: only the lane's sender, i.e. the one thread that
  //   set `busy` (under `mutex`) or was handed the lane by the previous sender through its
  //   command's semaphore (release/acquire: everything the previous sender wrote is visible).
  //   There is at most one sender per lane at any time: `busy` stays true from the first
  //   sender to the last one, which clears it under `mutex` only when `queued` is empty.
  // - `busy` and `waiting` are atomics only so PickLane can read them without the lock; what
  //   it reads is a hint (a stale value sends a command to a busier lane, nothing more).
  //   Whether a thread becomes the sender is decided under `mutex` alone.
  struct Lane {
    std::mutex mutex;
    std::vector<Command*> queued;         // waiting for the next batch, oldest first
    std::atomic<bool> busy{false};        // a sender is at work (written under `mutex`)
    std::atomic<std::size_t> waiting{0};  // queued.size() (written under `mutex`), a hint
    std::vector<Command*> sending;        // the sender's batch
    std::unique_ptr<Connection> connection;
    std::uint64_t generation = 0;  // failure_generation_ when `connection` was opened
  };
  // Sends `command` and waits for its answer (command.reply or command.error).
  void Run(Command& command);
  Lane& PickLane();
  // As the lane's sender: sends everything queued (including the caller's own command) and
  // answers it; then the same for what was queued meanwhile, a few times, then hands the lane
  // to the oldest command still queued, if any.
  void SendBatches(Lane& lane, Command& own);
  // Sends lane.sending in one write and reads the answers into the commands.
  void SendBatch(Lane& lane);
  // Opens lane.connection if it has none (or an old one from before the last failure);
  // false (with `error`) when Redis cannot be reached or the store is backing off.
  bool EnsureConnected(Lane& lane, std::string& error);
  // A new connection, set up (AUTH, SELECT, scripts loaded); null with `error` when Redis
  // cannot be reached, null with an empty `error` while backing off. Blocks up to the timeout.
  std::unique_ptr<Connection> OpenConnection(std::string& error);
  // On a worker, after its claim: opens a connection for one loop lane that has none.
  void ServeWantingLane();
  // True when `command` got an answer; otherwise counts the error (and notes a failure for
  // an error answer: `what` names the operation in the log).
  bool Answered(Command& command, std::string_view what);
  // A failed connection or an error answer: starts or extends the backoff, drops every
  // connection opened before it, logs once per episode.
  void NoteFailure(const std::string& why);
  void NoteSuccess();

  const RedisEndpoint endpoint_;
  const std::string password_;
  const std::chrono::milliseconds timeout_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  std::atomic<std::size_t> next_lane_{0};

  // Backoff after a failure: no new connection before next_attempt_. backoff_ and
  // next_attempt_ under backoff_mutex_; down_ is written under it too (an atomic so
  // NoteSuccess can skip the lock when nothing is down: a stale false only delays the
  // "reachable again" line to the next success).
  std::mutex backoff_mutex_;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  std::atomic<bool> down_{false};  // inside a failure episode (logged once)
  // Bumped (under backoff_mutex_) by every failure: connections opened before it are dropped
  // (most likely broken too: Redis restarted, gone or stopped), so each fails fast instead
  // of at its timeout. Read relaxed by senders: a stale value keeps an old connection for
  // one more batch, which then fails or works on its own merits.
  std::atomic<std::uint64_t> failure_generation_{0};
  std::atomic<bool> set_get_{true};  // the server takes SET ... NX GET (Redis >= 7.0)

  // Keys known to be done: SHA-256 of the key (collision-free: a new delivery is never
  // taken for a done one) -> expiry (Unix ms). Cleared when full. Under done_mutex_.
  using Digest = std::array<std::uint8_t, 32>;
  struct DigestHash {
    std::size_t operator()(const Digest& d) const noexcept;
  };
  static Digest DigestOf(const std::string& key);
  bool KnownDone(const Digest& key, std::int64_t now_ms);
  void RememberDone(const Digest& key, std::int64_t expires_ms);
  // What a claim found when the key was there already ("done:<expiry>", "done", or a running
  // claim): kDone (remembered until its expiry, at most `ttl`) or kInFlight.
  ClaimResult Existing(const redisReply& value, const Digest& digest, std::int64_t now_ms,
                       std::chrono::milliseconds ttl);
  static constexpr std::size_t kDoneEntries = 16384;
  const std::shared_ptr<const Clock> clock_;
  std::mutex done_mutex_;
  std::unordered_map<Digest, std::int64_t, DigestHash> done_;

  // Loop lanes alive (registered by LoopLane's constructor), and those waiting for a
  // connection; a connection opened for one is handed over under lanes_mutex_.
  std::mutex lanes_mutex_;
  std::vector<LoopLane*> loop_lanes_;
  std::vector<LoopLane*> wanting_;
  std::atomic<bool> any_wanting_{false};  // !wanting_.empty(), read without the lock
};

}  // namespace hw::replay
