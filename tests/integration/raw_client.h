// A client for tests that need to hold a connection and speak HTTP/1.1 byte by byte: send
// part of a request, wait, read what came back so far, pipeline several requests. Nothing
// is added to or decoded from what a test sends.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "harness.h"

namespace hw::test {

class RawConnection {
 public:
  explicit RawConnection(int port);  // connects to 127.0.0.1:port (fd() < 0 on failure)
  ~RawConnection();
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  int fd() const { return fd_; }
  bool Send(const std::string& bytes);  // false once the peer has gone
  // Reads what arrives within `timeout` (returns early once `enough` bytes are in, when
  // enough > 0). closed() tells whether the peer closed the connection.
  std::string Read(std::chrono::milliseconds timeout, std::size_t enough = 0);
  // Reads until the peer closes (or timeout).
  std::string ReadToClose(std::chrono::milliseconds timeout);
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

// Every complete response in `raw`, in order (Content-Length or chunked bodies; a response
// with neither takes the rest). `rest` (if given) receives the bytes after the last one.
std::vector<Response> ParseResponses(const std::string& raw, std::string* rest = nullptr);
// Reads from `c` until `count` responses are in, the last one whole (or nothing arrives for
// `quiet`).
std::vector<Response> ReadResponses(RawConnection& c, std::size_t count,
                                    std::chrono::milliseconds quiet = std::chrono::seconds(10));

// The request line and headers of a GET or POST, with Host, for pipelining tests.
std::string RawPost(const std::string& target, const Headers& headers, const std::string& body);

// A field of /proc/PID/status in kB ("VmHWM", "VmRSS"); -1 when unreadable.
long ProcStatusKb(pid_t pid, const std::string& field);

}  // namespace hw::test
