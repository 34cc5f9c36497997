// ChildProcess: one function process started with posix_spawn, in a process group of its own,
// with a clean signal state, only descriptors 0-2 and optional pipes. It owns the process:
// destroying it kills the whole group and waits for the child, so no early return or thrown
// exception leaves a process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/expected.h"
#include "common/unique_fd.h"
#include "executor/child_reaper.h"

namespace hw::executor {

struct SpawnOptions {
  // The program and its arguments, already split (no shell). argv[0] without a '/' is looked
  // up in the watchdog's own PATH (posix_spawnp), not in `env`. Must not be empty.
  std::vector<std::string> argv;
  // The child's complete environment, one "KEY=VALUE" per entry; nothing else is inherited.
  std::vector<std::string> env;
  // Which standard streams are pipes to the watchdog. Otherwise stdin is /dev/null and
  // stdout/stderr are the watchdog's own.
  bool pipe_stdin = true;
  bool pipe_stdout = true;
  bool pipe_stderr = true;
  // stderr goes wherever stdout goes (into the stdout pipe when piped); pipe_stderr is ignored.
  bool combine_output = false;
  // Working directory of the child; "" keeps the watchdog's.
  std::string working_dir;
  // SIGKILL the child's process group the moment the child itself exits (done by the reaper
  // while the child's zombie still reserves the group id, so it cannot hit a reused group).
  // Background grandchildren then never outlive the function nor hold its pipes open.
  bool kill_group_on_exit = true;
};

// How a child ended.
struct ExitStatus {
  int exit_code = -1;  // 0-255 when the process exited, else -1
  int signal = 0;      // the signal that terminated it, else 0

  static ExitStatus FromWaitStatus(int wait_status);
  bool exited() const { return exit_code >= 0; }
  bool signaled() const { return signal != 0; }
  bool success() const { return exit_code == 0; }
  // "exit code 3" or "killed by signal 9 (SIGKILL)", for logs and error messages.
  std::string Describe() const;
};

// Not thread-safe as a whole: one thread drives it (usually through a ProcessPump). KillGroup,
// pid() and the status queries may be called from any thread.
class ChildProcess {
 public:
  // Starts the program (starting the reaper first if needed). On success the child runs in a
  // new process group whose id is its pid, with an empty signal mask, default signal
  // dispositions and only descriptors 0, 1 and 2 open; the parent's pipe ends are
  // non-blocking and close-on-exec. On failure (program not found or not executable, working
  // directory missing, out of descriptors or processes) an Error that names the program and
  // the reason; nothing is left running and no descriptor leaks.
  static Expected<ChildProcess> Spawn(const SpawnOptions& options);

  ChildProcess(ChildProcess&& other) noexcept = default;
  // Terminates (as the destructor does) the process this object held, then takes other's.
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // If the child is still running (not yet reaped): SIGKILL its group and wait for it.
  ~ChildProcess();

  // The child's pid, which is also its process group id.
  pid_t pid() const;

  // The parent's ends of the pipes; invalid when that stream is not piped. Close stdin_pipe()
  // (reset()) to send end-of-file.
  UniqueFd& stdin_pipe() { return stdin_; }
  UniqueFd& stdout_pipe() { return stdout_; }
  UniqueFd& stderr_pipe() { return stderr_; }

  // Becomes readable (and stays so) once the child was reaped: for poll().
  int exit_event_fd() const;

  // The exit status once the child was reaped, else nullopt. Does not block.
  std::optional<ExitStatus> TryExitStatus() const;
  // Blocks until the child was reaped.
  ExitStatus Wait() const;
  // Blocks until the child was reaped or deadline passed (then nullopt).
  std::optional<ExitStatus> WaitUntil(std::chrono::steady_clock::time_point deadline) const;

  // Sends sig to the child's whole process group. Returns false, sending nothing, once the
  // child was reaped: with kill_group_on_exit the group was already SIGKILLed then, and
  // otherwise its id could belong to someone else by now.
  bool KillGroup(int sig) const;

 private:
  ChildProcess(std::shared_ptr<detail::ChildRecord> record, UniqueFd in, UniqueFd out,
               UniqueFd err);
  void Terminate();

  std::shared_ptr<detail::ChildRecord> record_;  // null once moved from
  UniqueFd stdin_;
  UniqueFd stdout_;
  UniqueFd stderr_;
};

}  // namespace hw::executor
