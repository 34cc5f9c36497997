#include "server/request_target.h"

#include "common/strings.h"

namespace hw::server {
namespace {

// "http://host:port/path" -> "/path" ("" when the authority ends the target).
std::string_view StripAbsoluteForm(std::string_view target, bool& ok) {
  ok = true;
  for (std::string_view scheme : {std::string_view("http://"), std::string_view("https://")}) {
    if (target.size() >= scheme.size() && IEquals(target.substr(0, scheme.size()), scheme)) {
      auto rest = target.substr(scheme.size());
      auto slash = rest.find_first_of("/?");
      if (slash == std::string_view::npos) return "/";
      if (rest[slash] == '?') return {};  // "http://h?x": a query with no path
      return rest.substr(slash);
    }
  }
  ok = false;
  return {};
}

}  // namespace

Expected<RequestTarget> ParseRequestTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    bool ok = false;
    target = StripAbsoluteForm(target, ok);
    if (!ok || target.empty()) {
      return Error{"Bad Request: the request target must be a path starting with /"};
    }
  }
  RequestTarget out;
  auto q = target.find('?');
  std::string_view raw_path = target.substr(0, q);
  if (q != std::string_view::npos) out.query = target.substr(q + 1);
  out.path.reserve(raw_path.size());
  for (std::size_t i = 0; i < raw_path.size(); ++i) {
    char c = raw_path[i];
    if (c != '%') {
      out.path.push_back(c);
      continue;
    }
    int h = i + 1 < raw_path.size() ? HexDigitValue(raw_path[i + 1]) : -1;
    int l = i + 2 < raw_path.size() ? HexDigitValue(raw_path[i + 2]) : -1;
    if (h < 0 || l < 0) {
      return Error{"Bad Request: invalid percent-encoding in the path (RFC 3986 %XX only)"};
    }
    char decoded = static_cast<char>(h * 16 + l);
    if (decoded == '\0') return Error{"Bad Request: encoded NUL in the path"};
    out.path.push_back(decoded);
    i += 2;
  }
  return out;
}

}  // namespace hw::server
