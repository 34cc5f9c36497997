// HTTP/1.1 request framing for the function port: llhttp (Node.js's parser, strict about
// request smuggling; README "Dependencies") behind an interface that knows nothing of
// sockets. It splits a byte stream into request heads and bodies, decodes chunked bodies and
// enforces the head limits of README "Limits". The transport (connection.cc) feeds it what
// it reads; the fuzz target feeds it bytes split at random points.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "executor/executor.h"

namespace hw::server {

// The limits of one request (README "Limits"). Exceeding one ends parsing with its status.
struct ParseLimits {
  std::size_t max_target_bytes = 16 * 1024;  // request target: 414
  std::size_t max_head_bytes = 64 * 1024;    // header section in all: 431
  std::size_t max_header_count = 256;        // 431
  std::size_t max_header_bytes = 64 * 1024;  // one header line: 431
  std::uint64_t max_body_bytes = 0;          // chunked bodies: 413 (0 = no limit)
};

// A request head as it arrived. Header names and values are the wire bytes (values without
// the surrounding whitespace).
struct ParsedHead {
  std::string method;     // "GET", "POST", ...
  std::string target;     // "/hook?x=1", as sent
  int version_minor = 1;  // HTTP/1.<minor>
  std::vector<executor::Header> headers;
  bool keep_alive = true;  // the client allows another request on the connection
  bool has_body = false;   // Content-Length > 0, or chunked
  bool chunked = false;
  std::uint64_t content_length = 0;  // the announced length of a body that is not chunked
  bool upgrade = false;              // Connection: upgrade with Upgrade, or CONNECT
  bool expect_continue = false;      // Expect: 100-continue (HTTP/1.1)
};

class RequestParser {
 public:
  enum class Event {
    kNeedMore,    // every byte consumed; feed more
    kHead,        // a head is complete: head() is valid; the body (if any) follows
    kMessageEnd,  // the request (head and body) is complete; the next one may follow
    kError,       // malformed or over a limit: error_status(), error_text(); the connection ends
  };
  struct Step {
    Event event;
    std::size_t consumed;  // bytes of the input used; the rest belongs to what follows
  };
  using BodySink = std::function<bool(std::string_view)>;  // false: stop reading

  explicit RequestParser(ParseLimits limits);
  ~RequestParser();
  // As if new: for a parser kept to serve another connection's requests.
  void Reset();
  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Parses `bytes`. Before a head is complete it gathers the head; after kHead the body's
  // bytes go to `sink` (decoded when chunked) until kMessageEnd. After kMessageEnd the next
  // call starts the next request. A sink that returns false ends parsing with kError and
  // sink_stopped() true.
  Step Feed(std::string_view bytes, const BodySink* sink = nullptr);

  const ParsedHead& head() const { return head_; }
  // The head, for the transport to move what it hands on (valid until the next Feed).
  ParsedHead& mutable_head() { return head_; }
  bool in_body() const { return phase_ == Phase::kBody; }
  // Bytes of the current request's header fields seen so far (0 between requests).
  std::size_t head_bytes() const { return head_bytes_; }
  std::uint64_t body_bytes() const { return body_bytes_; }
  int error_status() const { return error_status_; }             // 400, 413, 414, 431, 505
  const std::string& error_text() const { return error_text_; }  // for the response body
  bool sink_stopped() const { return sink_stopped_; }

 private:
  enum class Phase { kHead, kBody, kDone, kFailed };
  struct Callbacks;
  friend struct Callbacks;
  int Fail(int status, std::string text);
  int OnHeadersComplete();
  int CountHeaderBytes(std::size_t added, std::size_t line_bytes);
  void StartMessage();

  ParseLimits limits_;
  struct LlhttpState;
  std::unique_ptr<LlhttpState> llhttp_;
  Phase phase_ = Phase::kHead;
  ParsedHead head_;
  std::string field_;      // header name being read
  bool in_value_ = false;  // the last callback was a value piece
  std::size_t head_bytes_ = 0;
  std::uint64_t body_bytes_ = 0;
  const BodySink* sink_ = nullptr;
  bool sink_stopped_ = false;
  bool message_done_ = false;
  int error_status_ = 0;
  std::string error_text_;
};

}  // namespace hw::server
