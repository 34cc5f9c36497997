// The machine's limit for fork-per-request modes (P3): spawns `cat` with posix_spawn, writes
// a body to its stdin, reads it back from its stdout until EOF and reaps it, as fast as it
// can on THREADS threads for SECONDS seconds. Prints "spawns_per_second N" and the count.
//
// Usage: spawn_baseline [THREADS=2] [SECONDS=5] [BODY_BYTES=1024] [PROGRAM=cat]
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace hw::bench {
namespace {

// One round trip: spawn, feed `body`, read it back, reap. False on any failure.
bool OneSpawn(const char* program, const std::string& body, std::vector<char>& buf) {
  int in[2];
  int out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return false;
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return false;
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  char* argv[] = {const_cast<char*>(program), nullptr};
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, program, &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(in[0]);
  ::close(out[1]);
  bool ok = rc == 0;
  if (ok) {
    // A 1 KiB body fits the pipe buffer: write it all, then read the echo.
    std::size_t off = 0;
    while (off < body.size()) {
      ssize_t w = ::write(in[1], body.data() + off, body.size() - off);
      if (w <= 0) {
        ok = false;
        break;
      }
      off += static_cast<std::size_t>(w);
    }
  }
  ::close(in[1]);
  std::size_t got = 0;
  while (ok) {
    ssize_t r = ::read(out[0], buf.data(), buf.size());
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<std::size_t>(r);
  }
  ::close(out[0]);
  if (pid > 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  return ok && got == body.size();
}

}  // namespace
}  // namespace hw::bench

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 5.0;
  const std::size_t body_bytes = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 1024;
  const char* program = argc > 4 ? argv[4] : "cat";
  const std::string body(body_bytes, 'x');

  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<bool> stop{false};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      std::vector<char> buf(64 * 1024);
      while (!stop.load(std::memory_order_relaxed)) {
        if (hw::bench::OneSpawn(program, body, buf)) {
          done.fetch_add(1, std::memory_order_relaxed);
        } else {
          failed.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop.store(true);
  for (auto& w : workers) w.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("spawns_per_second %.1f\nspawns %llu\nfailures %llu\nthreads %d\n",
              static_cast<double>(done.load()) / elapsed,
              static_cast<unsigned long long>(done.load()),
              static_cast<unsigned long long>(failed.load()), threads);
  return failed.load() == 0 ? 0 : 1;
}
