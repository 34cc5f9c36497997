// The worker threads that serve connections whose request head has arrived. Threads are
// made as work arrives, up to a maximum, and leave after an idle time down to a minimum;
// work beyond the busy threads waits in a bounded queue. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace hw::server {

class WorkerPool {
 public:
  struct Options {
    std::size_t min_threads;  // kept even when idle
    std::size_t max_threads;
    std::size_t max_queued;  // tasks waiting for a thread
    std::chrono::milliseconds idle_timeout;
  };
  explicit WorkerPool(Options options) : options_(options) {}
  ~WorkerPool() { Shutdown(); }
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `task`; false (task dropped) when max_queued tasks wait already or after Shutdown.
  bool Submit(std::function<void()> task);
  // Runs what is queued, then ends every thread. Idempotent.
  void Shutdown();
  std::size_t threads() const;

 private:
  void Work();
  void JoinFinished(std::unique_lock<std::mutex>& lock);

  const Options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  std::vector<std::thread::id> finished_;  // left after idle_timeout, not joined yet
  std::size_t idle_ = 0;
  bool shutdown_ = false;
};

}  // namespace hw::server
