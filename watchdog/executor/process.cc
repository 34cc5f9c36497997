#include "executor/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <tuple>
#include <utility>

#include <fmt/format.h>

namespace hw::executor {
namespace {

std::string ErrnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

// The two ends of a pipe; `parent` is non-blocking, both are close-on-exec.
struct Pipe {
  UniqueFd parent;
  UniqueFd child;
};

// Moves fd above 2, so that no dup2 onto 0-2 in the child can clobber another pipe end when
// the watchdog itself runs with one of its standard descriptors closed.
Status MoveAboveStandardFds(UniqueFd& fd) {
  if (fd.get() > 2) return Ok{};
  const int moved = fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return Error{fmt::format("cannot duplicate a pipe: {}", ErrnoText(errno))};
  fd.reset(moved);
  return Ok{};
}

// parent_reads: the parent reads (the child's stdout/stderr) rather than writes (stdin).
Expected<Pipe> MakePipe(bool parent_reads) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return Error{fmt::format("cannot create a pipe: {}", ErrnoText(errno))};
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  Pipe pipe{parent_reads ? std::move(read_end) : std::move(write_end),
            parent_reads ? std::move(write_end) : std::move(read_end)};
  if (Status s = MoveAboveStandardFds(pipe.child); !s) return s.error();
  const int flags = fcntl(pipe.parent.get(), F_GETFL);
  if (flags < 0 || fcntl(pipe.parent.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return Error{fmt::format("cannot make a pipe non-blocking: {}", ErrnoText(errno))};
  }
  return pipe;
}

// posix_spawn's attribute and file-action objects, destroyed on every path.
class SpawnAttributes {
 public:
  SpawnAttributes() { init_ = posix_spawnattr_init(&attr_); }
  ~SpawnAttributes() {
    if (init_ == 0) posix_spawnattr_destroy(&attr_);
  }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  int init_error() const { return init_; }
  posix_spawnattr_t* get() { return &attr_; }

 private:
  posix_spawnattr_t attr_;
  int init_ = -1;
};

class FileActions {
 public:
  FileActions() { init_ = posix_spawn_file_actions_init(&actions_); }
  ~FileActions() {
    if (init_ == 0) posix_spawn_file_actions_destroy(&actions_);
  }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  int init_error() const { return init_; }
  posix_spawn_file_actions_t* get() { return &actions_; }

 private:
  posix_spawn_file_actions_t actions_;
  int init_ = -1;
};

// Each setter returns 0 or an errno value; the first failure wins.
int ConfigureAttributes(posix_spawnattr_t* attr) {
  // Own process group (pgid = pid) so a timeout can kill everything the function started.
  // The watchdog's threads block SIGTERM/SIGINT/SIGCHLD/SIGPIPE and may ignore some: the
  // function starts with an empty mask and every signal at its default disposition.
  // exec resets handled signals by itself; only ignored ones survive it, so only those are
  // reset (each reset is a system call in the child while the parent waits).
  // Reading the dispositions here costs the parent a few cheap calls; resetting all of them
  // in the child would cost ~62 system calls while the parent is suspended in vfork.
  sigset_t empty;
  sigemptyset(&empty);
  sigset_t ignored;
  sigemptyset(&ignored);
  sigaddset(&ignored, SIGPIPE);
  for (int sig = 1; sig < NSIG; ++sig) {
    struct sigaction current {};
    if (sig != SIGKILL && sig != SIGSTOP && ::sigaction(sig, nullptr, &current) == 0 &&
        current.sa_handler == SIG_IGN) {
      sigaddset(&ignored, sig);
    }
  }
  if (int e = posix_spawnattr_setpgroup(attr, 0)) return e;
  if (int e = posix_spawnattr_setsigmask(attr, &empty)) return e;
  if (int e = posix_spawnattr_setsigdefault(attr, &ignored)) return e;
  return posix_spawnattr_setflags(
      attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
}

int ConfigureFileActions(posix_spawn_file_actions_t* actions, const SpawnOptions& options,
                         const Pipe* in, const Pipe* out, const Pipe* err) {
  if (in) {
    if (int e = posix_spawn_file_actions_adddup2(actions, in->child.get(), STDIN_FILENO)) return e;
  } else if (int e = posix_spawn_file_actions_addopen(actions, STDIN_FILENO, "/dev/null", O_RDONLY,
                                                      0)) {
    return e;
  }
  if (out) {
    if (int e = posix_spawn_file_actions_adddup2(actions, out->child.get(), STDOUT_FILENO)) {
      return e;
    }
  }
  if (options.combine_output) {
    if (int e = posix_spawn_file_actions_adddup2(actions, STDOUT_FILENO, STDERR_FILENO)) return e;
  } else if (err) {
    if (int e = posix_spawn_file_actions_adddup2(actions, err->child.get(), STDERR_FILENO)) {
      return e;
    }
  }
  // Every descriptor of the watchdog is meant to be close-on-exec; this also covers any a
  // library opened without O_CLOEXEC (a listening socket must never leak into a function).
  if (int e = posix_spawn_file_actions_addclosefrom_np(actions, 3)) return e;
  if (!options.working_dir.empty()) {
    if (int e = posix_spawn_file_actions_addchdir_np(actions, options.working_dir.c_str())) {
      return e;
    }
  }
  return 0;
}

std::vector<char*> NullTerminated(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  // posix_spawn's prototype predates const; it does not write through these pointers.
  for (const std::string& s : strings) pointers.push_back(const_cast<char*>(s.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

ExitStatus ExitStatus::FromWaitStatus(int wait_status) {
  ExitStatus status;
  if (WIFEXITED(wait_status)) status.exit_code = WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) status.signal = WTERMSIG(wait_status);
  return status;
}

std::string ExitStatus::Describe() const {
  if (exited()) return fmt::format("exit code {}", exit_code);
  if (signaled()) {
    const char* name = sigabbrev_np(signal);
    return name ? fmt::format("killed by signal {} (SIG{})", signal, name)
                : fmt::format("killed by signal {}", signal);
  }
  return "unknown exit status";
}

Expected<ChildProcess> ChildProcess::Spawn(const SpawnOptions& options) {
  if (options.argv.empty() || options.argv.front().empty()) {
    return Error{"cannot start a function process: the command line is empty"};
  }
  const std::string& program = options.argv.front();
  const auto failed = [&](std::string_view what, int error) {
    return Error{fmt::format("cannot start \"{}\": {}: {}", program, what, ErrnoText(error))};
  };

  std::optional<Pipe> in;
  std::optional<Pipe> out;
  std::optional<Pipe> err;
  for (auto [wanted, slot, parent_reads] :
       {std::tuple{options.pipe_stdin, &in, false}, std::tuple{options.pipe_stdout, &out, true},
        std::tuple{options.pipe_stderr && !options.combine_output, &err, true}}) {
    if (!wanted) continue;
    Expected<Pipe> pipe = MakePipe(parent_reads);
    if (!pipe) return Error{fmt::format("cannot start \"{}\": {}", program, pipe.error().message)};
    slot->emplace(std::move(pipe).value());
  }

  SpawnAttributes attr;
  FileActions actions;
  if (attr.init_error()) return failed("posix_spawnattr_init", attr.init_error());
  if (actions.init_error()) return failed("posix_spawn_file_actions_init", actions.init_error());
  if (int e = ConfigureAttributes(attr.get())) return failed("spawn attributes", e);
  if (int e = ConfigureFileActions(actions.get(), options, in ? &*in : nullptr,
                                   out ? &*out : nullptr, err ? &*err : nullptr)) {
    return failed("spawn file actions", e);
  }
  std::vector<char*> argv = NullTerminated(options.argv);
  std::vector<char*> envp = NullTerminated(options.env);

  auto record = detail::SpawnRegistered(
      [&](pid_t* pid) -> Status {
        const int e =
            posix_spawnp(pid, program.c_str(), actions.get(), attr.get(), argv.data(), envp.data());
        if (e == 0) return Ok{};
        // A failed chdir action fails the same way as a missing program: tell them apart.
        if (!options.working_dir.empty() && access(options.working_dir.c_str(), X_OK) != 0) {
          return Error{fmt::format("cannot start \"{}\": working directory \"{}\": {}", program,
                                   options.working_dir, ErrnoText(errno))};
        }
        return Error{fmt::format("cannot start \"{}\": {}", program, ErrnoText(e))};
      },
      options.kill_group_on_exit);
  if (!record) return record.error();
  // The child has its copies; the parent keeps only its own ends (the child ends close here).
  return ChildProcess(std::move(record).value(), in ? std::move(in->parent) : UniqueFd(),
                      out ? std::move(out->parent) : UniqueFd(),
                      err ? std::move(err->parent) : UniqueFd());
}

ChildProcess::ChildProcess(std::shared_ptr<detail::ChildRecord> record, UniqueFd in, UniqueFd out,
                           UniqueFd err)
    : record_(std::move(record)),
      stdin_(std::move(in)),
      stdout_(std::move(out)),
      stderr_(std::move(err)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Terminate();
    record_ = std::move(other.record_);
    stdin_ = std::move(other.stdin_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { Terminate(); }

void ChildProcess::Terminate() {
  if (!record_) return;
  if (detail::SignalGroupIfNotReaped(*record_, SIGKILL)) {
    detail::WaitStatusUntil(*record_, std::nullopt);
  }
  record_.reset();
}

pid_t ChildProcess::pid() const { return record_ ? record_->pid : -1; }

int ChildProcess::exit_event_fd() const { return record_ ? record_->exit_event.get() : -1; }

std::optional<ExitStatus> ChildProcess::TryExitStatus() const {
  if (!record_) return std::nullopt;
  const std::optional<int> status = detail::TryWaitStatus(*record_);
  if (!status) return std::nullopt;
  return ExitStatus::FromWaitStatus(*status);
}

ExitStatus ChildProcess::Wait() const {
  return ExitStatus::FromWaitStatus(*detail::WaitStatusUntil(*record_, std::nullopt));
}

std::optional<ExitStatus> ChildProcess::WaitUntil(
    std::chrono::steady_clock::time_point deadline) const {
  const std::optional<int> status = detail::WaitStatusUntil(*record_, deadline);
  if (!status) return std::nullopt;
  return ExitStatus::FromWaitStatus(*status);
}

bool ChildProcess::KillGroup(int sig) const {
  return record_ && detail::SignalGroupIfNotReaped(*record_, sig);
}

}  // namespace hw::executor
