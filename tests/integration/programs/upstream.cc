// A tiny HTTP/1.1 upstream for http-mode tests: thread per connection, keep-alive.
//   test_upstream PORT [--listen-delay-ms N] [--term-file PATH]
// Paths: /echo (method, target, headers and body back), /slow?ms=N, /stream (three chunks
// 200 ms apart), /sse (text/event-stream, two events), /crash (exits 3), /reset (closes the
// connection without answering), /stats (connections and requests seen), /status/NNN,
// /drop-second (counted in /stats as drop_seen; answered when it is the first request of its
// connection, else the whole request is read and the connection closed without an answer),
// /answer-then-close (answered as keep-alive, then the connection is closed).
// On SIGTERM it writes "sigterm <in-flight>" to --term-file, waits for in-flight requests,
// and exits 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace {

std::atomic<int> g_connections{0};
std::atomic<int> g_requests{0};
std::atomic<int> g_inflight{0};
std::atomic<int> g_drop_seen{0};
const int kOne = 1;
std::string g_term_file;

bool SendAll(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

void Serve(int fd) {
  ++g_connections;
  std::string buf;
  char tmp[65536];
  int index = 0;  // of the request on this connection, from 1
  while (true) {
    std::size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buf.append(tmp, static_cast<std::size_t>(n));
    }
    std::string head = buf.substr(0, head_end);
    buf.erase(0, head_end + 4);
    std::size_t length = 0;
    std::string method = head.substr(0, head.find(' '));
    std::size_t t0 = head.find(' ') + 1;
    std::string target = head.substr(t0, head.find(' ', t0) - t0);
    std::string headers = head.substr(head.find("\r\n") + 2);
    bool close_after = false;  // the client asked for "Connection: close"
    std::size_t pos = 0;
    while (pos < headers.size()) {
      auto eol = headers.find("\r\n", pos);
      std::string line =
          headers.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
      if (Lower(line.substr(0, 15)) == "content-length:") length = std::stoul(line.substr(15));
      if (Lower(line) == "connection: close") close_after = true;
      if (eol == std::string::npos) break;
      pos = eol + 2;
    }
    while (buf.size() < length) {
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) {
        ::close(fd);
        return;
      }
      buf.append(tmp, static_cast<std::size_t>(n));
    }
    std::string body = buf.substr(0, length);
    buf.erase(0, length);
    ++g_requests;
    ++g_inflight;
    ++index;
    std::string path = target.substr(0, target.find('?'));
    std::string out;
    if (path == "/drop-second") ++g_drop_seen;
    if (path == "/drop-second" && index >= 2) {
      ::close(fd);
      --g_inflight;
      return;
    } else if (path == "/answer-then-close") {
      // Corked: the answer and the FIN leave in one segment, so the end-of-file is there
      // by the time the watchdog has read the answer.
      ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &kOne, sizeof kOne);
      SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nanswered");
      ::close(fd);
      --g_inflight;
      return;
    } else if (path == "/crash") {
      std::_Exit(3);
    } else if (path == "/reset") {
      linger l{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      ::close(fd);
      --g_inflight;
      return;
    } else if (path == "/slow") {
      int ms = std::atoi(target.substr(target.find("ms=") + 3).c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      out = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow";
    } else if (path == "/stream" || path == "/sse") {
      bool sse = path == "/sse";
      SendAll(fd, std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: ") +
                      (sse ? "text/event-stream" : "text/plain") + "\r\n\r\n");
      for (int i = 0; i < 3; ++i) {
        std::string piece =
            sse ? "data: event " + std::to_string(i) + "\n\n" : "chunk" + std::to_string(i) + "\n";
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", piece.size());
        SendAll(fd, size + piece + "\r\n");
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      out = "0\r\n\r\n";
    } else if (path == "/big") {
      // ?bytes=N: N bytes of a fixed pattern (byte i is 'a' + i % 23), with Content-Length.
      std::size_t n = std::stoul(target.substr(target.find("bytes=") + 6));
      std::string big(n, '\0');
      for (std::size_t i = 0; i < n; ++i) big[i] = static_cast<char>('a' + i % 23);
      out = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(n) + "\r\n\r\n" + big;
    } else if (path == "/interim") {
      // An interim 103 Early Hints, then the answer 50 ms later.
      SendAll(fd, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      out = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfinal";
    } else if (path == "/trickle") {
      // ?ms=M: the head and half the body, then the rest M ms later.
      int ms = std::atoi(target.substr(target.find("ms=") + 3).c_str());
      SendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234");
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      out = "56789";
    } else if (path == "/stats") {
      std::string text = "connections=" + std::to_string(g_connections.load()) +
                         " requests=" + std::to_string(g_requests.load()) +
                         " drop_seen=" + std::to_string(g_drop_seen.load());
      out = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(text.size()) + "\r\n\r\n" + text;
    } else if (path.rfind("/status/", 0) == 0) {
      out = "HTTP/1.1 " + path.substr(8) +
            " Custom\r\nX-Upstream: yes\r\nContent-Length: 6\r\n\r\ncustom";
    } else {
      std::string text = "method=" + method + "\ntarget=" + target + "\n" + headers + "\n\n" + body;
      out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Upstream: yes\r\nContent-Length: " +
            std::to_string(text.size()) + "\r\n\r\n" + text;
    }
    bool ok = SendAll(fd, out);
    --g_inflight;
    if (!ok || close_after) break;
  }
  ::close(fd);
}

void OnTerm(int) {
  if (!g_term_file.empty()) {
    FILE* f = std::fopen(g_term_file.c_str(), "w");
    if (f != nullptr) {
      std::fprintf(f, "sigterm %d\n", g_inflight.load());
      std::fclose(f);
    }
  }
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: test_upstream PORT [--listen-delay-ms N] [--term-file PATH]\n");
    return 2;
  }
  int port = std::atoi(argv[1]);
  int delay_ms = 0;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--listen-delay-ms") delay_ms = std::atoi(argv[i + 1]);
    if (a == "--term-file") g_term_file = argv[i + 1];
  }
  signal(SIGTERM, OnTerm);
  std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(s, 128) != 0) {
    std::perror("bind/listen");
    return 1;
  }
  std::printf("upstream listening on %d\n", port);
  std::fflush(stdout);
  while (true) {
    int c = ::accept(s, nullptr, nullptr);
    if (c < 0) continue;
    ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::thread(Serve, c).detach();
  }
}
