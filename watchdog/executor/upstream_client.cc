#include "executor/upstream_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

#include "common/strings.h"

namespace hw::executor {
namespace {

constexpr std::size_t kMaxHeadLine = 64 * 1024;
constexpr std::size_t kMaxHeaders = 256;
constexpr std::size_t kReadSize = 64 * 1024;

int MillisLeft(TimePoint deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - std::chrono::steady_clock::now())
                  .count();
  if (left <= 0) return 0;
  return left > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(left);
}

bool ContainsToken(std::string_view list, std::string_view token) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (IEquals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

bool IsHopByHop(std::string_view name) {
  // Their lengths (2, 7, 10, 14, 16-19) as bits: most headers are refused by one test, before
  // ten comparisons (every header of every request and response is asked).
  constexpr std::uint32_t kLengths =
      1u << 2 | 1u << 7 | 1u << 10 | 1u << 14 | 1u << 16 | 1u << 17 | 1u << 18 | 1u << 19;
  if (name.size() > 19 || (kLengths >> name.size() & 1u) == 0) return false;
  // Then only the names of that length are compared.
  switch (name.size()) {
    case 2:
      return IEquals(name, "TE");
    case 7:
      return IEquals(name, "Trailer") || IEquals(name, "Upgrade");
    case 10:
      return IEquals(name, "Connection") || IEquals(name, "Keep-Alive");
    case 14:
      return IEquals(name, "HTTP2-Settings");
    case 16:
      return IEquals(name, "Proxy-Connection");
    case 17:
      return IEquals(name, "Transfer-Encoding");
    case 18:
      return IEquals(name, "Proxy-Authenticate");
    default:  // 19
      return IEquals(name, "Proxy-Authorization");
  }
}

Expected<UpstreamConnection> UpstreamConnection::Open(const UpstreamAddress& address,
                                                      TimePoint deadline,
                                                      UpstreamFailure* failure) {
  UniqueFd fd(::socket(address.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) {
    *failure = UpstreamFailure::kBroken;
    return Error{fmt::format("socket: {}", std::strerror(errno))};
  }
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address.addr), address.addr_len) !=
      0) {
    if (errno != EINPROGRESS) {
      *failure = errno == ECONNREFUSED ? UpstreamFailure::kRefused : UpstreamFailure::kBroken;
      return Error{
          fmt::format("connect to {}:{}: {}", address.host, address.port, std::strerror(errno))};
    }
    pollfd p{fd.get(), POLLOUT, 0};
    int r = ::poll(&p, 1, MillisLeft(deadline));
    if (r == 0) {
      *failure = UpstreamFailure::kTimeout;
      return Error{fmt::format("connect to {}:{}: timed out", address.host, address.port)};
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (r < 0 || err != 0) {
      *failure = err == ECONNREFUSED ? UpstreamFailure::kRefused : UpstreamFailure::kBroken;
      return Error{fmt::format("connect to {}:{}: {}", address.host, address.port,
                               std::strerror(err != 0 ? err : errno))};
    }
  }
  return UpstreamConnection(std::move(fd));
}

bool UpstreamConnection::Stale() const {
  pollfd p{fd_.get(), POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;  // nothing pending: the connection looks alive
  char byte = 0;
  const ssize_t n = ::recv(fd_.get(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
  return true;  // end-of-file, a reset, or bytes nobody asked for
}

bool UpstreamConnection::Fail(UpstreamFailure kind) {
  failure_ = kind;
  reusable_ = false;
  return false;
}

Status UpstreamConnection::WriteAll(std::string_view data, TimePoint deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_.get(), POLLOUT, 0};
      int r = ::poll(&p, 1, MillisLeft(deadline));
      if (r == 0) {
        Fail(UpstreamFailure::kTimeout);
        return Error{"timed out sending the request to the function"};
      }
      if (r < 0 && errno != EINTR) {
        Fail(UpstreamFailure::kBroken);
        return Error{fmt::format("poll: {}", std::strerror(errno))};
      }
      continue;
    }
    Fail(UpstreamFailure::kBroken);
    return Error{fmt::format("sending to the function: {}", std::strerror(errno))};
  }
  return Ok{};
}

std::string& UpstreamConnection::RequestHead(std::string_view method, std::string_view target,
                                             const std::vector<Header>& headers, const Body& body,
                                             const UpstreamAddress& address) {
  // In the connection's own buffer: its room stays for the next request (up to
  // kKeptHeadBytes), where a new string cost an allocation each.
  if (head_.capacity() > kKeptHeadBytes) std::string().swap(head_);
  std::string& head = head_;
  head.clear();
  head.reserve(256 + headers.size() * 48 + (body.in_memory() ? body.size() : 0));
  head.append(method).append(" ").append(address.base_path).append(target).append(" HTTP/1.1\r\n");
  bool has_host = false;
  // Only the fixed hop-by-hop set is removed. Other names listed in the client's Connection
  // header are forwarded all the same: the Connection of the client's hop says nothing about
  // the watchdog's own connection to the function, and honouring it would let a client strip
  // Host, X-Webhook-Verified, a signature or its timestamp before the function sees them.
  for (const auto& h : headers) {
    if (IsHopByHop(h.name) || IEquals(h.name, "Content-Length")) continue;
    if (IEquals(h.name, "Host")) has_host = true;
    head.append(h.name).append(": ").append(h.value).append("\r\n");
  }
  if (!has_host) head.append(fmt::format("Host: {}:{}\r\n", address.host, address.port));
  char length[20];
  const auto end = std::to_chars(length, length + sizeof length, body.size()).ptr;
  head.append("Content-Length: ")
      .append(length, static_cast<std::size_t>(end - length))
      .append("\r\n\r\n");
  return head;
}

Status UpstreamConnection::SendRequest(std::string_view method, std::string_view target,
                                       const std::vector<Header>& headers, const Body& body,
                                       const UpstreamAddress& address, TimePoint deadline) {
  std::string& head = RequestHead(method, target, headers, body, address);
  just_sent_ = true;
  if (body.in_memory() && body.size() <= 16 * 1024) {
    head.append(body.memory());
    return WriteAll(head, deadline);
  }
  if (auto s = WriteAll(head, deadline); !s) return s;
  if (body.in_memory()) return WriteAll(body.memory(), deadline);
  std::string chunk(kReadSize, '\0');
  for (std::size_t off = 0; off < body.size();) {
    long n = body.ReadAt(off, chunk.data(), chunk.size());
    if (n <= 0) {
      Fail(UpstreamFailure::kBroken);
      return Error{"cannot read the spooled request body"};
    }
    if (auto s = WriteAll(std::string_view(chunk.data(), static_cast<std::size_t>(n)), deadline);
        !s) {
      return s;
    }
    off += static_cast<std::size_t>(n);
  }
  return Ok{};
}

bool UpstreamConnection::SendWithoutWaiting(std::string_view method, std::string_view target,
                                            const std::vector<Header>& headers, const Body& body,
                                            const UpstreamAddress& address) {
  std::string& head = RequestHead(method, target, headers, body, address);
  const std::string_view rest = body.in_memory() ? std::string_view(body.memory()) : "";
  iovec iov[2] = {{head.data(), head.size()}, {const_cast<char*>(rest.data()), rest.size()}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = rest.empty() ? 1 : 2;
  just_sent_ = true;
  ssize_t n;
  do {
    n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) return Fail(UpstreamFailure::kBroken);
  std::size_t sent = n < 0 ? 0 : static_cast<std::size_t>(n);
  if (sent == head.size() + rest.size()) return true;
  if (sent < head.size()) {
    unsent_.assign(head, sent);
    unsent_.append(rest);
  } else {
    unsent_.assign(rest.substr(sent - head.size()));
  }
  return false;
}

Status UpstreamConnection::FlushRequest(TimePoint deadline) {
  std::string rest = std::move(unsent_);
  unsent_.clear();
  return WriteAll(rest, deadline);
}

UpstreamConnection::Receive UpstreamConnection::ReceiveAvailable() {
  if (pos_ > 0 && pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  Receive result = Receive::kNothing;
  while (true) {
    char tmp[kReadSize];
    ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
      just_sent_ = false;
      received_ = true;
      buffer_.append(tmp, static_cast<std::size_t>(n));
      result = Receive::kReceived;
      if (static_cast<std::size_t>(n) < sizeof tmp) return result;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return result;
    return Receive::kEnded;  // end of file or an error: ReadHead/ReadBody report it
  }
}

bool UpstreamConnection::InterimBuffered() const {
  const std::string_view rest = std::string_view(buffer_).substr(pos_);
  return rest.size() >= 10 && rest.compare(0, 7, "HTTP/1.") == 0 && rest[9] == '1';
}

void UpstreamConnection::NoteEnded() { reusable_ = false; }

std::optional<Expected<ResponseHead>> UpstreamConnection::TakeBufferedHead(bool head_request) {
  const std::string_view rest = std::string_view(buffer_).substr(pos_);
  if (!HasHeadEnd(rest)) return std::nullopt;
  // The whole head is buffered: ReadHead takes it without reading the socket.
  return ReadHead(head_request, std::chrono::steady_clock::now());
}

bool UpstreamConnection::BodyBuffered(const ResponseHead& head) const {
  switch (head.framing) {
    case ResponseHead::Framing::kNone:
      return true;
    case ResponseHead::Framing::kLength:
      return buffered() >= head.length;
    default:
      return false;
  }
}

bool UpstreamConnection::Fill(TimePoint deadline) {
  if (pos_ > 0 && pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  char tmp[kReadSize];
  if (just_sent_) {
    // Right after sending, the answer cannot be there yet: wait before the first recv
    // instead of paying for one that fails with EAGAIN.
    just_sent_ = false;
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, MillisLeft(deadline));
    if (r == 0) return Fail(UpstreamFailure::kTimeout);
  }
  while (true) {
    ssize_t n = ::recv(fd_.get(), tmp, sizeof tmp, 0);
    if (n > 0) {
      received_ = true;
      buffer_.append(tmp, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) return Fail(UpstreamFailure::kBroken);
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return Fail(UpstreamFailure::kBroken);
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, MillisLeft(deadline));
    if (r == 0) return Fail(UpstreamFailure::kTimeout);
    if (r < 0 && errno != EINTR) return Fail(UpstreamFailure::kBroken);
  }
}

std::optional<std::string_view> UpstreamConnection::ReadLine(TimePoint deadline, std::size_t max) {
  while (true) {
    auto eol = buffer_.find('\n', pos_);
    if (eol != std::string::npos) {
      std::string_view line = std::string_view(buffer_).substr(pos_, eol - pos_);
      pos_ = eol + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      return line;
    }
    if (buffer_.size() - pos_ > max) {
      Fail(UpstreamFailure::kBroken);
      return std::nullopt;
    }
    if (!Fill(deadline)) return std::nullopt;
  }
}

Expected<ResponseHead> UpstreamConnection::ReadHead(bool head_request, TimePoint deadline) {
  ResponseHead head;
  std::optional<std::string_view> status_line;
  do {  // 1xx interim responses are skipped
    status_line = ReadLine(deadline, kMaxHeadLine);
    if (!status_line) return Error{"no response from the function"};
    if (status_line->size() < 12 || status_line->compare(0, 7, "HTTP/1.") != 0) {
      Fail(UpstreamFailure::kBroken);
      return Error{"the function sent a malformed status line"};
    }
    auto code = status_line->substr(9, 3);
    auto [p, ec] = std::from_chars(code.data(), code.data() + 3, head.status);
    if (ec != std::errc() || head.status < 100 || head.status > 599) {
      Fail(UpstreamFailure::kBroken);
      return Error{"the function sent a malformed status code"};
    }
    bool http10 = status_line->compare(0, 8, "HTTP/1.0") == 0;
    head.keep_alive = !http10;
    head.headers.clear();
    head.headers.reserve(8);  // a usual response's, at once
    bool chunked = false;
    std::optional<std::size_t> length;
    for (std::size_t count = 0;; ++count) {
      auto line = ReadLine(deadline, kMaxHeadLine);
      if (!line) return Error{"the function's response head was cut"};
      if (line->empty()) break;
      if (count >= kMaxHeaders) {
        Fail(UpstreamFailure::kBroken);
        return Error{"the function sent too many headers"};
      }
      auto colon = line->find(':');
      if (colon == std::string::npos || colon == 0) {
        Fail(UpstreamFailure::kBroken);
        return Error{"the function sent a malformed header line"};
      }
      const std::string_view name = line->substr(0, colon);
      std::string_view value = line->substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
        value.remove_prefix(1);
      while (!value.empty() && (value.back() == ' ' || value.back() == '\t'))
        value.remove_suffix(1);
      if (IEquals(name, "Content-Length")) {
        std::size_t n = 0;
        auto [q, e] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (e != std::errc() || q != value.data() + value.size() || (length && *length != n)) {
          Fail(UpstreamFailure::kBroken);
          return Error{"the function sent an invalid Content-Length"};
        }
        length = n;
        continue;
      }
      if (IEquals(name, "Transfer-Encoding")) {
        chunked = ContainsToken(value, "chunked");
        continue;
      }
      if (IEquals(name, "Connection")) {
        if (ContainsToken(value, "close")) head.keep_alive = false;
        if (ContainsToken(value, "keep-alive") && http10) head.keep_alive = true;
        continue;
      }
      if (IsHopByHop(name)) continue;
      head.headers.push_back({std::string(name), std::string(value)});
    }
    if (head.status >= 200 || head.status == 101) {
      if (head_request || head.status == 204 || head.status == 304 || head.status < 200) {
        head.framing = ResponseHead::Framing::kNone;
      } else if (chunked) {
        head.framing = ResponseHead::Framing::kChunked;
      } else if (length) {
        head.framing = ResponseHead::Framing::kLength;
        head.length = *length;
      } else {
        head.framing = ResponseHead::Framing::kUntilClose;
        head.keep_alive = false;
      }
    }
  } while (head.status < 200 && head.status != 101);
  if (!head.keep_alive) reusable_ = false;
  return head;
}

bool UpstreamConnection::ReadBody(const ResponseHead& head, TimePoint deadline,
                                  const std::function<bool(std::string_view)>& write) {
  auto take = [&](std::size_t max, bool until_close) -> std::optional<std::string_view> {
    if (pos_ == buffer_.size()) {
      buffer_.clear();
      pos_ = 0;
      if (!Fill(deadline)) {
        if (until_close && failure_ == UpstreamFailure::kBroken) {
          failure_ = UpstreamFailure::kNone;  // EOF ends a close-delimited body
          return std::string_view();
        }
        return std::nullopt;
      }
    }
    std::size_t n = std::min(max, buffer_.size() - pos_);
    std::string_view chunk(buffer_.data() + pos_, n);
    pos_ += n;
    return chunk;
  };
  auto stop = [&] {
    reusable_ = false;
    return false;
  };
  switch (head.framing) {
    case ResponseHead::Framing::kNone:
      return true;
    case ResponseHead::Framing::kLength: {
      for (std::size_t left = head.length; left > 0;) {
        auto chunk = take(left, false);
        if (!chunk) return false;
        left -= chunk->size();
        if (!write(*chunk)) return stop();
      }
      return true;
    }
    case ResponseHead::Framing::kUntilClose: {
      while (true) {
        auto chunk = take(kReadSize, true);
        if (!chunk) return false;
        if (chunk->empty()) return true;
        if (!write(*chunk)) return stop();
      }
    }
    case ResponseHead::Framing::kChunked: {
      while (true) {
        auto size_line = ReadLine(deadline, 1024);
        if (!size_line) return false;
        std::size_t size = 0;
        std::string_view digits = *size_line;
        digits = digits.substr(0, digits.find(';'));
        while (!digits.empty() && digits.back() == ' ') digits.remove_suffix(1);
        auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), size, 16);
        if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size()) {
          return Fail(UpstreamFailure::kBroken);
        }
        if (size == 0) {
          while (true) {  // trailers, up to the empty line
            auto t = ReadLine(deadline, kMaxHeadLine);
            if (!t) return false;
            if (t->empty()) return true;
          }
        }
        for (std::size_t left = size; left > 0;) {
          auto chunk = take(left, false);
          if (!chunk) return false;
          left -= chunk->size();
          if (!write(*chunk)) return stop();
        }
        auto crlf = ReadLine(deadline, 2);
        if (!crlf || !crlf->empty()) return Fail(UpstreamFailure::kBroken);
      }
    }
  }
  return false;
}

}  // namespace hw::executor
