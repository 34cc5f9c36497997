// Connection flood against one watchdog on 127.0.0.1 (issue 13's availability figures): first
// the signed-request rate with nothing else going on, then IDLE connections that never send
// a byte and HALF half-open ones (a request head never finished) held open for SECONDS (a
// cut one is opened again, as an attacker would), while /_/health is probed every 100 ms and
// signed requests keep going on one keep-alive connection. Prints key=value lines, among them
// how long the server let a half-open and an idle connection live before cutting it (the
// watchdog should cut both at read_timeout / keepalive_timeout).
//   flood_probe PORT PID IDLE HALF SECONDS BODY_FILE SIGNATURE_HEADER_LINE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool SendAll(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads one response (Content-Length framed); returns its status, 0 on failure.
int ReadResponse(int fd, int timeout_ms) {
  std::string in;
  char buf[16384];
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    auto head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      std::size_t length = 0;
      auto cl = in.find("Content-Length: ");
      if (cl != std::string::npos && cl < head_end)
        length = std::strtoul(in.c_str() + cl + 16, nullptr, 10);
      if (in.size() >= head_end + 4 + length) return std::atoi(in.c_str() + 9);
    }
    int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
    if (left <= 0) return 0;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, left) <= 0) return 0;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    in.append(buf, static_cast<std::size_t>(n));
  }
}

long RssKb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// Signed requests on one keep-alive connection until `until`; returns how many got 200.
long SignedLoop(int port, const std::string& request, Clock::time_point until) {
  long ok = 0;
  int fd = -1;
  while (Clock::now() < until) {
    if (fd < 0) fd = Connect(port);
    if (fd < 0) continue;
    if (!SendAll(fd, request) || ReadResponse(fd, 5000) != 200) {
      ::close(fd);
      fd = -1;
      continue;
    }
    ++ok;
  }
  if (fd >= 0) ::close(fd);
  return ok;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr,
                 "usage: flood_probe PORT PID IDLE HALF SECONDS BODY_FILE SIGNATURE_HEADER_LINE\n");
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int pid = std::atoi(argv[2]);
  const int idle = std::atoi(argv[3]);
  const int half = std::atoi(argv[4]);
  const int seconds = std::atoi(argv[5]);
  std::ifstream body_file(argv[6], std::ios::binary);
  std::stringstream body_stream;
  body_stream << body_file.rdbuf();
  const std::string body = body_stream.str();
  const std::string request = "POST /hook HTTP/1.1\r\nHost: x\r\n" + std::string(argv[7]) +
                              "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                              body;
  rlimit limit{};
  ::getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &limit);

  const long unloaded = SignedLoop(port, request, Clock::now() + std::chrono::seconds(3));
  std::printf("unloaded_signed_per_s=%.0f\n", static_cast<double>(unloaded) / 3.0);
  std::printf("idle_rss_kb=%ld\n", RssKb(pid));

  const std::string partial = "POST /x HTTP/1.1\r\nHost: a\r\n";
  std::vector<int> fds;
  std::vector<bool> is_half;
  std::vector<Clock::time_point> opened_at;
  int open_failures = 0;
  for (int i = 0; i < idle + half; ++i) {
    int fd = Connect(port);
    if (fd < 0) {
      ++open_failures;
      continue;
    }
    bool h = i >= idle;
    if (h) SendAll(fd, partial);
    fds.push_back(fd);
    is_half.push_back(h);
    opened_at.push_back(Clock::now());
  }
  std::printf("connections_opened=%zu open_failures=%d\n", fds.size(), open_failures);

  const auto until = Clock::now() + std::chrono::seconds(seconds);
  std::atomic<long> reopened{0};
  std::atomic<bool> done{false};
  std::vector<double> half_cut_s;  // lifetimes of cut connections; read after keeper ends
  std::vector<double> idle_cut_s;
  // Keeps the flood up: a connection the server cut is opened again.
  std::thread keeper([&] {
    std::vector<pollfd> polls(fds.size());
    while (!done.load()) {
      for (std::size_t i = 0; i < fds.size(); ++i) polls[i] = {fds[i], POLLIN | POLLRDHUP, 0};
      int n = ::poll(polls.data(), polls.size(), 200);
      if (n <= 0) continue;
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if (polls[i].revents == 0) continue;
        const auto now = Clock::now();
        if (fds[i] >= 0) {
          (is_half[i] ? half_cut_s : idle_cut_s)
              .push_back(std::chrono::duration<double>(now - opened_at[i]).count());
        }
        ::close(fds[i]);
        fds[i] = Connect(port);
        opened_at[i] = Clock::now();
        if (fds[i] >= 0 && is_half[i]) SendAll(fds[i], partial);
        ++reopened;
      }
    }
  });
  std::atomic<long> signed_ok{0};
  std::thread signer([&] { signed_ok = SignedLoop(port, request, until); });
  long max_rss = 0;
  std::vector<double> latencies_ms;
  int probes = 0;
  int probes_ok = 0;
  int probes_within_50ms = 0;
  auto next_probe = Clock::now();
  auto next_rss = Clock::now();
  while (Clock::now() < until) {
    std::this_thread::sleep_until(next_probe);
    next_probe += std::chrono::milliseconds(100);
    auto start = Clock::now();
    int fd = Connect(port);
    int status = 0;
    if (fd >= 0 && SendAll(fd, "GET /_/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")) {
      status = ReadResponse(fd, 2000);
    }
    if (fd >= 0) ::close(fd);
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    ++probes;
    if (status == 200) {
      ++probes_ok;
      latencies_ms.push_back(ms);
      if (ms <= 50) ++probes_within_50ms;
    }
    if (Clock::now() >= next_rss) {
      max_rss = std::max(max_rss, RssKb(pid));
      next_rss = Clock::now() + std::chrono::seconds(1);
    }
  }
  signer.join();
  max_rss = std::max(max_rss, RssKb(pid));
  done = true;
  keeper.join();
  for (int fd : fds) {
    if (fd >= 0) ::close(fd);
  }
  const double signed_rate = static_cast<double>(signed_ok.load()) / seconds;
  std::printf("probes=%d probes_ok=%d probes_within_50ms=%d\n", probes, probes_ok,
              probes_within_50ms);
  std::printf("probe_p50_ms=%.2f probe_p99_ms=%.2f probe_max_ms=%.2f\n",
              Percentile(latencies_ms, 0.5), Percentile(latencies_ms, 0.99),
              Percentile(latencies_ms, 1.0));
  std::printf("flood_signed_per_s=%.0f signed_ratio=%.2f\n", signed_rate,
              unloaded > 0 ? signed_rate / (static_cast<double>(unloaded) / 3.0) : 0.0);
  std::printf("max_rss_kb=%ld reopened=%ld\n", max_rss, reopened.load());
  std::printf("half_cut=%zu half_cut_p50_s=%.1f idle_cut=%zu idle_cut_p50_s=%.1f\n",
              half_cut_s.size(), Percentile(half_cut_s, 0.5), idle_cut_s.size(),
              Percentile(idle_cut_s, 0.5));
  return 0;
}
