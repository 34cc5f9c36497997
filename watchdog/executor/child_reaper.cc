#include "executor/child_reaper.h"

#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

namespace hw::executor {
namespace {

std::string ErrnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

class Registry {
 public:
  // Never destroyed: the reaper thread blocks on its members until the process ends.
  static Registry& Instance() {
    static Registry* const registry = new Registry();
    return *registry;
  }

  Status Start() {
    std::lock_guard lock(mutex_);
    if (started_) return Ok{};
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
      return Error{fmt::format("cannot become a child subreaper: {}", ErrnoText(errno))};
    }
    // The thread starts with every signal blocked, so process-directed signals (SIGTERM,
    // SIGCHLD) are left to the threads that handle them and never interrupt waitid here.
    sigset_t all;
    sigset_t previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    try {
      std::thread(&Registry::ReapForever, this).detach();
    } catch (const std::system_error& e) {
      pthread_sigmask(SIG_SETMASK, &previous, nullptr);
      return Error{fmt::format("cannot start the child reaper thread: {}", e.what())};
    }
    pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    started_ = true;
    return Ok{};
  }

  Expected<std::shared_ptr<detail::ChildRecord>> SpawnRegistered(
      const std::function<Status(pid_t*)>& spawn, bool kill_group_on_exit) {
    if (Status started = Start(); !started) return started.error();
    auto record = std::make_shared<detail::ChildRecord>();
    record->kill_group_on_exit = kill_group_on_exit;
    record->exit_event = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!record->exit_event) {
      return Error{fmt::format("cannot create an eventfd for a child: {}", ErrnoText(errno))};
    }
    // posix_spawn runs outside the lock, so workers spawn in parallel. A child that exits
    // before it is registered is reaped into early_ and claimed here.
    {
      std::lock_guard lock(mutex_);
      ++in_progress_;
    }
    pid_t pid = -1;
    Status spawned = spawn(&pid);
    std::lock_guard lock(mutex_);
    --in_progress_;
    if (spawned) {
      record->pid = pid;
      if (auto early = early_.find(pid); early != early_.end()) {
        // It exited before it was registered. Its group cannot be taken over yet: a process
        // group id stays in use while any member (a grandchild) lives.
        if (kill_group_on_exit) kill(-pid, SIGKILL);
        record->wait_status = early->second;
        early_.erase(early);
        const std::uint64_t one = 1;
        [[maybe_unused]] const ssize_t written = write(record->exit_event.get(), &one, sizeof one);
      } else {
        children_.emplace(pid, record);
      }
      ++spawn_count_;
      spawned_.notify_one();
    }
    if (in_progress_ == 0) early_.clear();  // nobody can claim these: orphans
    if (!spawned) return spawned.error();
    return record;
  }

  std::optional<int> TryWaitStatus(const detail::ChildRecord& record) {
    std::lock_guard lock(mutex_);
    return record.wait_status;
  }

  std::optional<int> WaitStatusUntil(
      const detail::ChildRecord& record,
      std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock lock(mutex_);
    const auto reaped = [&] { return record.wait_status.has_value(); };
    if (deadline) {
      reaped_.wait_until(lock, *deadline, reaped);
    } else {
      reaped_.wait(lock, reaped);
    }
    return record.wait_status;
  }

  bool SignalGroupIfNotReaped(const detail::ChildRecord& record, int sig) {
    // The reaper reaps only under this lock, so while we hold it an unreaped child is at
    // worst a zombie, which keeps its pid (and so its process group id) from being reused.
    std::lock_guard lock(mutex_);
    if (record.wait_status) return false;
    kill(-record.pid, sig);
    return true;
  }

 private:
  Registry() = default;

  void ReapForever() {
    for (;;) {
      std::uint64_t seen_spawns = 0;
      {
        std::lock_guard lock(mutex_);
        seen_spawns = spawn_count_;
      }
      // Learn which child exited without reaping it yet: a registered child's group must be
      // killed while its zombie still holds the pid.
      siginfo_t info{};
      if (waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) != 0) {
        if (errno == ECHILD) {
          // No children at all: sleep until Spawn starts one. Orphans only appear while some
          // child exists, and reparenting happens before that child can be reaped.
          std::unique_lock lock(mutex_);
          spawned_.wait(lock, [&] { return spawn_count_ != seen_spawns; });
        } else if (errno != EINTR) {
          std::this_thread::sleep_for(std::chrono::milliseconds(10));  // never spin
        }
        continue;
      }
      const pid_t pid = info.si_pid;
      if (pid <= 0) continue;
      std::lock_guard lock(mutex_);
      const auto it = children_.find(pid);
      if (it != children_.end() && it->second->kill_group_on_exit) kill(-pid, SIGKILL);
      int status = 0;
      pid_t reaped = -1;
      do {
        reaped = waitpid(pid, &status, 0);  // a zombie: returns at once
      } while (reaped < 0 && errno == EINTR);
      if (reaped != pid) continue;
      if (it == children_.end()) {
        // An orphan, or a child whose spawn has not registered it yet: keep its status for
        // SpawnRegistered to claim while spawns are in progress.
        if (in_progress_ > 0) early_[pid] = status;
        continue;
      }
      std::shared_ptr<detail::ChildRecord> record = std::move(it->second);
      children_.erase(it);
      record->wait_status = status;
      const std::uint64_t one = 1;
      [[maybe_unused]] const ssize_t written = write(record->exit_event.get(), &one, sizeof one);
      reaped_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable spawned_;  // spawn_count_ changed
  std::condition_variable reaped_;   // some record got its wait_status
  bool started_ = false;
  std::uint64_t spawn_count_ = 0;
  int in_progress_ = 0;                   // spawns running outside the lock
  std::unordered_map<pid_t, int> early_;  // reaped before registration
  std::unordered_map<pid_t, std::shared_ptr<detail::ChildRecord>> children_;
};

}  // namespace

Status StartReaper() { return Registry::Instance().Start(); }

namespace detail {

Expected<std::shared_ptr<ChildRecord>> SpawnRegistered(const std::function<Status(pid_t*)>& spawn,
                                                       bool kill_group_on_exit) {
  return Registry::Instance().SpawnRegistered(spawn, kill_group_on_exit);
}

std::optional<int> TryWaitStatus(const ChildRecord& record) {
  return Registry::Instance().TryWaitStatus(record);
}

std::optional<int> WaitStatusUntil(const ChildRecord& record,
                                   std::optional<std::chrono::steady_clock::time_point> deadline) {
  return Registry::Instance().WaitStatusUntil(record, deadline);
}

bool SignalGroupIfNotReaped(const ChildRecord& record, int sig) {
  return Registry::Instance().SignalGroupIfNotReaped(record, sig);
}

}  // namespace detail
}  // namespace hw::executor
