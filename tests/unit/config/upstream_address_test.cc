// upstream_url parsed once into what http mode's connect() needs (config/upstream_address.h):
// an IP address or localhost, http only, a port from 1 to 65535, the base path without its
// trailing '/'; anything else is an error naming the variable as written.
#include "config/upstream_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <string>

namespace hw::config {
namespace {

TEST_CASE("upstream_url: localhost, IPv4 and IPv6 give the address connect() uses") {
  auto local = ParseUpstreamUrl("upstream_url", "http://localhost:5000/base/");
  REQUIRE(local.ok());
  CHECK(local->host == "localhost");
  CHECK(local->port == 5000);
  CHECK(local->base_path == "/base");
  REQUIRE(local->addr_len == sizeof(sockaddr_in));
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&local->addr);
  CHECK(v4->sin_family == AF_INET);
  CHECK(ntohs(v4->sin_port) == 5000);
  CHECK(ntohl(v4->sin_addr.s_addr) == INADDR_LOOPBACK);

  auto v6 = ParseUpstreamUrl("upstream_url", "http://[::1]:8080");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->base_path.empty());
  REQUIRE(v6->addr_len == sizeof(sockaddr_in6));
  CHECK(reinterpret_cast<const sockaddr_in6*>(&v6->addr)->sin6_family == AF_INET6);

  auto no_port = ParseUpstreamUrl("upstream_url", "http://127.0.0.1");
  REQUIRE(no_port.ok());
  CHECK(no_port->port == 80);
  CHECK(*no_port == *ParseUpstreamUrl("upstream_url", "http://127.0.0.1:80/"));
}

TEST_CASE("upstream_url: anything but http://IP-or-localhost:PORT is refused, naming the key") {
  for (const char* bad : {"", "127.0.0.1:5000", "https://127.0.0.1:5000", "ftp://127.0.0.1/",
                          "HTTP://127.0.0.1", "http://", "http://:5000", "http://example.com:5000",
                          "http://fn:8080", "http://127.0.0.1:0", "http://127.0.0.1:99999",
                          "http://127.0.0.1:-1", "http://127.0.0.1:80x", "http://[::1",
                          "http://[::1]x", "http://256.0.0.1:80", "http://127.0.0.1 :80"}) {
    INFO(bad);
    auto parsed = ParseUpstreamUrl("http_upstream_url", bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error().message, Catch::StartsWith("invalid value for http_upstream_url: \"" +
                                                         std::string(bad) + "\": "));
  }
}

}  // namespace
}  // namespace hw::config
