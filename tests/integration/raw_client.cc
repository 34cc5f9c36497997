#include "raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace hw::test {

RawConnection::RawConnection(int port) {
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawConnection::Send(const std::string& bytes) {
  std::size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::string RawConnection::Read(std::chrono::milliseconds timeout, std::size_t enough) {
  std::string in;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (!closed_) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd_, POLLIN, 0};
    int pr = ::poll(&p, 1, static_cast<int>(left.count()));
    if (pr < 0 && errno == EINTR) continue;
    if (pr <= 0) break;
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      closed_ = true;
      break;
    }
    in.append(buf, static_cast<std::size_t>(n));
    if (enough > 0 && in.size() >= enough) break;
  }
  return in;
}

std::string RawConnection::ReadToClose(std::chrono::milliseconds timeout) {
  return Read(timeout, 0);
}

std::vector<Response> ParseResponses(const std::string& raw, std::string* rest) {
  std::vector<Response> out;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    auto head_end = raw.find("\r\n\r\n", pos);
    if (head_end == std::string::npos) break;
    Response r;
    std::string head = raw.substr(pos, head_end - pos);
    if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) break;
    r.status = std::atoi(head.substr(9, 3).c_str());
    std::size_t line_start = head.find("\r\n");
    long content_length = -1;
    while (line_start != std::string::npos) {
      line_start += 2;
      auto line_end = head.find("\r\n", line_start);
      std::string line = head.substr(
          line_start, line_end == std::string::npos ? std::string::npos : line_end - line_start);
      auto colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = line.substr(0, colon);
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers.emplace_back(name, value);
        if (strcasecmp(name.c_str(), "Content-Length") == 0)
          content_length = std::atol(value.c_str());
        if (strcasecmp(name.c_str(), "Transfer-Encoding") == 0 && value == "chunked")
          r.chunked = true;
      }
      line_start = line_end;
    }
    std::size_t body_start = head_end + 4;
    if (r.status / 100 == 1) {  // interim response: no body
      out.push_back(r);
      pos = body_start;
      continue;
    }
    if (r.chunked) {
      std::size_t p = body_start;
      r.complete = false;
      while (true) {
        auto eol = raw.find("\r\n", p);
        if (eol == std::string::npos) break;
        std::size_t size = std::strtoul(raw.substr(p, eol - p).c_str(), nullptr, 16);
        if (size == 0) {
          r.complete = raw.size() >= eol + 4;
          p = eol + 4;
          break;
        }
        if (eol + 2 + size + 2 > raw.size()) break;
        r.body += raw.substr(eol + 2, size);
        p = eol + 2 + size + 2;
      }
      if (!r.complete) {
        out.push_back(r);
        pos = raw.size();
        break;
      }
      pos = p;
    } else if (content_length >= 0) {
      std::size_t n = static_cast<std::size_t>(content_length);
      r.body = raw.substr(body_start, n);
      r.complete = raw.size() >= body_start + n;
      pos = std::min(raw.size(), body_start + n);
    } else {
      r.body = raw.substr(body_start);
      pos = raw.size();
    }
    out.push_back(r);
  }
  if (rest != nullptr) *rest = raw.substr(std::min(pos, raw.size()));
  return out;
}

std::vector<Response> ReadResponses(RawConnection& c, std::size_t count,
                                    std::chrono::milliseconds quiet) {
  std::string in;
  std::vector<Response> got;
  while (got.size() < count || (!got.empty() && !got.back().complete)) {
    std::string more = c.Read(quiet, 1);
    if (more.empty()) break;
    in += more;
    got = ParseResponses(in);
  }
  return got;
}

std::string RawPost(const std::string& target, const Headers& headers, const std::string& body) {
  std::string raw = "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [k, v] : headers) raw += k + ": " + v + "\r\n";
  raw += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  return raw;
}

long ProcStatusKb(pid_t pid, const std::string& field) {
  std::string status = ReadFile("/proc/" + std::to_string(pid) + "/status");
  auto at = status.find(field + ":");
  if (at == std::string::npos) return -1;
  return std::atol(status.c_str() + at + field.size() + 1);
}

}  // namespace hw::test
