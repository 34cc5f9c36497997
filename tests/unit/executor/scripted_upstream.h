// ScriptedUpstream: an HTTP server on 127.0.0.1 whose answers the test writes byte by byte,
// to play a function that answers garbage, closes mid-response or says nothing. Each
// connection: the request head (and its Content-Length body) is read, then `reply` runs on
// the socket, then the connection is closed. A connection that sends nothing (a readiness
// probe) is closed unanswered.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "common/unique_fd.h"

namespace hw::executor::testing {

class ScriptedUpstream {
 public:
  using Reply = std::function<void(int fd, const std::string& request)>;

  explicit ScriptedUpstream(Reply reply) {
    listener_ = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(listener_.get() >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener_.get(), 16) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, reply = std::move(reply)] {
      for (;;) {
        UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (client.get() < 0) return;  // the listener was shut down
        const std::string request = ReadRequest(client.get());
        if (request.empty()) continue;
        {
          std::lock_guard lock(mutex_);
          last_request_ = request;
          ++requests_;
        }
        reply(client.get(), request);
      }
    });
  }
  ~ScriptedUpstream() { Close(); }
  // Stops accepting; the port is closed when this returns.
  void Close() {
    if (listener_.get() >= 0) ::shutdown(listener_.get(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    listener_ = UniqueFd();
  }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string LastRequest() {
    std::lock_guard lock(mutex_);
    return last_request_;
  }
  int Requests() {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  static std::string ReadRequest(int fd) {
    std::string received;
    char buf[4096];
    for (;;) {
      const std::size_t end = received.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::size_t length = 0;
        const std::size_t at = received.find("\r\nContent-Length: ");
        if (at != std::string::npos && at < end)
          length = std::strtoul(&received[at + 18], nullptr, 10);
        if (received.size() >= end + 4 + length) return received;
      }
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n <= 0) return received;
      received.append(buf, static_cast<std::size_t>(n));
    }
  }

  UniqueFd listener_;
  int port_ = 0;
  std::mutex mutex_;
  std::string last_request_;
  int requests_ = 0;
  std::thread thread_;
};

inline void Send(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n <= 0) return;
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// A reply that sends `bytes` and closes.
inline ScriptedUpstream::Reply Replies(std::string bytes) {
  return [bytes](int fd, const std::string&) { Send(fd, bytes); };
}

}  // namespace hw::executor::testing
