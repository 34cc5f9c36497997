#include "executor/process_pump.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <system_error>
#include <utility>

#include <fmt/format.h>

namespace hw::executor {

using SteadyClock = std::chrono::steady_clock;

// Blocks SIGPIPE in the calling thread for one Run, so a write to a child that closed its
// stdin fails with EPIPE instead of killing the watchdog (whatever the caller's signal set-up
// is), and consumes the SIGPIPE such a write left pending.
class ProcessPump::SigpipeBlock {
 public:
  SigpipeBlock() {
    sigemptyset(&sigpipe_);
    sigaddset(&sigpipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &sigpipe_, &previous_);
  }
  ~SigpipeBlock() {
    if (caused_) {
      const timespec no_wait{};
      while (sigtimedwait(&sigpipe_, nullptr, &no_wait) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }
  SigpipeBlock(const SigpipeBlock&) = delete;
  SigpipeBlock& operator=(const SigpipeBlock&) = delete;
  void NoteEpipe() { caused_ = true; }

 private:
  sigset_t sigpipe_;
  sigset_t previous_;
  bool caused_ = false;
};

ProcessPump::ProcessPump(ChildProcess& child, PumpOptions options)
    : child_(child),
      options_(std::move(options)),
      stderr_lines_(options_.max_line, options_.on_stderr_line),
      buffer_(kMaxChunk) {
  if (options_.input) input_.resize(kMaxChunk);
}

Expected<PumpResult> ProcessPump::Run() {
  if (final_) return *final_;
  SigpipeBlock sigpipe;
  // Time spent paused (the caller writing to a slow client) is not silence of the pipes.
  if (exit_status_) last_activity_ = SteadyClock::now();
  for (;;) {
    if (!exit_status_) {
      exit_status_ = child_.TryExitStatus();
      if (exit_status_) {
        last_activity_ = SteadyClock::now();
        CloseStdin();  // nobody is left to read it
      }
    }
    SteadyClock::time_point now = SteadyClock::now();
    if (!exit_status_ && !timed_out_ && options_.deadline && now >= *options_.deadline) {
      timed_out_ = true;
      child_.KillGroup(SIGKILL);
      CloseStdin();
    }
    if (exit_status_) {
      if (!child_.stdout_pipe() && !child_.stderr_pipe()) {
        final_ = PumpResult{timed_out_ ? PumpOutcome::kTimedOut : PumpOutcome::kCompleted,
                            *exit_status_};
        return *final_;
      }
    }

    if (child_.stdin_pipe() && stdin_writable_) {
      if (Status s = FeedStdin(sigpipe); !s) return s.error();
    }

    pollfd fds[4];
    nfds_t count = 0;
    int stdin_index = -1;
    int stdout_index = -1;
    int stderr_index = -1;
    if (child_.stdin_pipe()) {
      stdin_index = static_cast<int>(count);
      fds[count++] = {child_.stdin_pipe().get(), POLLOUT, 0};
    }
    if (child_.stdout_pipe()) {
      stdout_index = static_cast<int>(count);
      fds[count++] = {child_.stdout_pipe().get(), POLLIN, 0};
    }
    if (child_.stderr_pipe()) {
      stderr_index = static_cast<int>(count);
      fds[count++] = {child_.stderr_pipe().get(), POLLIN, 0};
    }
    if (!exit_status_) fds[count++] = {child_.exit_event_fd(), POLLIN, 0};

    std::optional<SteadyClock::time_point> wake;
    if (exit_status_) {
      wake = last_activity_ + options_.drain_idle;
    } else if (!timed_out_ && options_.deadline) {
      wake = *options_.deadline;
    }
    int timeout_ms = -1;
    if (wake) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*wake - now);
      timeout_ms = static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(
          left.count(), 0, std::numeric_limits<int>::max()));
    }
    const int ready = poll(fds, count, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return Fail("poll", errno);
    }
    if (ready == 0) {
      // Nothing to read for drain_idle after the child exited: stop waiting for end-of-file
      // from pipes someone outside the group still holds. Only a poll that found the pipes
      // empty decides this, never the clock alone: bytes already written are always read.
      if (exit_status_ && SteadyClock::now() - last_activity_ >= options_.drain_idle) {
        CloseStdout();
        CloseStderr();
      }
      continue;
    }

    constexpr short kReadable = POLLIN | POLLHUP | POLLERR;
    if (stdin_index >= 0 && (fds[stdin_index].revents & (POLLOUT | POLLERR | POLLHUP))) {
      stdin_writable_ = true;
    }
    if (stderr_index >= 0 && (fds[stderr_index].revents & kReadable)) {
      if (Status s = ReadStderr(); !s) return s.error();
    }
    if (stdout_index >= 0 && (fds[stdout_index].revents & kReadable)) {
      Expected<bool> go_on = ReadStdout();
      if (!go_on) return go_on.error();
      if (!*go_on) return PumpResult{PumpOutcome::kStopped, ExitStatus{}};
    }
  }
}

Status ProcessPump::FeedStdin(SigpipeBlock& sigpipe) {
  while (child_.stdin_pipe()) {
    if (input_begin_ == input_end_) {
      const long n = options_.input ? options_.input(input_.data(), input_.size()) : 0;
      if (n < 0) {
        // The function would see a truncated input and could still exit 0: never a success.
        child_.KillGroup(SIGKILL);
        return Error{
            fmt::format("function process {}: the request body could not be read", child_.pid())};
      }
      if (n == 0) {
        CloseStdin();
        break;
      }
      input_begin_ = 0;
      input_end_ = std::min(static_cast<std::size_t>(n), input_.size());
    }
    const ssize_t written =
        write(child_.stdin_pipe().get(), input_.data() + input_begin_, input_end_ - input_begin_);
    if (written >= 0) {
      input_begin_ += static_cast<std::size_t>(written);
    } else if (errno == EAGAIN) {
      stdin_writable_ = false;
      break;
    } else if (errno == EPIPE) {
      // The child closed its stdin (or exited): it wants no more input; keep reading.
      sigpipe.NoteEpipe();
      CloseStdin();
    } else if (errno != EINTR) {
      return Fail("write to stdin", errno);
    }
  }
  return Ok{};
}

Expected<bool> ProcessPump::ReadStdout() {
  const ssize_t n = read(child_.stdout_pipe().get(), buffer_.data(), buffer_.size());
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return true;
    return Fail("read from stdout", errno);
  }
  if (n == 0) {
    CloseStdout();
    return true;
  }
  if (exit_status_) last_activity_ = SteadyClock::now();
  if (timed_out_ || !options_.on_stdout) return true;  // output after a timeout is dropped
  return options_.on_stdout(std::string_view(buffer_.data(), static_cast<std::size_t>(n)));
}

Status ProcessPump::ReadStderr() {
  const ssize_t n = read(child_.stderr_pipe().get(), buffer_.data(), buffer_.size());
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return Ok{};
    return Fail("read from stderr", errno);
  }
  if (n == 0) {
    CloseStderr();
    return Ok{};
  }
  if (exit_status_) last_activity_ = SteadyClock::now();
  stderr_lines_.Append(std::string_view(buffer_.data(), static_cast<std::size_t>(n)));
  return Ok{};
}

void ProcessPump::CloseStdin() {
  child_.stdin_pipe().reset();
  input_begin_ = input_end_ = 0;
}

void ProcessPump::CloseStdout() { child_.stdout_pipe().reset(); }

void ProcessPump::CloseStderr() {
  if (!child_.stderr_pipe()) return;
  child_.stderr_pipe().reset();
  stderr_lines_.Flush();
}

Error ProcessPump::Fail(std::string_view what, int error) {
  child_.KillGroup(SIGKILL);
  return Error{fmt::format("function process {}: {} failed: {}", child_.pid(), what,
                           std::error_code(error, std::generic_category()).message())};
}

}  // namespace hw::executor
