// http mode's upstream address: upstream_url parsed once, at startup, into what a connect()
// needs. Its own file so the key table and the upstream client share one parser.
#pragma once

#include <sys/socket.h>

#include <string>
#include <string_view>

#include "common/expected.h"

namespace hw::config {

struct UpstreamAddress {
  std::string host;  // as written in upstream_url
  int port = 80;
  std::string base_path;  // path of upstream_url without a trailing '/', usually ""
  sockaddr_storage addr{};
  socklen_t addr_len = 0;

  bool operator==(const UpstreamAddress& other) const;
};

// Parses http://host[:port][/base]. host must be an IP address or "localhost" (resolved
// without NSS, so the static binary works in any image). On failure the Error reads
// "invalid value for <key>: "<url>": <what was expected>".
Expected<UpstreamAddress> ParseUpstreamUrl(std::string_view key, std::string_view url);

}  // namespace hw::config
