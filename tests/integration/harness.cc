#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <utility>

extern char** environ;

namespace hw::test {
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

std::string ProgramPath(const std::string& name) {
  return std::string(HW_PROGRAMS_DIR) + "/test_" + name;
}
std::string ScriptPath(const std::string& name) {
  return std::string(HW_TEST_SCRIPTS_DIR) + "/" + name;
}

namespace {

// Ports outside the kernel's ephemeral range (net.ipv4.ip_local_port_range), where every
// outgoing connection gets its source port: up to 16384 below it, or above it when there is
// no room below (a range that starts at 1024). {0, 0}: no room on either side.
std::pair<int, int> PortWindow() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768, high = 60999;
  if (!(in >> low >> high)) low = 32768, high = 60999;
  if (low - 2048 >= 1024) return {std::max(1024, low - 16384), low};  // [first, end)
  if (high + 2048 <= 65535) return {high + 1, std::min(65536, high + 1 + 16384)};
  return {0, 0};
}

// As the watchdog binds its port: IPv6 any address, IPv4 too (not v6-only); IPv4 loopback
// where there is no IPv6.
bool CanBind(int port) {
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool ok = false;
  if (fd >= 0) {
    int off = 0;
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    addr.sin6_port = htons(static_cast<std::uint16_t>(port));
    ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  } else {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ::close(fd);
  return ok;
}

// A port the kernel picks (the old way, inside the ephemeral range).
int KernelPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

// A port that was free a moment ago (the metrics port cannot be 0: that turns it off), handed
// to a process that binds it later. It is taken from outside the ephemeral range: a port the
// kernel chose (bind to 0) lies inside it, where the outgoing connections of every test running
// alongside (the soak makes thousands a second) draw their source ports, and one of them could
// take it first. Outside the range only another test's pick can collide, and each process
// starts at its own random place in the window.
int FreePort() {
  static const std::pair<int, int> window = PortWindow();
  static std::atomic<unsigned> next{static_cast<unsigned>(std::random_device{}())};
  if (window.second <= window.first) return KernelPort();  // no room outside the range
  const auto span = static_cast<unsigned>(window.second - window.first);
  for (int attempt = 0; attempt < 4096; ++attempt) {
    const int port = window.first + static_cast<int>((next.fetch_add(7919) % span));
    if (CanBind(port)) return port;
  }
  throw std::runtime_error("FreePort: no free port outside the ephemeral range");
}

std::unique_ptr<Watchdog> Watchdog::Start(Env env, std::vector<std::string> args, bool wait_ready,
                                          const std::string& binary) {
  if (!env.count("PATH")) env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  if (!env.count("port")) env["port"] = "0";
  // A metrics port chosen here was free a moment ago; another process can take it before the
  // watchdog binds it (outgoing connections get ports from the same range), so a start that
  // fails on exactly that is tried again with another port.
  const bool own_metrics_port = !env.count("metrics_port");
  for (int attempt = 1;; ++attempt) {
    if (own_metrics_port) env["metrics_port"] = std::to_string(FreePort());
    try {
      return Spawn(env, args, wait_ready, binary);
    } catch (const std::runtime_error& e) {
      const bool taken = std::string_view(e.what()).find(
                             "(metrics_port): Address already in use") != std::string_view::npos;
      if (!own_metrics_port || !taken || attempt == 3) throw;
    }
  }
}

std::unique_ptr<Watchdog> Watchdog::Spawn(const Env& env, const std::vector<std::string>& args,
                                          bool wait_ready, const std::string& binary) {
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  // HW_TEST_BINARY runs the suite against another build (e.g. an older release, to show a
  // regression test failing before its fix).
  const char* override_binary = std::getenv("HW_TEST_BINARY");
  std::string bin = !binary.empty()                                  ? binary
                    : override_binary != nullptr && *override_binary ? std::string(override_binary)
                                                                     : std::string(HW_BINARY);
  std::vector<std::string> argv_strings = {bin};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, out[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  auto w = std::unique_ptr<Watchdog>(new Watchdog());
  int rc = ::posix_spawn(&w->pid_, bin.c_str(), &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  if (rc != 0) {
    ::close(out[0]);
    throw std::runtime_error("posix_spawn of the watchdog failed: " + std::string(strerror(rc)));
  }
  int fd = out[0];
  Watchdog* self = w.get();
  w->reader_ = std::thread([self, fd] {
    char buf[8192];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      std::lock_guard lock(self->mutex_);
      self->log_.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    self->reader_done_.store(true);
  });
  if (wait_ready) {
    // Until ready, or until the watchdog closed its output (it exited: no need to wait on).
    Eventually(
        [&] { return w->Log().find("ready:") != std::string::npos || w->reader_done_.load(); });
    if (!w->WaitForLog("ready:", std::chrono::milliseconds(1))) {
      throw std::runtime_error("watchdog did not become ready; log:\n" + w->Log());
    }
    if (!w->WaitForPort(std::chrono::milliseconds(1))) {
      throw std::runtime_error("no port in the watchdog log:\n" + w->Log());
    }
  }
  return w;
}

bool Watchdog::WaitForPort(std::chrono::milliseconds timeout) {
  static const std::regex kPorts("listening on port (\\d+).*metrics_port=(\\d+)");
  return Eventually(
      [&] {
        std::smatch m;
        std::string log = Log();
        if (!std::regex_search(log, m, kPorts)) return false;
        port_ = std::stoi(m[1]);
        metrics_port_ = std::stoi(m[2]);
        return true;
      },
      timeout);
}

Watchdog::~Watchdog() {
  if (!exit_code_ && pid_ > 0) {
    // SIGTERM, repeated (a second one cuts healthcheck_interval short), so the watchdog
    // stops its http-mode function too; SIGKILL only if that did not work.
    for (int i = 0; i < 100 && !WaitExit(std::chrono::milliseconds(100)); ++i) {
      ::kill(pid_, SIGTERM);
    }
    if (!exit_code_) {
      ::kill(pid_, SIGKILL);
      WaitExit(std::chrono::seconds(10));
    }
  }
  if (reader_.joinable()) reader_.join();
}

std::string Watchdog::Log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

bool Watchdog::WaitForLog(const std::string& text, std::chrono::milliseconds timeout) const {
  return Eventually([&] { return Log().find(text) != std::string::npos; }, timeout);
}

void Watchdog::Signal(int sig) const { ::kill(pid_, sig); }

std::optional<int> Watchdog::WaitExit(std::chrono::milliseconds timeout) {
  if (exit_code_) return exit_code_;
  auto deadline = SteadyClock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      // Let the reader take the last lines (a function the watchdog started may still hold
      // the pipe open, so this waits a bounded time).
      Eventually([this] { return reader_done_.load(); }, std::chrono::seconds(2));
      return exit_code_;
    }
    if (SteadyClock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

long Watchdog::VmRssKb() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

int Watchdog::OpenFds() const {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc/" + std::to_string(pid_) + "/fd", ec);
       !ec && it != fs::end(it); it.increment(ec)) {
    ++n;
  }
  return n;
}

std::optional<std::string> Response::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return std::nullopt;
}

namespace {

// `source`: the local address to connect from (another loopback address, 127.0.0.2, is another
// client as the server sees it); empty: the kernel's choice.
int Connect(int port, std::string& error, const std::string& source = "") {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + strerror(errno);
    return -1;
  }
  if (!source.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    if (::inet_pton(AF_INET, source.c_str(), &from.sin_addr) != 1) {
      error = "not an IPv4 address: " + source;
      ::close(fd);
      return -1;
    }
    if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) {
      error = "bind to " + source + ": " + strerror(errno);
      ::close(fd);
      return -1;
    }
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    error = std::string("connect: ") + strerror(errno);
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool SendAll(int fd, const std::string& data, std::string& error) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = std::string("send: ") + strerror(errno);
      return false;
    }
    off += static_cast<std::size_t>(n);
  }
  return true;
}

Response Parse(const std::string& raw, bool eof) {
  Response r;
  auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) {
    r.error = raw.empty() ? "no response (connection closed)" : "incomplete response head";
    return r;
  }
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (line.rfind("HTTP/1.", 0) != 0 || line.size() < 12) {
    r.error = "bad status line: " + line;
    return r;
  }
  r.status = std::stoi(line.substr(9, 3));
  std::optional<std::size_t> content_length;
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers.emplace_back(name, value);
    if (strcasecmp(name.c_str(), "Content-Length") == 0) content_length = std::stoul(value);
    if (strcasecmp(name.c_str(), "Transfer-Encoding") == 0 && value == "chunked") r.chunked = true;
  }
  std::string rest = raw.substr(head_end + 4);
  if (r.chunked) {
    std::size_t pos = 0;
    r.complete = false;
    while (true) {
      auto eol = rest.find("\r\n", pos);
      if (eol == std::string::npos) break;
      std::size_t size = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
      if (size == 0) {
        r.complete = true;
        break;
      }
      if (eol + 2 + size > rest.size()) {
        r.body += rest.substr(eol + 2);
        break;
      }
      r.body += rest.substr(eol + 2, size);
      pos = eol + 2 + size + 2;
    }
  } else if (content_length) {
    r.body = rest.substr(0, *content_length);
    r.complete = rest.size() >= *content_length;
  } else {
    r.body = rest;
    r.complete = eof;
  }
  return r;
}

Response Exchange(int port, const std::string& raw, std::chrono::milliseconds timeout,
                  const std::string& source = "") {
  Response r;
  int fd = Connect(port, r.error, source);
  if (fd < 0) return r;
  if (!SendAll(fd, raw, r.error)) {
    // The server may answer before reading everything (413, 401): read what it said.
  }
  std::string in;
  auto deadline = SteadyClock::now() + timeout;
  bool eof = false;
  char buf[65536];
  while (true) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr <= 0) break;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof = n == 0;
      break;
    }
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  Response parsed = Parse(in, eof);
  if (parsed.status == 0 && parsed.error.empty()) parsed.error = r.error;
  if (parsed.status == 0 && !r.error.empty()) parsed.error += " / " + r.error;
  return parsed;
}

std::string RequestBytes(const std::string& method, const std::string& target,
                         const Headers& headers, const std::string& body) {
  std::string raw = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  bool has_length = false;
  for (const auto& [k, v] : headers) {
    raw += k + ": " + v + "\r\n";
    if (strcasecmp(k.c_str(), "Content-Length") == 0 ||
        strcasecmp(k.c_str(), "Transfer-Encoding") == 0) {
      has_length = true;
    }
  }
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT")) {
    raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  raw += "\r\n";
  raw += body;
  return raw;
}

}  // namespace

Response Request(int port, const std::string& method, const std::string& target,
                 const Headers& headers, const std::string& body,
                 std::chrono::milliseconds timeout) {
  return Exchange(port, RequestBytes(method, target, headers, body), timeout);
}

Response RequestFrom(const std::string& source, int port, const std::string& method,
                     const std::string& target, const Headers& headers, const std::string& body) {
  return Exchange(port, RequestBytes(method, target, headers, body), std::chrono::seconds(30),
                  source);
}

Response RawRequest(int port, const std::string& raw, std::chrono::milliseconds timeout) {
  return Exchange(port, raw, timeout);
}

std::optional<double> MetricValue(const Watchdog& w, const std::string& series) {
  const Response r = Get(w.metrics_port(), "/metrics");
  if (r.status != 200) return std::nullopt;
  std::istringstream lines(r.body);
  for (std::string line; std::getline(lines, line);) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return std::nullopt;
}

std::string ReadFile(const std::string& path) {
  // read(2): /proc files of a process that just exited fail with ESRCH, which an ifstream
  // may turn into an exception.
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

bool FileExists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

bool ProcessAlive(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return false;
  auto close_paren = stat.rfind(')');
  if (close_paren == std::string::npos || close_paren + 2 >= stat.size()) return false;
  return stat[close_paren + 2] != 'Z';
}

int ZombieChildren(pid_t pid) {
  int count = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator("/proc", ec); !ec && it != fs::end(it); it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = ReadFile("/proc/" + name + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    char state = 0;
    pid_t ppid = 0;
    rest >> state >> ppid;
    if (ppid == pid && state == 'Z') ++count;
  }
  return count;
}

Headers Sign(const std::string& scheme, const std::string& secret_file, const std::string& body,
             const std::vector<std::string>& extra_args) {
  TempDir dir;
  std::string body_file = dir.Write("body", body);
  std::string cmd = std::string(HW_BINARY) + " sign --scheme '" + scheme + "' --secret-file '" +
                    secret_file + "'";
  for (const auto& a : extra_args) cmd += " '" + a + "'";
  cmd += " < '" + body_file + "'";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed");
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  if (rc != 0) throw std::runtime_error("hmac-watchdog sign failed: " + out);
  Headers headers;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    auto colon = line.find(": ");
    if (colon != std::string::npos)
      headers.emplace_back(line.substr(0, colon), line.substr(colon + 2));
  }
  return headers;
}

BusyCpu::BusyCpu() {
  for (pid_t& pid : pids_) {
    pid = ::fork();
    if (pid == 0) {
      volatile unsigned long spin = 0;
      for (;;) spin = spin + 1;
    }
  }
}

BusyCpu::~BusyCpu() {
  for (pid_t pid : pids_) {
    if (pid <= 0) continue;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
}

}  // namespace hw::test
