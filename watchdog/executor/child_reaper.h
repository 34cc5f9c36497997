// The process-wide child reaper: makes the watchdog a child subreaper and reaps every child it
// has, direct children and orphaned grandchildren re-parented to it alike, so none stays a
// zombie; the wait status of each registered child goes to its ChildProcess.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>

#include "common/expected.h"
#include "common/unique_fd.h"

namespace hw::executor {

// Marks this process a child subreaper (PR_SET_CHILD_SUBREAPER: orphans of its descendants
// are re-parented to it instead of to init) and starts the reaper thread, which then runs for
// the life of the process. Idempotent and thread-safe; ChildProcess::Spawn calls it too, but
// main should call it once early so the subreaper flag is set before anything is started.
// On failure (thread or prctl refused) an Error, and a later call tries again.
//
// The reaper collects every child of the process with waitid(P_ALL). Every child must
// therefore be started through ChildProcess: code that waits for its own pid (std::system,
// popen/pclose) would race with the reaper and get ECHILD. SIGCHLD must not be SIG_IGN.
Status StartReaper();

namespace detail {

// What the reaper knows of one registered child. Shared by its ChildProcess and the registry;
// wait_status is guarded by the registry's lock (use the functions below).
struct ChildRecord {
  pid_t pid = -1;
  bool kill_group_on_exit = true;
  std::optional<int> wait_status;  // raw waitpid status, set once the child was reaped
  UniqueFd exit_event;             // eventfd, readable from then on (never drained)
};

// Starts the reaper if needed, then runs spawn(&pid) outside the registry's lock (workers
// spawn in parallel); a child the reaper collects before it is registered is kept aside while
// a spawn is in progress and claimed here, so its status is never lost. Returns the
// registered record, or the Error of spawn (nothing registered then), or an Error when the
// reaper or the eventfd could not be created (spawn not run).
Expected<std::shared_ptr<ChildRecord>> SpawnRegistered(const std::function<Status(pid_t*)>& spawn,
                                                       bool kill_group_on_exit);

// The child's raw wait status once it was reaped, else nullopt. Never blocks for long.
std::optional<int> TryWaitStatus(const ChildRecord& record);
// Blocks until the child was reaped, or until deadline (nullopt = no limit).
std::optional<int> WaitStatusUntil(const ChildRecord& record,
                                   std::optional<std::chrono::steady_clock::time_point> deadline);
// kill(-pid, sig) while the child is not yet reaped (its pid, hence its process group id,
// cannot have been reused); returns false without sending anything once it was reaped.
bool SignalGroupIfNotReaped(const ChildRecord& record, int sig);

}  // namespace detail
}  // namespace hw::executor
