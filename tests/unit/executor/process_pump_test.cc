#include "executor/process_pump.h"

#include <fcntl.h>
#include <signal.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "process_test_support.h"

namespace hw::executor {
namespace {

using namespace std::chrono_literals;
using testing::Command;
using testing::Eventually;
using testing::GroupExists;
using testing::Shell;
using SteadyClock = std::chrono::steady_clock;

ChildProcess MustSpawn(const SpawnOptions& options) {
  auto child = ChildProcess::Spawn(options);
  if (!child) FAIL("spawn failed: " << child.error().message);
  return std::move(child).value();
}

// An input callback that serves `data` in pieces of at most cap bytes.
std::function<long(char*, std::size_t)> InputFrom(const std::string& data) {
  auto offset = std::make_shared<std::size_t>(0);
  return [&data, offset](char* buf, std::size_t cap) -> long {
    const std::size_t n = std::min(cap, data.size() - *offset);
    std::memcpy(buf, data.data() + *offset, n);
    *offset += n;
    return static_cast<long>(n);
  };
}

std::string RandomBytes(std::size_t size) {
  std::mt19937_64 random(7);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

TEST_CASE("pump round-trips 10 MiB through cat without deadlock and in chunks of 64 KiB at most") {
  const std::string input = RandomBytes(10 * 1024 * 1024);
  ChildProcess child = MustSpawn(Command({"/bin/cat"}));
  std::string output;
  std::size_t largest_chunk = 0;
  PumpOptions options;
  options.input = InputFrom(input);
  options.on_stdout = [&](std::string_view chunk) {
    largest_chunk = std::max(largest_chunk, chunk.size());
    output.append(chunk);
    return true;
  };
  options.deadline = SteadyClock::now() + 60s;  // a deadlock fails instead of hanging
  ProcessPump pump(child, std::move(options));
  auto result = pump.Run();
  REQUIRE(result.ok());
  CHECK(result->outcome == PumpOutcome::kCompleted);
  CHECK(result->status.success());
  CHECK(output.size() == input.size());
  CHECK(output == input);
  CHECK(largest_chunk <= ProcessPump::kMaxChunk);
}

TEST_CASE("pump reports the exit code and the terminating signal") {
  ChildProcess failing = MustSpawn(Shell("echo partial; exit 42"));
  auto failed = ProcessPump(failing, {}).Run();
  REQUIRE(failed.ok());
  CHECK(failed->outcome == PumpOutcome::kCompleted);
  CHECK(failed->status.exit_code == 42);

  ChildProcess killed = MustSpawn(Shell("kill -KILL $$"));
  auto signaled = ProcessPump(killed, {}).Run();
  REQUIRE(signaled.ok());
  CHECK(signaled->status.signal == SIGKILL);
  CHECK(signaled->status.exit_code == -1);
}

TEST_CASE("timeout kills the whole group including a grandchild and returns promptly") {
  ChildProcess child = MustSpawn(Shell("sleep 30 & sleep 30"));
  const pid_t pgid = child.pid();
  REQUIRE(Eventually([&] { return testing::ChildrenOf(pgid).size() == 2; }));
  PumpOptions options;
  options.deadline = SteadyClock::now() + 300ms;
  const auto start = SteadyClock::now();
  auto result = ProcessPump(child, std::move(options)).Run();
  const auto took = SteadyClock::now() - start;
  REQUIRE(result.ok());
  CHECK(result->outcome == PumpOutcome::kTimedOut);
  CHECK(result->status.signal == SIGKILL);
  CHECK(took >= 250ms);
  CHECK(took < 3s);
  // The killed grandchild is a zombie until the reaper collects it: allow a moment.
  CHECK(Eventually([&] { return !GroupExists(pgid); }, 2s));
  CHECK(kill(-pgid, 0) == -1);
  CHECK(errno == ESRCH);
}

TEST_CASE("a child that closes stdin early is not an error: the pump stops writing and reads on") {
  const std::string input(4 * 1024 * 1024, 'x');  // far more than a pipe holds
  ChildProcess child = MustSpawn(Shell("exec 0<&-; sleep 0.1; echo hi"));
  std::string output;
  PumpOptions options;
  options.input = InputFrom(input);
  options.on_stdout = [&](std::string_view chunk) {
    output.append(chunk);
    return true;
  };
  options.deadline = SteadyClock::now() + 20s;
  auto result = ProcessPump(child, std::move(options)).Run();
  REQUIRE(result.ok());
  CHECK(result->outcome == PumpOutcome::kCompleted);
  CHECK(result->status.success());
  CHECK(output == "hi\n");
  // The SIGPIPE of the failed write was consumed and the signal mask restored.
  sigset_t pending;
  sigset_t mask;
  sigpending(&pending);
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  CHECK_FALSE(sigismember(&pending, SIGPIPE));
  CHECK_FALSE(sigismember(&mask, SIGPIPE));
}

TEST_CASE("pausing the stdout callback stops the pump and a later run resumes it") {
  ChildProcess child = MustSpawn(Shell("printf first; sleep 0.2; printf second; exit 5"));
  std::vector<std::string> chunks;
  bool pause = true;
  PumpOptions options;
  options.on_stdout = [&](std::string_view chunk) {
    chunks.emplace_back(chunk);
    return !pause;
  };
  ProcessPump pump(child, std::move(options));
  auto first = pump.Run();
  REQUIRE(first.ok());
  CHECK(first->outcome == PumpOutcome::kStopped);
  REQUIRE(chunks.size() == 1);
  CHECK(chunks[0] == "first");

  pause = false;
  auto rest = pump.Run();
  REQUIRE(rest.ok());
  CHECK(rest->outcome == PumpOutcome::kCompleted);
  CHECK(rest->status.exit_code == 5);
  std::string all;
  for (const auto& c : chunks) all += c;
  CHECK(all == "firstsecond");

  auto again = pump.Run();  // finished: the same result, nothing more read
  REQUIRE(again.ok());
  CHECK(again->outcome == PumpOutcome::kCompleted);
  CHECK(again->status.exit_code == 5);
}

TEST_CASE("a deadline that passes while the pump is paused is enforced when it resumes") {
  ChildProcess child = MustSpawn(Shell("echo start; exec sleep 30"));
  PumpOptions options;
  options.on_stdout = [](std::string_view) { return false; };
  const auto deadline = SteadyClock::now() + 200ms;
  options.deadline = deadline;
  ProcessPump pump(child, std::move(options));
  auto first = pump.Run();
  REQUIRE(first.ok());
  REQUIRE(first->outcome == PumpOutcome::kStopped);
  REQUIRE(Eventually([&] { return SteadyClock::now() > deadline; }));  // passes while paused
  auto second = pump.Run();
  REQUIRE(second.ok());
  CHECK(second->outcome == PumpOutcome::kTimedOut);
}

TEST_CASE("a pause longer than drain_idle after the child exited loses no output") {
  // The child exits with 300000 bytes still in its (enlarged) stdout pipe. The pump sees the
  // exit, reads one more chunk and is paused for longer than drain_idle (a slow client):
  // the time paused is not silence, and every byte is still read.
  ChildProcess child = MustSpawn(Shell("read go; head -c 300000 /dev/zero"));
  REQUIRE(fcntl(child.stdout_pipe().get(), F_SETPIPE_SZ, 1024 * 1024) >= 300000);
  const std::string go = "go\n";
  std::size_t received = 0;
  int calls = 0;
  PumpOptions options;
  options.input = InputFrom(go);
  options.on_stdout = [&](std::string_view chunk) {
    received += chunk.size();
    ++calls;
    if (calls == 1) {
      // Keep going until the pump has seen the exit, then pause on the next chunk.
      CHECK(Eventually([&] { return child.TryExitStatus().has_value(); }));
      return true;
    }
    return calls != 2;
  };
  options.drain_idle = 100ms;
  ProcessPump pump(child, std::move(options));
  auto first = pump.Run();
  REQUIRE(first.ok());
  REQUIRE(first->outcome == PumpOutcome::kStopped);
  CHECK(received < 300000);
  std::this_thread::sleep_for(300ms);  // time passes: the pause outlasts drain_idle (100 ms)
  auto rest = pump.Run();
  REQUIRE(rest.ok());
  CHECK(rest->outcome == PumpOutcome::kCompleted);
  CHECK(rest->status.success());
  CHECK(received == 300000);
}

TEST_CASE("an input that cannot be read fails the run instead of ending the input") {
  ChildProcess child = MustSpawn(Command({"/bin/cat"}));
  std::string output;
  int calls = 0;
  PumpOptions options;
  options.input = [&calls](char* buf, std::size_t cap) -> long {
    if (++calls > 1) return -1;  // e.g. the spool file failed
    std::memset(buf, 'a', std::min<std::size_t>(cap, 10));
    return 10;
  };
  options.on_stdout = [&](std::string_view chunk) {
    output.append(chunk);
    return true;
  };
  auto result = ProcessPump(child, std::move(options)).Run();
  CHECK_FALSE(result.ok());
  // cat was killed, not given end-of-file: it cannot exit 0 with a truncated input.
  CHECK(child.Wait().signal == SIGKILL);
}

TEST_CASE("stderr lines are split at max_line and flushed at the end") {
  ChildProcess child =
      MustSpawn(Shell("printf 'short\\n0123456789abcdefXY\\r\\nlast' >&2; echo out"));
  std::vector<std::string> lines;
  std::string output;
  PumpOptions options;
  options.max_line = 8;
  options.on_stderr_line = [&](std::string_view line) { lines.emplace_back(line); };
  options.on_stdout = [&](std::string_view chunk) {
    output.append(chunk);
    return true;
  };
  auto result = ProcessPump(child, std::move(options)).Run();
  REQUIRE(result.ok());
  CHECK(lines == std::vector<std::string>{"short", "01234567", "89abcdef", "XY", "last"});
  CHECK(output == "out\n");
}

TEST_CASE("combine_output sends stderr into the stdout pipe") {
  SpawnOptions spawn = Shell("echo out; echo err >&2");
  spawn.combine_output = true;
  ChildProcess child = MustSpawn(spawn);
  CHECK_FALSE(child.stderr_pipe().valid());
  auto run = RunToCompletion(child, "", std::nullopt, nullptr, 1024);
  REQUIRE(run.ok());
  CHECK(run->stdout_bytes == "out\nerr\n");
}

TEST_CASE("a background grandchild holding stdout does not keep the pump waiting") {
  ChildProcess child = MustSpawn(Shell("echo hi; sleep 30 &"));
  const auto start = SteadyClock::now();
  auto run = RunToCompletion(child, "", SteadyClock::now() + 20s, nullptr, 1024);
  REQUIRE(run.ok());
  CHECK_FALSE(run->timed_out);
  CHECK(run->stdout_bytes == "hi\n");
  CHECK(SteadyClock::now() - start < 800ms);  // not the 1 s drain_idle: the sleep was killed
}

TEST_CASE("a process that left the group holds the pump no longer than drain_idle") {
  // setsid puts the sleep in a session of its own, so killing the child's group misses it;
  // the shell waits until it is there (session id = its pid, /proc/PID/stat field 6).
  ChildProcess child = MustSpawn(Shell(
      "setsid sleep 30 & p=$!; "
      "while [ \"$(cut -d' ' -f6 /proc/$p/stat)\" != \"$p\" ]; do sleep 0.01; done; echo $p"));
  std::string output;
  PumpOptions options;
  options.on_stdout = [&](std::string_view chunk) {
    output.append(chunk);
    return true;
  };
  options.drain_idle = 200ms;
  const auto start = SteadyClock::now();
  auto result = ProcessPump(child, std::move(options)).Run();
  const auto took = SteadyClock::now() - start;
  REQUIRE(result.ok());
  CHECK(result->outcome == PumpOutcome::kCompleted);
  CHECK(took >= 150ms);
  CHECK(took < 3s);
  REQUIRE_FALSE(output.empty());
  kill(std::stoi(output), SIGKILL);  // the escaped process: ours to clean up
}

TEST_CASE("pump without input closes stdin at once") {
  ChildProcess child = MustSpawn(Command({"/bin/cat"}));
  auto result = ProcessPump(child, {}).Run();
  REQUIRE(result.ok());
  CHECK(result->outcome == PumpOutcome::kCompleted);
  CHECK(result->status.success());
}

TEST_CASE("run to completion collects stdout and delivers stderr lines") {
  ChildProcess child = MustSpawn(Shell("read line; echo \"got $line\"; echo oops >&2; exit 2"));
  std::vector<std::string> lines;
  auto run = RunToCompletion(
      child, "body\n", SteadyClock::now() + 20s,
      [&](std::string_view line) { lines.emplace_back(line); }, 1024);
  REQUIRE(run.ok());
  CHECK(run->stdout_bytes == "got body\n");
  CHECK(lines == std::vector<std::string>{"oops"});
  CHECK(run->status.exit_code == 2);
  CHECK_FALSE(run->timed_out);
  CHECK_FALSE(run->output_too_large);
}

TEST_CASE("run to completion stops an endless writer at max_output") {
  ChildProcess child = MustSpawn(Command({"/usr/bin/yes"}));
  const auto start = SteadyClock::now();
  auto run = RunToCompletion(child, "", SteadyClock::now() + 20s, nullptr, 1 << 20);
  REQUIRE(run.ok());
  CHECK(run->output_too_large);
  CHECK(run->stdout_bytes.size() == 1 << 20);
  CHECK(run->status.signal == SIGKILL);
  CHECK_FALSE(run->timed_out);
  CHECK(SteadyClock::now() - start < 5s);
}

TEST_CASE("run to completion reports a timeout and keeps no output read after it") {
  ChildProcess child = MustSpawn(Shell("echo early; sleep 30"));
  auto run = RunToCompletion(child, "", SteadyClock::now() + 200ms, nullptr, 1024);
  REQUIRE(run.ok());
  CHECK(run->timed_out);
  CHECK(run->status.signal == SIGKILL);
}

TEST_CASE("endless stderr without a newline neither blocks the child nor grows memory") {
  // 8 MiB of stderr with no newline: the child can only finish if the pump keeps reading.
  ChildProcess child = MustSpawn(Shell("head -c 8388608 /dev/zero >&2; echo done"));
  std::size_t pieces = 0;
  std::size_t longest = 0;
  PumpOptions options;
  options.max_line = 4096;
  options.on_stderr_line = [&](std::string_view line) {
    ++pieces;
    longest = std::max(longest, line.size());
  };
  options.deadline = SteadyClock::now() + 30s;
  auto result = ProcessPump(child, std::move(options)).Run();
  REQUIRE(result.ok());
  CHECK(result->outcome == PumpOutcome::kCompleted);
  CHECK(pieces == 8388608 / 4096);
  CHECK(longest == 4096);
}

}  // namespace
}  // namespace hw::executor
