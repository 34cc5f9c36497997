#include "metrics/process_stats.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <vector>

#include "common/unique_fd.h"

namespace hw::metrics {
namespace {

double NowUnixSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Taken while the test binary loads, before main: the process started just before this.
const double kBinaryLoadedAt = NowUnixSeconds();

TEST_CASE("process stats are plausible") {
  const ProcessStats stats = ReadProcessStats();
  CHECK(stats.resident_memory_bytes > 0);
  CHECK(std::fmod(stats.resident_memory_bytes, static_cast<double>(sysconf(_SC_PAGESIZE))) == 0);
  CHECK(stats.virtual_memory_bytes >= stats.resident_memory_bytes);
  CHECK(stats.cpu_seconds >= 0);
  CHECK(stats.open_fds >= 3);
  CHECK(stats.max_fds >= stats.open_fds);

  rlimit limit{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
  const double soft_limit = limit.rlim_cur == RLIM_INFINITY
                                ? std::numeric_limits<double>::infinity()
                                : static_cast<double>(limit.rlim_cur);
  CHECK(stats.max_fds == soft_limit);
}

TEST_CASE("the open fd count grows by exactly the number of files the test opens") {
  const double before = ReadProcessStats().open_fds;
  {
    std::vector<UniqueFd> files;
    for (int i = 0; i < 10; ++i) {
      files.emplace_back(open("/proc/self/stat", O_RDONLY | O_CLOEXEC));
      REQUIRE(files.back().get() >= 0);
    }
    CHECK(ReadProcessStats().open_fds == before + 10);
  }
  CHECK(ReadProcessStats().open_fds == before);
}

TEST_CASE("cpu seconds grow when the process burns cpu") {
  const double before = ReadProcessStats().cpu_seconds;
  // Burn 300 ms of this process's own CPU time (not wall time: the machine may be busy).
  auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
  };
  const double start = cpu_now();
  volatile double sink = 0;
  while (cpu_now() - start < 0.3) {
    for (int i = 0; i < 10000; ++i) sink = sink + std::sqrt(static_cast<double>(i));
  }
  const double after = ReadProcessStats().cpu_seconds;
  CHECK(after - before >= 0.25);  // /proc reports in clock ticks (10 ms)
  CHECK(after - before < 30);
}

TEST_CASE("process start time is shortly before the test binary loaded and not in the future") {
  const ProcessStats stats = ReadProcessStats();
  const double now = NowUnixSeconds();
  INFO("start " << stats.start_time_seconds << ", loaded " << kBinaryLoadedAt << ", now " << now);
  // btime has whole-second resolution (truncated), start ticks 1/CLK_TCK: allow one second.
  CHECK(stats.start_time_seconds <= kBinaryLoadedAt + 1);
  CHECK(stats.start_time_seconds <= now);
  CHECK(stats.start_time_seconds >= kBinaryLoadedAt - 60);
}

TEST_CASE("process families leave out figures that could not be read") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const ProcessStats stats{1.5, nan, std::numeric_limits<double>::infinity(), 4096, nan, 1e9};
  const std::vector<FamilySnapshot> families = ProcessFamilies(stats);
  REQUIRE(families.size() == 6);
  const std::string text = RenderText(families);
  CHECK(text.find("process_cpu_seconds_total 1.5\n") != std::string::npos);
  CHECK(text.find("process_open_fds") == std::string::npos);
  CHECK(text.find("process_max_fds +Inf\n") != std::string::npos);
  CHECK(text.find("process_resident_memory_bytes 4096\n") != std::string::npos);
  CHECK(text.find("process_virtual_memory_bytes") == std::string::npos);
  CHECK(text.find("process_start_time_seconds 1000000000\n") != std::string::npos);
  CHECK(text.find("# TYPE process_cpu_seconds_total counter\n") != std::string::npos);
}

}  // namespace
}  // namespace hw::metrics
