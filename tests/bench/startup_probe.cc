// P8: time from exec of the watchdog to its first 200 on GET /_/health. Starts the binary
// (with this process's environment) RUNS times, polls 127.0.0.1:PORT tightly (a new
// connection every ~50 µs until one answers 200), records the time since just before
// posix_spawn, then SIGKILLs the watchdog and reaps it. Prints each run and the median.
//
// Usage: startup_probe PORT RUNS BINARY [ARGS...]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace hw::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

// One attempt: true when the watchdog answered 200 on /_/health.
bool HealthOk(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    constexpr std::string_view kRequest =
        "GET /_/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, kRequest.data(), kRequest.size(), MSG_NOSIGNAL) ==
        static_cast<ssize_t>(kRequest.size())) {
      char buf[64];
      std::size_t got = 0;
      while (got < 12) {
        ssize_t r = ::recv(fd, buf + got, sizeof buf - got, 0);
        if (r <= 0) break;
        got += static_cast<std::size_t>(r);
      }
      ok = got >= 12 && std::string_view(buf, 12) == "HTTP/1.1 200";
    }
  }
  ::close(fd);
  return ok;
}

}  // namespace
}  // namespace hw::bench

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s PORT RUNS BINARY [ARGS...]\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int runs = std::atoi(argv[2]);
  std::vector<double> times_ms;
  for (int run = 0; run < runs; ++run) {
    // The previous instance is gone: the port must refuse before the clock starts.
    auto wait_free = hw::bench::SteadyClock::now() + std::chrono::seconds(5);
    while (hw::bench::HealthOk(port) && hw::bench::SteadyClock::now() < wait_free) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    pid_t pid = -1;
    const auto start = hw::bench::SteadyClock::now();
    if (::posix_spawn(&pid, argv[3], nullptr, nullptr, argv + 3, environ) != 0) {
      std::fprintf(stderr, "startup_probe: cannot start %s\n", argv[3]);
      return 1;
    }
    const auto deadline = start + std::chrono::seconds(5);
    bool up = false;
    while (hw::bench::SteadyClock::now() < deadline) {
      if (hw::bench::HealthOk(port)) {
        up = true;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    const auto end = hw::bench::SteadyClock::now();
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!up) {
      std::fprintf(stderr, "startup_probe: no 200 on /_/health within 5 s (run %d)\n", run);
      return 1;
    }
    double ms = std::chrono::duration<double, std::milli>(end - start).count();
    times_ms.push_back(ms);
    std::printf("run %d ms %.3f\n", run, ms);
  }
  std::vector<double> sorted = times_ms;
  std::sort(sorted.begin(), sorted.end());
  std::printf("median_ms %.3f\nmin_ms %.3f\nmax_ms %.3f\n", sorted[sorted.size() / 2],
              sorted.front(), sorted.back());
  return 0;
}
