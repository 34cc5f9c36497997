// Integration-test harness: starts the real hmac-watchdog binary on port 0 with a chosen
// environment, captures its log, and talks HTTP/1.1 to it over loopback with a small client
// of its own (raw sockets: nothing is added to or decoded from what the test sends).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/eventually.h"
#include "support/temp_dir.h"

namespace hw::test {

// Sanitizer runtimes hold freed memory in quarantine and map shadow memory, so resident-memory
// figures only mean something in the release build (where these checks run).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kMemoryFiguresMeaningful = false;
#else
inline constexpr bool kMemoryFiguresMeaningful = true;
#endif

using Env = std::map<std::string, std::string>;
using Headers = std::vector<std::pair<std::string, std::string>>;

// A loopback TCP port that was free a moment ago, from outside the ephemeral range (harness.cc).
int FreePort();

std::string ProgramPath(const std::string& name);  // a test program built with the tests
std::string ScriptPath(const std::string& name);   // tests/integration/scripts/NAME

class Watchdog {
 public:
  // Starts the binary with exactly `env` (plus PATH, and port=0, metrics_port=0 unless set)
  // and `args`. With wait_ready, waits (up to 10 s) for the "ready" log line and reads the
  // bound ports from the log.
  static std::unique_ptr<Watchdog> Start(Env env, std::vector<std::string> args = {},
                                         bool wait_ready = true, const std::string& binary = "");
  ~Watchdog();

  int port() const { return port_; }
  // Waits for the "listening on port" line (before readiness) and records the ports.
  bool WaitForPort(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  int metrics_port() const { return metrics_port_; }
  pid_t pid() const { return pid_; }
  std::string Log() const;
  // Waits until `text` appears in the log; false on timeout.
  bool WaitForLog(const std::string& text,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  void Signal(int sig) const;
  // Waits for the process to exit; returns its exit code (128+signal if killed), or nullopt
  // on timeout.
  std::optional<int> WaitExit(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // Resident memory of the watchdog process, from /proc/PID/status (kB).
  long VmRssKb() const;
  int OpenFds() const;

 private:
  static std::unique_ptr<Watchdog> Spawn(const Env& env, const std::vector<std::string>& args,
                                         bool wait_ready, const std::string& binary);
  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  std::optional<int> exit_code_;
  mutable std::mutex mutex_;
  std::string log_;
  std::atomic<bool> reader_done_{false};
  std::thread reader_;
};

struct Response {
  int status = 0;  // 0 when no response arrived (connection refused, reset, timeout)
  Headers headers;
  std::string body;
  std::string error;  // why status is 0
  bool chunked = false;
  bool complete = true;  // false when a chunked body ended without its last chunk
  std::optional<std::string> Header(const std::string& name) const;
};

// One request on a fresh connection ("Connection: close" is added, and Content-Length when
// the body is not empty and the headers name neither it nor Transfer-Encoding).
Response Request(int port, const std::string& method, const std::string& target,
                 const Headers& headers = {}, const std::string& body = "",
                 std::chrono::milliseconds timeout = std::chrono::seconds(30));
inline Response Get(int port, const std::string& target) { return Request(port, "GET", target); }
// Request, sent from another local address (such as 127.0.0.2): a second client, as the
// server sees it.
Response RequestFrom(const std::string& source, int port, const std::string& method,
                     const std::string& target, const Headers& headers = {},
                     const std::string& body = "");
// Sends `raw` bytes as they are, then reads until the server closes (or timeout) and parses
// the first response.
Response RawRequest(int port, const std::string& raw,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The value of one series of the watchdog's /metrics (its name and labels as exposed, e.g.
// "http_requests_in_flight"); nullopt when the series is absent or the scrape failed.
std::optional<double> MetricValue(const Watchdog& w, const std::string& series);

std::string ReadFile(const std::string& path);
bool FileExists(const std::string& path);
// Whether a process with this pid exists (and is not a zombie).
bool ProcessAlive(pid_t pid);
// How many children of `pid` are zombies (scans /proc).
int ZombieChildren(pid_t pid);
// Signs `body` like `hmac-watchdog sign` does: returns the header lines it printed.
Headers Sign(const std::string& scheme, const std::string& secret_file, const std::string& body,
             const std::vector<std::string>& extra_args = {});

// Two processes spinning on the CPU for as long as this lives (killed and reaped after): a
// test run with the CPU made busy on purpose, so that the watchdog's threads are preempted
// at every point.
class BusyCpu {
 public:
  BusyCpu();
  ~BusyCpu();
  BusyCpu(const BusyCpu&) = delete;
  BusyCpu& operator=(const BusyCpu&) = delete;

 private:
  pid_t pids_[2] = {-1, -1};
};

}  // namespace hw::test
