// The request target as every decision sees it: the path decoded exactly once, the query kept
// raw, and the spellings an attacker uses to smuggle a different path refused or decoded to
// what the function will see.
#include "server/request_target.h"

#include <catch2/catch.hpp>
#include <string>

namespace hw::server {
namespace {

std::string PathOf(std::string_view target) {
  auto parsed = ParseRequestTarget(target);
  INFO(std::string(target) << ": " << (parsed.ok() ? "" : parsed.error().message));
  REQUIRE(parsed.ok());
  return parsed->path;
}

TEST_CASE("request target: the path is decoded once and the query kept as sent") {
  auto parsed = ParseRequestTarget("/a%20b/c?x=%20&y=/..");
  REQUIRE(parsed.ok());
  CHECK(parsed->path == "/a b/c");
  CHECK(parsed->query == "x=%20&y=/..");
  CHECK(PathOf("/") == "/");
  CHECK(PathOf("/hook?") == "/hook");
  // Decoded once: "%252e" is "%2e" for the function, never ".".
  CHECK(PathOf("/%252e%252e/x") == "/%2e%2e/x");
  // ".." segments are not resolved here: static mode refuses them, the function sees them.
  CHECK(PathOf("/%2e%2e/secret") == "/../secret");
  CHECK(PathOf("/a%2Fb") == "/a/b");
}

TEST_CASE("request target: absolute form keeps only the path and query") {
  auto parsed = ParseRequestTarget("http://evil.example/admin?x=1");
  REQUIRE(parsed.ok());
  CHECK(parsed->path == "/admin");
  CHECK(parsed->query == "x=1");
  CHECK(PathOf("HTTPS://h") == "/");
}

TEST_CASE("request target: malformed targets are refused with a message for the 400") {
  for (const char* bad :
       {"", "*", "hook", "http://h?x=1", "/%", "/%2", "/%zz", "/%u002e", "/a%00b", "/%0"}) {
    INFO(bad);
    auto parsed = ParseRequestTarget(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK_THAT(parsed.error().message, Catch::StartsWith("Bad Request"));
  }
}

}  // namespace
}  // namespace hw::server
