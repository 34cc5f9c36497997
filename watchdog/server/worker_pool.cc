#include "server/worker_pool.h"

#include <algorithm>

namespace hw::server {

bool WorkerPool::Submit(std::function<void()> task) {
  std::unique_lock lock(mutex_);
  if (shutdown_ || tasks_.size() >= options_.max_queued) return false;
  tasks_.push_back(std::move(task));
  JoinFinished(lock);
  if (idle_ < tasks_.size() && threads_.size() < options_.max_threads) {
    threads_.emplace_back([this] { Work(); });
  } else {
    wake_.notify_one();
  }
  return true;
}

void WorkerPool::Work() {
  std::unique_lock lock(mutex_);
  while (true) {
    if (!tasks_.empty()) {
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      task = nullptr;  // whatever it captured goes before the lock is taken again
      lock.lock();
      continue;
    }
    if (shutdown_) return;
    ++idle_;
    const bool woken = wake_.wait_for(lock, options_.idle_timeout,
                                      [this] { return !tasks_.empty() || shutdown_; });
    --idle_;
    if (!woken && threads_.size() - finished_.size() > options_.min_threads) {
      finished_.push_back(std::this_thread::get_id());
      return;
    }
  }
}

void WorkerPool::JoinFinished(std::unique_lock<std::mutex>& lock) {
  if (finished_.empty()) return;
  std::vector<std::thread> done;
  for (auto id : finished_) {
    auto it = std::find_if(threads_.begin(), threads_.end(),
                           [id](const std::thread& t) { return t.get_id() == id; });
    if (it == threads_.end()) continue;
    done.push_back(std::move(*it));
    threads_.erase(it);
  }
  finished_.clear();
  lock.unlock();
  for (auto& t : done) t.join();  // each has returned from Work already, or is about to
  lock.lock();
}

void WorkerPool::Shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    if (shutdown_ && threads_.empty()) return;
    shutdown_ = true;
    threads.swap(threads_);
    finished_.clear();
  }
  wake_.notify_all();
  for (auto& t : threads) t.join();
}

std::size_t WorkerPool::threads() const {
  std::lock_guard lock(mutex_);
  return threads_.size() - finished_.size();
}

}  // namespace hw::server
