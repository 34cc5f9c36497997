// A small HTTP/1.1 client for http mode's upstream: forwards the verified request byte for
// byte (headers as received minus hop-by-hop ones, the exact Content-Length) over a keep-alive
// connection and reads the response head, then the body as it arrives. Written for this one
// job instead of reusing cpp-httplib's client, which adds headers, may decode bodies and
// serialises on a shared mutex.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/body.h"
#include "common/expected.h"
#include "common/unique_fd.h"
#include "config/upstream_address.h"
#include "executor/executor.h"

namespace hw::executor {

using TimePoint = std::chrono::steady_clock::time_point;

using config::UpstreamAddress;

// true for the fixed set of headers that describe one connection, not the message (RFC 9110
// 7.6.1, 7.8 and 11.7; HTTP2-Settings): Connection, Keep-Alive, Proxy-Connection, TE,
// Trailer, Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization.
bool IsHopByHop(std::string_view name);

enum class UpstreamFailure { kNone, kRefused, kTimeout, kBroken };

struct ResponseHead {
  int status = 0;
  std::vector<Header> headers;  // hop-by-hop, Content-Length and Transfer-Encoding removed
  enum class Framing { kNone, kLength, kChunked, kUntilClose } framing = Framing::kNone;
  std::size_t length = 0;  // with kLength
  bool keep_alive = true;
};

class UpstreamConnection {
 public:
  // Connects (non-blocking, TCP_NODELAY) before `deadline`.
  static Expected<UpstreamConnection> Open(const UpstreamAddress& address, TimePoint deadline,
                                           UpstreamFailure* failure);

  // Sends the request head and the whole body. Headers are forwarded as received except the
  // IsHopByHop set and Content-Length (set from the body); names the client's Connection
  // header lists are NOT removed (see the README's http mode section), so Host,
  // X-Webhook-Verified and signature headers always reach the function.
  Status SendRequest(std::string_view method, std::string_view target,
                     const std::vector<Header>& headers, const Body& body,
                     const UpstreamAddress& address, TimePoint deadline);
  // As SendRequest, for a body in memory, without waiting: true when the socket took the
  // whole request; otherwise the rest waits in the connection (FlushRequest sends it) or
  // failure() is set.
  bool SendWithoutWaiting(std::string_view method, std::string_view target,
                          const std::vector<Header>& headers, const Body& body,
                          const UpstreamAddress& address);
  // Sends what SendWithoutWaiting left, before `deadline`.
  Status FlushRequest(TimePoint deadline);

  // Without waiting (the front loop): reads what the socket holds into the connection's
  // buffer. kEnded: the function closed the connection or it broke (the blocking reads
  // report it). Then, from the buffer alone: the response head once it is all there
  // (TakeBufferedHead: nullopt while it is not; an Error for a malformed one, failure()
  // set), and whether the body `head` frames is all there (kNone and kLength only). An
  // interim response (1xx, InterimBuffered) is left to ReadHead.
  enum class Receive { kReceived, kNothing, kEnded };
  Receive ReceiveAvailable();
  std::size_t buffered() const { return buffer_.size() - pos_; }
  bool InterimBuffered() const;
  void NoteEnded();  // the function closed it: not reusable, whatever the response said
  std::optional<Expected<ResponseHead>> TakeBufferedHead(bool head_request);
  bool BodyBuffered(const ResponseHead& head) const;
  // Reads the response head. `head_request`: the response has no body.
  Expected<ResponseHead> ReadHead(bool head_request, TimePoint deadline);
  // Reads the body as framed by `head`, calling `write` per chunk (false = stop: the
  // connection is then not reusable). Returns false with failure() set on an upstream error.
  bool ReadBody(const ResponseHead& head, TimePoint deadline,
                const std::function<bool(std::string_view)>& write);

  // For an idle kept-alive connection, before reusing it: true when the function closed or
  // reset it (or sent unrequested bytes) while it was idle, so a request must go on a new
  // connection instead. Never blocks.
  bool Stale() const;

  int fd() const { return fd_.get(); }
  UpstreamFailure failure() const { return failure_; }
  // Whether any byte of a response arrived on this exchange (a retry is safe only if not).
  bool received_anything() const { return received_; }
  bool reusable() const { return reusable_; }
  void BeginExchange() {
    received_ = false;
    failure_ = UpstreamFailure::kNone;
  }

 private:
  explicit UpstreamConnection(UniqueFd fd) : fd_(std::move(fd)) {}
  Status WriteAll(std::string_view data, TimePoint deadline);
  // The request head as SendRequest writes it, in head_ (a small body may be appended).
  std::string& RequestHead(std::string_view method, std::string_view target,
                           const std::vector<Header>& headers, const Body& body,
                           const UpstreamAddress& address);
  // Reads more bytes into buffer_; returns false on EOF, error or timeout (failure_ set).
  bool Fill(TimePoint deadline);
  // The next line, without its CR LF; valid until the next read.
  std::optional<std::string_view> ReadLine(TimePoint deadline, std::size_t max);
  bool Fail(UpstreamFailure kind);

  UniqueFd fd_;
  std::string buffer_;
  std::size_t pos_ = 0;
  UpstreamFailure failure_ = UpstreamFailure::kNone;
  bool received_ = false;
  bool reusable_ = true;
  bool just_sent_ = false;  // a request was just sent: poll before the first recv
  static constexpr std::size_t kKeptHeadBytes = 64 * 1024;
  std::string head_;    // the request head being sent (RequestHead)
  std::string unsent_;  // what SendWithoutWaiting could not send
};

}  // namespace hw::executor
