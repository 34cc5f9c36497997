// Helpers shared by the executor tests: spawning real programs and looking at what the kernel
// says about processes and descriptors (/proc), so the tests check effects, not our own state.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "executor/process.h"
#include "executor/process_pump.h"
#include "support/eventually.h"

namespace hw::executor::testing {

inline std::vector<std::string> TestEnv() { return {"PATH=/usr/bin:/bin", "LC_ALL=C"}; }

// Options for `sh -c script` with every stream piped.
inline SpawnOptions Shell(const std::string& script) {
  SpawnOptions options;
  options.argv = {"/bin/sh", "-c", script};
  options.env = TestEnv();
  return options;
}

inline SpawnOptions Command(std::vector<std::string> argv) {
  SpawnOptions options;
  options.argv = std::move(argv);
  options.env = TestEnv();
  return options;
}

struct ProcStat {
  pid_t pid = 0;
  char state = '?';
  pid_t ppid = 0;
  pid_t pgrp = 0;
};

// Parses /proc/<pid>/stat; pid 0 in the result when the process is gone.
inline ProcStat ReadProcStat(pid_t pid) {
  // read(2), not an ifstream: a process that exits between open and read makes libstdc++'s
  // filebuf throw (ESRCH); here it simply reads as gone.
  std::string text;
  const int fd = ::open(("/proc/" + std::to_string(pid) + "/stat").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char buf[1024];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
  }
  ProcStat stat;
  const std::size_t paren = text.rfind(')');  // comm may contain spaces and parentheses
  if (paren == std::string::npos) return stat;
  std::istringstream rest(text.substr(paren + 1));
  rest >> stat.state >> stat.ppid >> stat.pgrp;
  if (rest) stat.pid = pid;
  return stat;
}

inline std::vector<ProcStat> ChildrenOf(pid_t parent) {
  std::vector<ProcStat> children;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return children;
  while (dirent* entry = readdir(dir)) {
    const pid_t pid = static_cast<pid_t>(std::atoi(entry->d_name));
    if (pid <= 0) continue;
    const ProcStat stat = ReadProcStat(pid);
    if (stat.pid != 0 && stat.ppid == parent) children.push_back(stat);
  }
  closedir(dir);
  return children;
}

inline int CountOpenFds() {
  int count = 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count - 1;  // the directory's own descriptor
}

inline std::vector<int> OpenFdsOf(pid_t pid) {
  std::vector<int> fds;
  DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (dir == nullptr) return fds;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') fds.push_back(std::atoi(entry->d_name));
  }
  closedir(dir);
  std::sort(fds.begin(), fds.end());
  return fds;
}

// The value of a "Name:\tvalue" line of /proc/<pid>/status ("" if missing).
inline std::string StatusField(pid_t pid, const std::string& name) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind(name + ":", 0) == 0) {
      std::string value = line.substr(name.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "";
}

inline bool GroupExists(pid_t pgid) { return kill(-pgid, 0) == 0 || errno != ESRCH; }

using hw::test::Eventually;

// Waits until the process with this pid is in one of `states` (e.g. "S" for sleeping).
inline bool EventuallyInState(pid_t pid, const std::string& states) {
  return Eventually([&] {
    const ProcStat stat = ReadProcStat(pid);
    return stat.pid != 0 && states.find(stat.state) != std::string::npos;
  });
}

}  // namespace hw::executor::testing

namespace hw::executor {

struct CompletedRun {
  ExitStatus status;
  bool timed_out = false;
  std::string stdout_bytes;       // at most max_output bytes
  bool output_too_large = false;  // stdout passed max_output: the group was killed
};

// The collect-everything use of a ProcessPump, for tests: writes all of input to the child's
// stdin, collects its stdout (up to max_output bytes; beyond that the group is SIGKILLed,
// output_too_large set and the rest discarded), delivers its stderr lines to on_stderr_line,
// and returns once it ended or the deadline passed. Error as for ProcessPump::Run.
inline Expected<CompletedRun> RunToCompletion(
    ChildProcess& child, std::string_view input, Deadline deadline,
    std::function<void(std::string_view line)> on_stderr_line, std::size_t max_output,
    std::size_t max_line = 65536) {
  CompletedRun run;
  PumpOptions options;
  options.input = [&input](char* buf, std::size_t cap) -> long {
    const std::size_t n = std::min(cap, input.size());
    std::memcpy(buf, input.data(), n);
    input.remove_prefix(n);
    return static_cast<long>(n);
  };
  options.on_stdout = [&run, max_output](std::string_view chunk) {
    if (run.output_too_large) return true;  // draining what was written before the kill
    const std::size_t room = max_output - run.stdout_bytes.size();
    if (chunk.size() > room) {
      run.stdout_bytes.append(chunk.substr(0, room));
      run.output_too_large = true;
      return false;
    }
    run.stdout_bytes.append(chunk);
    return true;
  };
  options.on_stderr_line = std::move(on_stderr_line);
  options.max_line = max_line;
  options.deadline = deadline;
  ProcessPump pump(child, std::move(options));
  for (;;) {
    Expected<PumpResult> result = pump.Run();
    if (!result) return result.error();
    if (result->outcome == PumpOutcome::kStopped) {
      child.KillGroup(SIGKILL);  // output_too_large: the only reason to pause here
      continue;
    }
    run.status = result->status;
    run.timed_out = result->outcome == PumpOutcome::kTimedOut;
    return run;
  }
}

}  // namespace hw::executor
