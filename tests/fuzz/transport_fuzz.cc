// The function port's framing with untrusted bytes, split at random points: the first input
// byte picks up to eight cut points, the rest is the wire. Invariants: nothing crashes; the
// requests (method, target, headers, decoded body) and where a refusal comes are the same
// whatever the cuts (a transport reads whatever the kernel hands it); a step never claims
// more bytes than it was given; no body is delivered before its head; a chunked body never
// passes max_body_bytes.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/request_parser.h"

namespace {

using hw::server::RequestParser;
using Event = RequestParser::Event;

constexpr std::uint64_t kMaxBody = 4096;

std::string Run(std::string_view wire, const std::vector<std::size_t>& cuts) {
  hw::server::ParseLimits limits;
  limits.max_target_bytes = 512;
  limits.max_head_bytes = 2048;
  limits.max_header_count = 32;
  limits.max_header_bytes = 1024;
  limits.max_body_bytes = kMaxBody;
  RequestParser parser(limits);
  std::string log;  // a transcript of what was parsed
  std::uint64_t body_bytes = 0;
  RequestParser::BodySink sink = [&](std::string_view b) {
    body_bytes += b.size();
    if (body_bytes > kMaxBody) std::abort();
    log.append(b);  // however the body arrives in pieces, the transcript is the same
    return true;
  };
  std::size_t available = 0, offset = 0, next = 0;
  bool in_request = false;
  while (true) {
    std::string_view piece = wire.substr(offset, available - offset);
    auto step = parser.Feed(piece, parser.in_body() ? &sink : nullptr);
    if (step.consumed > piece.size()) std::abort();
    offset += step.consumed;
    switch (step.event) {
      case Event::kError:
        // Which refusal (400, 413, 414, 431) may depend on the cuts: a target over its limit
        // and with a bad byte past the limit is 414 when the limit is seen first, 400 when
        // llhttp sees the byte first. That the same request is refused may not.
        if (parser.error_status() < 400 || parser.error_status() > 505) std::abort();
        return log + "E";
      case Event::kHead: {
        if (in_request) std::abort();
        in_request = true;
        body_bytes = 0;
        const auto& h = parser.head();
        log += "H" + h.method + " " + h.target;
        for (const auto& f : h.headers) log += "|" + f.name + ":" + f.value;
        log += "B";  // the body's bytes follow
        break;
      }
      case Event::kMessageEnd:
        if (!in_request) std::abort();
        in_request = false;
        log += "M";
        break;
      case Event::kNeedMore:
        if (step.consumed != piece.size()) std::abort();
        if (next > cuts.size()) return log;
        available = next < cuts.size() ? cuts[next] : wire.size();
        ++next;
        if (available < offset) available = offset;
        break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  std::string_view wire(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::vector<std::size_t> cuts;
  unsigned seed = data[0];
  for (int i = 0; i < 8; ++i) {
    seed = seed * 1103515245u + 12345u;
    cuts.push_back((seed >> 8) % (wire.size() + 1));
  }
  std::sort(cuts.begin(), cuts.end());
  if (Run(wire, {}) != Run(wire, cuts)) std::abort();
  return 0;
}
