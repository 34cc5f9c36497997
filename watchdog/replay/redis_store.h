// The Redis replay store (hmac_replay_store=redis://host:port/db or
// redis+unix:///path/to.sock?db=N): claims shared by every replica. A claim is one
// `SET key running:<token> NX PX ttl`; keep and release are small Lua scripts that act only
// while the caller's token owns the key. A small pool of connections (hiredis, the only
// file that includes it) keeps concurrent requests from queueing behind one socket; a
// broken connection is reopened with backoff. Every key has an expiry.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "replay/store.h"

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

class RedisStore final : public Store {
 public:
  RedisStore(RedisEndpoint endpoint, std::string password, std::chrono::milliseconds timeout,
             std::size_t connections);
  ~RedisStore() override;

  ClaimResult Claim(const std::string& key, const std::string& token,
                    std::chrono::milliseconds ttl) override;
  void Keep(const std::string& key, const std::string& token,
            std::chrono::milliseconds ttl) override;
  void Release(const std::string& key, const std::string& token) override;
  std::string Describe() const override { return endpoint_.display; }

  struct Connection;  // defined in redis_store.cc

 private:
  // Borrows a connected connection (connecting one if none is), or null when Redis is
  // unreachable or in backoff.
  std::unique_ptr<Connection> Borrow();
  void Return(std::unique_ptr<Connection> connection, bool healthy);
  void NoteFailure(const std::string& why);
  void NoteSuccess();

  const RedisEndpoint endpoint_;
  const std::string password_;
  const std::chrono::milliseconds timeout_;
  const std::size_t max_connections_;

  std::mutex mutex_;
  std::condition_variable returned_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::size_t open_ = 0;  // idle + borrowed
  // Backoff after a failed connect: no new attempt before next_attempt_.
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  bool down_ = false;                // inside a failure episode (logged once)
  std::atomic<bool> set_get_{true};  // the server takes SET ... NX GET (Redis >= 7.0)
};

}  // namespace hw::replay
