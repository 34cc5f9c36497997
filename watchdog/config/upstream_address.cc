// Parsing of upstream_url (see upstream_address.h).
#include "config/upstream_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <charconv>
#include <cstring>

#include <fmt/format.h>

namespace hw::config {

bool UpstreamAddress::operator==(const UpstreamAddress& other) const {
  return host == other.host && port == other.port && base_path == other.base_path &&
         addr_len == other.addr_len && std::memcmp(&addr, &other.addr, addr_len) == 0;
}

Expected<UpstreamAddress> ParseUpstreamUrl(std::string_view key, std::string_view url) {
  auto bad = [&](std::string_view why) {
    return Error{fmt::format("invalid value for {}: \"{}\": {}", key, url, why)};
  };
  if (url.substr(0, 7) != "http://") return bad("expected http://HOST:PORT");
  std::string_view rest = url.substr(7);
  UpstreamAddress a;
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) {
    a.base_path = std::string(rest.substr(slash));
    while (!a.base_path.empty() && a.base_path.back() == '/') a.base_path.pop_back();
  }
  std::string_view host = authority;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return bad("unbalanced [ in the host");
    host = authority.substr(1, close - 1);
    authority.remove_prefix(close + 1);
    if (!authority.empty() && authority.front() != ':') return bad("expected :PORT after ]");
    if (!authority.empty()) authority.remove_prefix(1);
  } else {
    auto colon = authority.rfind(':');
    host = authority.substr(0, colon);
    authority = colon == std::string_view::npos ? std::string_view() : authority.substr(colon + 1);
  }
  if (!authority.empty()) {
    int port = 0;
    auto [p, ec] = std::from_chars(authority.data(), authority.data() + authority.size(), port);
    if (ec != std::errc() || p != authority.data() + authority.size() || port <= 0 ||
        port > 65535) {
      return bad("expected a port from 1 to 65535");
    }
    a.port = port;
  }
  a.host = std::string(host);
  std::string numeric = a.host == "localhost" ? "127.0.0.1" : a.host;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.addr);
  if (inet_pton(AF_INET, numeric.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(a.port));
    a.addr_len = sizeof(sockaddr_in);
  } else if (inet_pton(AF_INET6, numeric.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(a.port));
    a.addr_len = sizeof(sockaddr_in6);
  } else {
    return bad(
        "the host must be an IP address or localhost (the function runs beside the "
        "watchdog)");
  }
  return a;
}

}  // namespace hw::config
