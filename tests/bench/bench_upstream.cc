// The benchmark's baseline upstream: a small epoll HTTP/1.1 keep-alive server (one event loop
// per thread, SO_REUSEPORT) that reads any request body (Content-Length or chunked) and
// answers 200 "OK" at once. The
// watchdog runs it as its http-mode function, and the benchmark also calls it directly.
// GET /__bench/stats answers "connections N requests M" (counted since start) so the
// benchmark can show that rejected requests never reached it.
//
// Usage: bench_upstream PORT [THREADS]   (listens on 127.0.0.1 only)
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace hw::bench {
namespace {

constexpr std::size_t kReadSize = 64 * 1024;
constexpr std::size_t kMaxHead = 64 * 1024;
constexpr std::string_view kOkResponse =
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK";

std::atomic<std::uint64_t> g_connections{0};
std::atomic<std::uint64_t> g_requests{0};

bool IEqualsPrefix(std::string_view text, std::string_view lower_prefix) {
  if (text.size() < lower_prefix.size()) return false;
  for (std::size_t i = 0; i < lower_prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower_prefix[i]) return false;
  }
  return true;
}

// Where a chunked request body is (of-watchdog forwards bodies chunked by default).
enum class Chunk { kNone, kSize, kData, kTrailer };

// One client connection: bytes not yet parsed, the body (or chunk) still to skip, output not
// yet sent.
struct Connection {
  int fd;
  std::string in;
  std::size_t body_left = 0;
  std::string out;
  Chunk chunk = Chunk::kNone;
};

void Answer(Connection& c) {
  c.out.append(kOkResponse);
  g_requests.fetch_add(1, std::memory_order_relaxed);
}

// Parses as many complete requests as `c.in` holds; appends their responses to `c.out`.
// Returns false on a malformed request (the connection is then closed).
bool Parse(Connection& c) {
  std::size_t pos = 0;
  while (true) {
    if (c.chunk == Chunk::kData) {  // body_left counts the chunk's data and its CRLF
      std::size_t n = std::min(c.body_left, c.in.size() - pos);
      c.body_left -= n;
      pos += n;
      if (c.body_left > 0) break;
      c.chunk = Chunk::kSize;
      continue;
    }
    if (c.chunk != Chunk::kNone) {
      std::string_view rest(c.in.data() + pos, c.in.size() - pos);
      std::size_t eol = rest.find("\r\n");
      if (eol == std::string_view::npos) {
        if (rest.size() > kMaxHead) return false;
        break;
      }
      std::string_view line = rest.substr(0, eol);
      pos += eol + 2;
      if (c.chunk == Chunk::kTrailer) {
        if (line.empty()) {
          c.chunk = Chunk::kNone;
          Answer(c);
        }
        continue;
      }
      std::size_t size = 0;
      auto [p, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
      if (ec != std::errc() || p == line.data()) return false;
      if (size == 0) {
        c.chunk = Chunk::kTrailer;
      } else {
        c.chunk = Chunk::kData;
        c.body_left = size + 2;
      }
      continue;
    }
    if (c.body_left > 0) {
      std::size_t n = std::min(c.body_left, c.in.size() - pos);
      c.body_left -= n;
      pos += n;
      if (c.body_left > 0) break;
      Answer(c);
      continue;
    }
    std::string_view rest(c.in.data() + pos, c.in.size() - pos);
    std::size_t end = rest.find("\r\n\r\n");
    if (end == std::string_view::npos) {
      if (rest.size() > kMaxHead) return false;
      break;
    }
    std::string_view head = rest.substr(0, end + 2);
    pos += end + 4;
    std::size_t length = 0;
    bool chunked = false;
    for (std::size_t line = head.find("\r\n"); line != std::string_view::npos;) {
      std::size_t next = head.find("\r\n", line + 2);
      if (next == std::string_view::npos) break;
      std::string_view header = head.substr(line + 2, next - line - 2);
      if (IEqualsPrefix(header, "content-length:")) {
        std::string_view v = header.substr(15);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), length);
        if (ec != std::errc()) return false;
      } else if (IEqualsPrefix(header, "transfer-encoding:") &&
                 header.find("chunked") != std::string_view::npos) {
        chunked = true;
      }
      line = next;
    }
    if (head.starts_with("GET /__bench/stats ")) {
      std::string text = "connections " + std::to_string(g_connections.load()) + " requests " +
                         std::to_string(g_requests.load()) + "\n";
      c.out.append("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ");
      c.out.append(std::to_string(text.size())).append("\r\n\r\n").append(text);
      continue;
    }
    if (chunked) {
      c.chunk = Chunk::kSize;
      continue;
    }
    c.body_left = length;
    if (length == 0) Answer(c);
  }
  c.in.erase(0, pos);
  return true;
}

int Listen(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 1024) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// One event loop: its own listening socket (the kernel spreads connections by SO_REUSEPORT).
void Loop(int listen_fd) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_fd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
  std::unordered_map<int, std::unique_ptr<Connection>> conns;
  std::vector<epoll_event> events(256);
  std::vector<char> buf(kReadSize);
  auto drop = [&](int fd) {
    ::epoll_ctl(ep, EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(fd);
  };
  while (true) {
    int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == listen_fd) {
        while (true) {
          int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0) break;
          int one = 1;
          ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          g_connections.fetch_add(1, std::memory_order_relaxed);
          epoll_event cev{};
          cev.events = EPOLLIN | EPOLLRDHUP;
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          conns.emplace(c, std::make_unique<Connection>(Connection{c, {}, 0, {}, Chunk::kNone}));
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end()) continue;
      Connection& c = *it->second;
      bool closed = false;
      if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        while (true) {
          ssize_t r = ::recv(fd, buf.data(), buf.size(), 0);
          if (r > 0) {
            // Body bytes are skipped without being kept.
            std::size_t skip = 0;
            if (c.body_left > 0 && c.in.empty() && c.chunk == Chunk::kNone) {
              skip = std::min(c.body_left, static_cast<std::size_t>(r));
              c.body_left -= skip;
              if (c.body_left == 0) Answer(c);
            }
            c.in.append(buf.data() + skip, static_cast<std::size_t>(r) - skip);
            if (static_cast<std::size_t>(r) < buf.size()) break;
            continue;
          }
          if (r < 0 && errno == EINTR) continue;
          if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          closed = true;
          break;
        }
        if (!closed && !Parse(c)) closed = true;
      }
      if (!closed && !c.out.empty()) {
        std::size_t off = 0;
        while (off < c.out.size()) {
          ssize_t w = ::send(fd, c.out.data() + off, c.out.size() - off, MSG_NOSIGNAL);
          if (w > 0) {
            off += static_cast<std::size_t>(w);
            continue;
          }
          if (w < 0 && errno == EINTR) continue;
          if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
          closed = true;
          break;
        }
        c.out.erase(0, off);
        epoll_event cev{};
        cev.events = EPOLLIN | EPOLLRDHUP | (c.out.empty() ? 0u : static_cast<unsigned>(EPOLLOUT));
        cev.data.fd = fd;
        if (!closed) ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
      }
      if (closed) drop(fd);
    }
  }
}

}  // namespace
}  // namespace hw::bench

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PORT [THREADS]\n", argv[0]);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  const int port = std::atoi(argv[1]);
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  std::vector<std::thread> loops;
  for (int t = 0; t < threads; ++t) {
    int fd = hw::bench::Listen(port);
    if (fd < 0) {
      std::fprintf(stderr, "bench_upstream: cannot listen on 127.0.0.1:%d: %s\n", port,
                   std::strerror(errno));
      return 1;
    }
    loops.emplace_back(hw::bench::Loop, fd);
  }
  std::fprintf(stderr, "bench_upstream: listening on 127.0.0.1:%d with %d threads\n", port,
               threads);
  for (auto& t : loops) t.join();
  return 0;
}
