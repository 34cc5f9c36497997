#include "executor/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "executor/child_reaper.h"
#include "executor/process_pump.h"
#include "process_test_support.h"
#include "support/temp_dir.h"

namespace hw::executor {
namespace {

using namespace std::chrono_literals;
using testing::Command;
using testing::Eventually;
using testing::GroupExists;
using testing::Shell;

// Reads the child's stdout to the end and waits for it; for simple cases.
std::string OutputOf(ChildProcess& child) {
  auto run = RunToCompletion(child, "", std::nullopt, nullptr, 1 << 20);
  REQUIRE(run.ok());
  return run->stdout_bytes;
}

ChildProcess MustSpawn(const SpawnOptions& options) {
  auto child = ChildProcess::Spawn(options);
  if (!child) FAIL("spawn failed: " << child.error().message);
  return std::move(child).value();
}

TEST_CASE("spawn of a missing program gives an error naming the program and the reason") {
  auto by_path = ChildProcess::Spawn(Command({"/nonexistent/hw-no-such-program"}));
  REQUIRE_FALSE(by_path.ok());
  CHECK_THAT(by_path.error().message, Catch::Contains("/nonexistent/hw-no-such-program") &&
                                          Catch::Contains("No such file or directory"));

  auto by_name = ChildProcess::Spawn(Command({"hw-no-such-program-in-path"}));
  REQUIRE_FALSE(by_name.ok());
  CHECK_THAT(by_name.error().message, Catch::Contains("hw-no-such-program-in-path") &&
                                          Catch::Contains("No such file or directory"));
}

TEST_CASE("spawn of a file that is not executable gives a permission error") {
  char path[] = "/tmp/hw-not-executable-XXXXXX";
  const int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, "#!/bin/sh\necho hi\n", 18) == 18);
  close(fd);
  REQUIRE(chmod(path, 0644) == 0);
  auto child = ChildProcess::Spawn(Command({path}));
  unlink(path);
  REQUIRE_FALSE(child.ok());
  CHECK_THAT(child.error().message, Catch::Contains(path) && Catch::Contains("Permission denied"));
}

TEST_CASE("spawn with an empty command line is an error, not a crash") {
  CHECK_FALSE(ChildProcess::Spawn(Command({})).ok());
  CHECK_FALSE(ChildProcess::Spawn(Command({""})).ok());
}

TEST_CASE("spawn with a missing working directory names the directory") {
  SpawnOptions options = Command({"/bin/true"});
  options.working_dir = "/nonexistent-hw-dir";
  auto child = ChildProcess::Spawn(options);
  REQUIRE_FALSE(child.ok());
  CHECK_THAT(child.error().message, Catch::Contains("working directory \"/nonexistent-hw-dir\""));
}

TEST_CASE("a failed spawn leaks no descriptor") {
  REQUIRE(StartReaper().ok());
  const int before = testing::CountOpenFds();
  for (int i = 0; i < 20; ++i) CHECK_FALSE(ChildProcess::Spawn(Command({"/nonexistent"})).ok());
  CHECK(testing::CountOpenFds() == before);
}

TEST_CASE("child runs in the working directory it was given") {
  SpawnOptions options = Shell("pwd");
  options.working_dir = "/usr";
  ChildProcess child = MustSpawn(options);
  CHECK(OutputOf(child) == "/usr\n");
}

TEST_CASE("child gets exactly the environment it was given") {
  SpawnOptions options = Command({"/usr/bin/env"});
  options.env = {"A=1", "B=two words", "EMPTY="};
  ChildProcess child = MustSpawn(options);
  CHECK(OutputOf(child) == "A=1\nB=two words\nEMPTY=\n");
}

TEST_CASE("child leads a new process group of its own") {
  ChildProcess child = MustSpawn(Command({"/bin/cat"}));
  REQUIRE(testing::EventuallyInState(child.pid(), "S"));
  const testing::ProcStat stat = testing::ReadProcStat(child.pid());
  CHECK(stat.pgrp == child.pid());
  CHECK(stat.pgrp != getpgrp());
  CHECK(stat.ppid == getpid());
}

TEST_CASE("child starts with an empty signal mask and default dispositions") {
  // The watchdog blocks these in its threads and may ignore SIGPIPE.
  sigset_t blocked;
  sigset_t previous_mask;
  sigemptyset(&blocked);
  for (int sig : {SIGTERM, SIGINT, SIGCHLD, SIGPIPE}) sigaddset(&blocked, sig);
  pthread_sigmask(SIG_BLOCK, &blocked, &previous_mask);
  struct sigaction ignore {};
  struct sigaction previous_action {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGHUP, &ignore, &previous_action);

  auto spawned = ChildProcess::Spawn(Command({"/bin/cat"}));

  sigaction(SIGHUP, &previous_action, nullptr);
  pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
  REQUIRE(spawned.ok());
  REQUIRE(testing::EventuallyInState(spawned->pid(), "S"));
  CHECK(testing::StatusField(spawned->pid(), "SigBlk") == "0000000000000000");
  // glibc's posix_spawn itself leaves its two internal signals (32 and 33, below SIGRTMIN)
  // ignored in the child and offers no way to reset them; every other signal is default.
  const unsigned long long ignored =
      std::stoull(testing::StatusField(spawned->pid(), "SigIgn"), nullptr, 16);
  const unsigned long long glibc_internal = (1ULL << (32 - 1)) | (1ULL << (33 - 1));
  CHECK((ignored & ~glibc_internal) == 0);
}

TEST_CASE("child has only descriptors 0, 1 and 2, even if one leaked without close-on-exec") {
  const int leaked = open("/dev/null", O_RDONLY);  // deliberately without O_CLOEXEC
  REQUIRE(leaked >= 0);
  ChildProcess child = MustSpawn(Command({"/bin/cat"}));
  close(leaked);
  REQUIRE(testing::EventuallyInState(child.pid(), "S"));
  CHECK(testing::OpenFdsOf(child.pid()) == std::vector<int>{0, 1, 2});
}

TEST_CASE("parent pipe ends are non-blocking and close-on-exec") {
  ChildProcess child = MustSpawn(Command({"/bin/cat"}));
  for (UniqueFd* fd : {&child.stdin_pipe(), &child.stdout_pipe(), &child.stderr_pipe()}) {
    REQUIRE(fd->valid());
    CHECK((fcntl(fd->get(), F_GETFL) & O_NONBLOCK) != 0);
    CHECK((fcntl(fd->get(), F_GETFD) & FD_CLOEXEC) != 0);
  }
}

TEST_CASE("stdin that is not piped reads as /dev/null") {
  SpawnOptions options = Command({"/bin/cat"});
  options.pipe_stdin = false;
  ChildProcess child = MustSpawn(options);
  CHECK_FALSE(child.stdin_pipe().valid());
  CHECK(OutputOf(child).empty());
  CHECK(child.Wait().success());
}

TEST_CASE("exit codes and signals are reported") {
  ChildProcess three = MustSpawn(Shell("exit 3"));
  const ExitStatus exited = three.Wait();
  CHECK(exited.exit_code == 3);
  CHECK(exited.exited());
  CHECK_FALSE(exited.success());
  CHECK(exited.Describe() == "exit code 3");

  ChildProcess killed = MustSpawn(Shell("kill -TERM $$"));
  const ExitStatus signaled = killed.Wait();
  CHECK(signaled.signal == SIGTERM);
  CHECK_FALSE(signaled.exited());
  CHECK(signaled.Describe() == "killed by signal 15 (SIGTERM)");

  ChildProcess ok = MustSpawn(Command({"/bin/true"}));
  CHECK(ok.Wait().success());
}

TEST_CASE("wait until returns nothing while the child runs and the status once it exits") {
  ChildProcess child = MustSpawn(Command({"/bin/cat"}));
  CHECK_FALSE(child.WaitUntil(std::chrono::steady_clock::now() + 50ms).has_value());
  CHECK_FALSE(child.TryExitStatus().has_value());
  child.stdin_pipe().reset();  // end-of-file: cat exits
  const auto status = child.WaitUntil(std::chrono::steady_clock::now() + 5s);
  REQUIRE(status.has_value());
  CHECK(status->success());
  CHECK(child.TryExitStatus().has_value());
  CHECK_FALSE(child.KillGroup(SIGKILL));  // reaped: nothing is sent any more
}

TEST_CASE("destroying a running child kills its whole group") {
  pid_t pgid = 0;
  {
    ChildProcess child = MustSpawn(Shell("sleep 30 & sleep 30"));
    pgid = child.pid();
    REQUIRE(Eventually([&] { return testing::ChildrenOf(pgid).size() == 2; }));
  }
  CHECK(Eventually([&] { return !GroupExists(pgid); }, 2s));
}

TEST_CASE("an exception thrown while a child runs leaves no process behind") {
  pid_t pgid = 0;
  try {
    ChildProcess child = MustSpawn(Shell("sleep 30"));
    pgid = child.pid();
    throw std::runtime_error("handler failed");
  } catch (const std::runtime_error&) {
  }
  REQUIRE(pgid > 0);
  CHECK(Eventually([&] { return !GroupExists(pgid); }, 2s));
}

TEST_CASE("move assignment terminates the process it replaces") {
  ChildProcess first = MustSpawn(Shell("sleep 30"));
  const pid_t first_pid = first.pid();
  ChildProcess second = MustSpawn(Command({"/bin/true"}));
  const pid_t second_pid = second.pid();
  first = std::move(second);
  CHECK(first.pid() == second_pid);
  CHECK(kill(first_pid, 0) == -1);  // killed and reaped before the assignment returned
  CHECK(Eventually([&] { return !GroupExists(first_pid); }, 2s));  // and its sleep with it
  CHECK(first.Wait().success());
}

TEST_CASE("the group is killed when the child exits, so no background grandchild outlives it") {
  ChildProcess child = MustSpawn(Shell("sleep 30 & echo $!"));
  const std::string output = OutputOf(child);  // returns: the sleep does not hold stdout open
  const pid_t grandchild = std::stoi(output);
  CHECK(child.Wait().success());
  CHECK(Eventually([&] { return !GroupExists(child.pid()); }, 2s));
  CHECK(Eventually([&] { return kill(grandchild, 0) != 0; }, 2s));
}

TEST_CASE("with kill_group_on_exit off a background grandchild survives the child") {
  SpawnOptions options = Shell("sleep 30 > /dev/null 2>&1 & echo $!");
  options.kill_group_on_exit = false;
  ChildProcess child = MustSpawn(options);
  const pid_t grandchild = std::stoi(OutputOf(child));
  CHECK(child.Wait().success());
  CHECK(kill(grandchild, 0) == 0);
  CHECK(testing::ReadProcStat(grandchild).ppid == getpid());  // re-parented to the subreaper
  kill(grandchild, SIGKILL);
  CHECK(Eventually([&] { return kill(grandchild, 0) != 0; }, 2s));  // and reaped by it
}

TEST_CASE("an orphaned grandchild is reaped and leaves no zombie") {
  REQUIRE(StartReaper().ok());
  // The orphan lives until the test has seen it adopted (a fixed "sleep 1" could end before
  // the first look on a loaded machine), then ends by itself.
  hw::test::TempDir dir;
  const std::string go = dir.File("go");
  SpawnOptions options =
      Shell("(while [ ! -e '" + go + "' ]; do sleep 0.01; done) > /dev/null 2>&1 &");
  options.kill_group_on_exit = false;  // let the orphan live until it is told to end
  ChildProcess child = MustSpawn(options);
  CHECK(child.Wait().success());
  // The subreaper adopted it: a process whose parent is this test, but not our child.
  std::vector<testing::ProcStat> adopted;
  REQUIRE(Eventually([&] {
    adopted = testing::ChildrenOf(getpid());
    return !adopted.empty();
  }));
  bool found = false;
  for (const auto& p : adopted) found = found || p.pgrp == child.pid();
  CHECK(found);
  dir.Write("go", "");
  // After it ends, nothing of ours is left, in particular no zombie.
  CHECK(Eventually([&] {
    for (const auto& p : testing::ChildrenOf(getpid())) {
      if (p.pgrp == child.pid() || p.state == 'Z') return false;
    }
    return true;
  }));
}

TEST_CASE("descriptors return to the idle count after 100 spawns") {
  REQUIRE(StartReaper().ok());
  const int idle = testing::CountOpenFds();
  for (int i = 0; i < 100; ++i) {
    ChildProcess child = MustSpawn(Shell("echo out; echo err >&2; exit 1"));
    auto run = RunToCompletion(child, "input", std::nullopt, nullptr, 1024);
    REQUIRE(run.ok());
    REQUIRE(run->status.exit_code == 1);
  }
  CHECK(testing::CountOpenFds() == idle);
  CHECK(Eventually([] { return testing::ChildrenOf(getpid()).empty(); }));
}

TEST_CASE("children spawned from many threads each get their own exit status") {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &wrong] {
      for (int i = 0; i < kPerThread; ++i) {
        const int code = (t * kPerThread + i) % 200;
        auto child = ChildProcess::Spawn(Shell("exit " + std::to_string(code)));
        if (!child || child->Wait().exit_code != code) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(wrong == 0);
}

}  // namespace
}  // namespace hw::executor
