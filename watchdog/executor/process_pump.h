// ProcessPump: drives one child's pipes from a single thread with poll(): feeds its stdin,
// hands its stdout on in bounded chunks, cuts its stderr into log lines, and enforces the
// deadline by killing the child's whole process group. Streaming and serializing mode each
// drive one through their own callbacks; http mode pumps the long-running function's logs.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"
#include "executor/line_splitter.h"
#include "executor/process.h"

namespace hw::executor {

using Deadline = std::optional<std::chrono::steady_clock::time_point>;  // nullopt = no limit

struct PumpOptions {
  // Fills buf with up to cap bytes for the child's stdin and returns the count; 0 means end of
  // input (stdin is closed), a negative value that the input could not be read: Run then
  // fails with an Error (and SIGKILLs the group), since the function saw a truncated input.
  // Null: stdin is closed at once. If the child closes its stdin early, the rest of the input
  // is dropped silently (that is not an error).
  std::function<long(char* buf, std::size_t cap)> input;
  // Receives stdout in chunks of at most kMaxChunk bytes, as they arrive. Returning false
  // pauses the pump: Run returns kStopped right after that chunk, and a later Run continues.
  // Null: stdout is read and discarded.
  std::function<bool(std::string_view chunk)> on_stdout;
  // Receives stderr split into lines (LineSplitter, max_line bytes at most). Null: discarded.
  std::function<void(std::string_view line)> on_stderr_line;
  std::size_t max_line = 65536;  // log_buffer_size
  // exec_timeout. If it passes before the child exited, the child's whole group gets SIGKILL
  // and Run reports kTimedOut. It limits the process, not the reading of what it wrote before
  // it exited (that is bounded by drain_idle). It keeps running while the pump is paused.
  Deadline deadline;
  // After the child exited, how long its pipes may stay silent without reaching end-of-file
  // before the pump stops waiting for it (only a process that left the child's group, e.g.
  // with setsid, can still hold them open then). Silent means a poll that found nothing to
  // read for that long; time spent paused (kStopped) or not scheduled never counts, so bytes
  // already in a pipe are always read.
  std::chrono::milliseconds drain_idle = std::chrono::seconds(1);
};

enum class PumpOutcome {
  kCompleted,  // the child exited and its output was read to the end
  kStopped,    // on_stdout returned false; call Run again to continue
  kTimedOut,   // the deadline passed: the group was killed and its output drained
};

struct PumpResult {
  PumpOutcome outcome = PumpOutcome::kCompleted;
  ExitStatus status;  // how the child ended; meaningless for kStopped
};

// One pump per child, driven by one thread at a time. The child must outlive the pump.
class ProcessPump {
 public:
  static constexpr std::size_t kMaxChunk = 64 * 1024;

  ProcessPump(ChildProcess& child, PumpOptions options);

  // Pumps until the child has exited and stdout/stderr reached end-of-file (kCompleted), the
  // deadline passes before the child exited (kTimedOut, after SIGKILL to the group and a drain;
  // stdout read after the deadline is discarded, stderr lines still delivered), or on_stdout asks
  // to pause (kStopped). Once kCompleted or kTimedOut, further calls return the same result.
  // SIGPIPE is blocked in the calling thread while Run writes, and a SIGPIPE it caused is consumed.
  // An Error for a failing system call (poll, read, write other than EPIPE) or an input that
  // could not be read; the group is SIGKILLed then.
  Expected<PumpResult> Run();

 private:
  class SigpipeBlock;

  // Writes pending input until the pipe is full or the input ends.
  Status FeedStdin(SigpipeBlock& sigpipe);
  // One read each; ReadStdout returns false when on_stdout asked to pause.
  Expected<bool> ReadStdout();
  Status ReadStderr();
  void CloseStdin();
  void CloseStdout();
  void CloseStderr();
  Error Fail(std::string_view what, int error);

  ChildProcess& child_;
  PumpOptions options_;
  LineSplitter stderr_lines_;
  std::vector<char> buffer_;     // for reads, kMaxChunk bytes
  std::vector<char> input_;      // from options_.input, kMaxChunk bytes
  std::size_t input_begin_ = 0;  // input_[input_begin_, input_end_) is still to write
  std::size_t input_end_ = 0;
  bool stdin_writable_ = true;  // false after EAGAIN, until poll reports POLLOUT
  bool timed_out_ = false;
  std::optional<ExitStatus> exit_status_;
  std::chrono::steady_clock::time_point last_activity_;  // of the pipes, once exited
  std::optional<PumpResult> final_;
};

}  // namespace hw::executor
