// Health and readiness of the watchdog (/_/health, /_/ready), the max_inflight limiter, and
// the lock file $TMPDIR/.lock that Docker HEALTHCHECKs and -run-healthcheck look for.
#pragma once

#include <atomic>
#include <string>

#include "common/expected.h"

namespace hw::server {

class Health {
 public:
  // max_inflight 0 = no limit.
  explicit Health(int max_inflight) : max_inflight_(max_inflight) {}

  // The function can take requests (set at once in fork modes, once the upstream accepts
  // connections in http mode).
  void SetFunctionReady() { function_ready_.store(true); }
  // Authentication can decide (the jwt issuer's keys are in); true unless
  // SetAuthReady(false) was called at startup.
  void SetAuthReady(bool ready) { auth_ready_.store(ready); }
  // SIGTERM received: health and readiness answer 503 from now on.
  void SetDraining() { draining_.store(true); }

  // 200 while serving, 503 before the function is ready or once draining.
  int HealthStatus() const {
    return (function_ready_.load() && auth_ready_.load() && !draining_.load()) ? 200 : 503;
  }
  // As HealthStatus, and 429 while max_inflight requests are running.
  int ReadyStatus() const {
    int h = HealthStatus();
    if (h != 200) return h;
    return (max_inflight_ > 0 && inflight_.load() >= max_inflight_) ? 429 : 200;
  }

  // Takes one of max_inflight slots; false when all are taken. Pair with Release().
  bool TryAcquire() {
    int now = inflight_.fetch_add(1) + 1;
    if (max_inflight_ > 0 && now > max_inflight_) {
      inflight_.fetch_sub(1);
      return false;
    }
    return true;
  }
  void Release() { inflight_.fetch_sub(1); }
  int inflight() const { return inflight_.load(); }
  int max_inflight() const { return max_inflight_; }

 private:
  const int max_inflight_;
  std::atomic<int> inflight_{0};
  std::atomic<bool> function_ready_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> auth_ready_{true};
};

// The lock file. Write() fails with a message naming suppress_lock when the file cannot be
// created; Remove() is idempotent.
class LockFile {
 public:
  explicit LockFile(std::string tmpdir) : path_(std::move(tmpdir) + "/.lock") {}
  Status Write();
  void Remove();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool written_ = false;
};

// -run-healthcheck: 0 when the lock file exists, else prints "unable to find lock file."
int RunHealthcheck(const std::string& tmpdir);

}  // namespace hw::server
