#include "server/request_parser.h"

#include <llhttp.h>

#include <fmt/format.h>

#include "common/strings.h"

namespace hw::server {

struct RequestParser::LlhttpState {
  llhttp_t parser{};
};

namespace {
RequestParser& Owner(llhttp_t* p) { return *static_cast<RequestParser*>(p->data); }
// Headers a request's vector has room for from its first one (curl sends 3-5, GitHub 10-12).
constexpr std::size_t kUsualHeaderCount = 12;
}  // namespace

// llhttp calls plain functions; these forward to the parser that owns the llhttp_t.
struct RequestParser::Callbacks {
  static int OnMessageBegin(llhttp_t* p) {
    auto& self = Owner(p);
    if (self.phase_ != Phase::kHead) return self.Fail(400, "a request began inside another");
    return 0;
  }
  static int OnUrl(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = Owner(p);
    self.head_.target.append(at, n);
    if (self.head_.target.size() > self.limits_.max_target_bytes) {
      return self.Fail(414, fmt::format("URI Too Long: the request target is over {} bytes",
                                        self.limits_.max_target_bytes));
    }
    return 0;
  }
  static int OnHeaderField(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = Owner(p);
    self.in_value_ = false;
    self.field_.append(at, n);
    return self.CountHeaderBytes(n, self.field_.size());
  }
  static int OnHeaderValue(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = Owner(p);
    if (!self.in_value_) {
      if (self.head_.headers.size() >= self.limits_.max_header_count) {
        return self.Fail(431, fmt::format("Request Header Fields Too Large: more than {} "
                                          "header fields",
                                          self.limits_.max_header_count));
      }
      // Room for a usual request's headers at once, not 1, 2, 4, 8 moves of them.
      if (self.head_.headers.capacity() == 0) self.head_.headers.reserve(kUsualHeaderCount);
      self.head_.headers.push_back({std::move(self.field_), std::string()});
      self.field_.clear();
      self.in_value_ = true;
    }
    auto& header = self.head_.headers.back();
    header.value.append(at, n);
    return self.CountHeaderBytes(n, header.name.size() + header.value.size());
  }
  static int OnHeaderValueComplete(llhttp_t* p) {
    auto& self = Owner(p);
    if (!self.in_value_) {  // "Name:" with nothing after it
      if (self.head_.headers.size() >= self.limits_.max_header_count) {
        return self.Fail(431, "Request Header Fields Too Large: too many header fields");
      }
      self.head_.headers.push_back({std::move(self.field_), std::string()});
      self.field_.clear();
    }
    self.in_value_ = false;
    return 0;
  }
  static int OnHeadersComplete(llhttp_t* p) { return Owner(p).OnHeadersComplete(); }
  static int OnBody(llhttp_t* p, const char* at, std::size_t n) {
    auto& self = Owner(p);
    self.body_bytes_ += n;
    if (self.sink_ == nullptr || !(*self.sink_)(std::string_view(at, n))) {
      self.sink_stopped_ = true;
      self.phase_ = Phase::kFailed;
      return HPE_USER;
    }
    return 0;
  }
  static int OnChunkHeader(llhttp_t* p) {
    auto& self = Owner(p);
    const std::uint64_t size = p->content_length;
    const std::uint64_t limit = self.limits_.max_body_bytes;
    if (limit != 0 && (size > limit || self.body_bytes_ > limit - size)) {
      return self.Fail(413, "Payload Too Large\n");
    }
    return 0;
  }
  static int OnMessageComplete(llhttp_t* p) {
    auto& self = Owner(p);
    self.message_done_ = true;
    // After an upgrade request llhttp stops by itself (HPE_PAUSED_UPGRADE).
    return p->upgrade ? 0 : HPE_PAUSED;
  }

  static const llhttp_settings_t& Settings() {
    static const llhttp_settings_t settings = [] {
      llhttp_settings_t s;
      llhttp_settings_init(&s);
      s.on_message_begin = OnMessageBegin;
      s.on_url = OnUrl;
      s.on_header_field = OnHeaderField;
      s.on_header_value = OnHeaderValue;
      s.on_header_value_complete = OnHeaderValueComplete;
      s.on_headers_complete = OnHeadersComplete;
      s.on_body = OnBody;
      s.on_chunk_header = OnChunkHeader;
      s.on_message_complete = OnMessageComplete;
      return s;
    }();
    return settings;
  }
};

RequestParser::RequestParser(ParseLimits limits)
    : limits_(limits), llhttp_(std::make_unique<LlhttpState>()) {
  llhttp_init(&llhttp_->parser, HTTP_REQUEST, &Callbacks::Settings());
  llhttp_->parser.data = this;
}

RequestParser::~RequestParser() = default;

void RequestParser::Reset() {
  llhttp_init(&llhttp_->parser, HTTP_REQUEST, &Callbacks::Settings());
  llhttp_->parser.data = this;
  StartMessage();
  // A kept parser keeps only a usual request's room (a 64 KiB header name must not stay).
  if (field_.capacity() > 256) std::string().swap(field_);
  if (head_.headers.capacity() > kUsualHeaderCount) {
    std::vector<executor::Header>().swap(head_.headers);
  }
  sink_ = nullptr;
  sink_stopped_ = false;
  error_status_ = 0;
  error_text_.clear();
}

int RequestParser::Fail(int status, std::string text) {
  error_status_ = status;
  error_text_ = std::move(text);
  phase_ = Phase::kFailed;
  return HPE_USER;
}

int RequestParser::CountHeaderBytes(std::size_t added, std::size_t line_bytes) {
  head_bytes_ += added;
  if (line_bytes > limits_.max_header_bytes) {
    return Fail(431, fmt::format("Request Header Fields Too Large: a header line is over {} "
                                 "bytes",
                                 limits_.max_header_bytes));
  }
  if (head_bytes_ > limits_.max_head_bytes) {
    return Fail(431, fmt::format("Request Header Fields Too Large: the headers are over {} "
                                 "bytes",
                                 limits_.max_head_bytes));
  }
  return 0;
}

int RequestParser::OnHeadersComplete() {
  llhttp_t* p = &llhttp_->parser;
  if (p->http_major != 1) {
    return Fail(505, "HTTP Version Not Supported: only HTTP/1.0 and HTTP/1.1 are served");
  }
  if ((p->flags & F_TRANSFER_ENCODING) && !(p->flags & F_CHUNKED)) {
    // RFC 9112 section 6.3: a request whose last transfer coding is not chunked has no
    // determinable length.
    return Fail(400, "Bad Request: a Transfer-Encoding other than chunked");
  }
  head_.method = llhttp_method_name(static_cast<llhttp_method_t>(p->method));
  head_.version_minor = p->http_minor;
  head_.keep_alive = llhttp_should_keep_alive(p) != 0;
  head_.chunked = (p->flags & F_CHUNKED) != 0;
  head_.has_body = head_.chunked || ((p->flags & F_CONTENT_LENGTH) && p->content_length > 0);
  if (!head_.chunked && (p->flags & F_CONTENT_LENGTH)) head_.content_length = p->content_length;
  head_.upgrade = p->upgrade != 0;
  for (auto& h : head_.headers) {
    while (!h.value.empty() && (h.value.back() == ' ' || h.value.back() == '\t')) {
      h.value.pop_back();
    }
    if (head_.version_minor >= 1 && IEquals(h.name, "Expect") && IEquals(h.value, "100-continue")) {
      head_.expect_continue = true;
    }
  }
  phase_ = Phase::kBody;
  return HPE_PAUSED;  // the transport decides on the head before a byte of the body is read
}

void RequestParser::StartMessage() {
  // The header list keeps its room (when the last head's list was not handed on).
  std::vector<executor::Header> headers = std::move(head_.headers);
  headers.clear();
  head_ = ParsedHead{};
  head_.headers = std::move(headers);
  field_.clear();
  in_value_ = false;
  head_bytes_ = 0;
  body_bytes_ = 0;
  message_done_ = false;
  phase_ = Phase::kHead;
}

RequestParser::Step RequestParser::Feed(std::string_view bytes, const BodySink* sink) {
  if (phase_ == Phase::kFailed) return {Event::kError, 0};
  if (phase_ == Phase::kDone) StartMessage();
  llhttp_t* p = &llhttp_->parser;
  sink_ = sink;
  const char* data = bytes.data();
  const llhttp_errno_t err = llhttp_execute(p, data, bytes.size());
  sink_ = nullptr;
  const std::size_t consumed =
      err == HPE_OK ? bytes.size() : static_cast<std::size_t>(llhttp_get_error_pos(p) - data);
  switch (err) {
    case HPE_OK:
      return {Event::kNeedMore, consumed};
    case HPE_PAUSED:
      llhttp_resume(p);
      if (message_done_) {
        phase_ = Phase::kDone;
        return {Event::kMessageEnd, consumed};
      }
      return {Event::kHead, consumed};
    case HPE_PAUSED_UPGRADE:
      // The request of an upgrade is complete; the watchdog serves it as a plain request
      // and then ends the connection (it does not switch protocols).
      head_.keep_alive = false;
      phase_ = Phase::kDone;
      return {Event::kMessageEnd, consumed};
    default:
      break;
  }
  phase_ = Phase::kFailed;
  if (error_status_ == 0 && !sink_stopped_) {
    // A version llhttp refuses is 505 only when it is not 1.x at all ("HTTP/1.1" followed by
    // a bare LF is a malformed line, not another version).
    error_status_ = err == HPE_INVALID_VERSION && p->http_major != 1 ? 505 : 400;
    const char* reason = llhttp_get_error_reason(p);
    error_text_ = fmt::format("Bad Request: {}", reason != nullptr ? reason : "malformed request");
  }
  return {Event::kError, consumed};
}

}  // namespace hw::server
