#include "auth/credentials.h"

#include <catch2/catch.hpp>

using hw::auth::ParseBasic;
using hw::auth::ParseBearer;

TEST_CASE("Basic credentials are decoded; malformed ones are not", "[auth]") {
  auto c = ParseBasic("Basic YWRtaW46cyNjcjN0OnBhc3M=");  // admin:s#cr3t:pass
  REQUIRE(c);
  CHECK(c->user == "admin");
  CHECK(c->password == "s#cr3t:pass");
  CHECK(ParseBasic("basic   YWRtaW46eA==")->user == "admin");
  CHECK(!ParseBasic("Basic"));
  CHECK(!ParseBasic("Basic "));
  CHECK(!ParseBasic("Basic YWRtaW4="));  // no ':'
  CHECK(!ParseBasic("Basic !!!!"));
  CHECK(!ParseBasic("Bearer YWRtaW46eA=="));
  CHECK(!ParseBasic("BasicYWRtaW46eA=="));
}

TEST_CASE("Bearer tokens are token68 only", "[auth]") {
  CHECK(ParseBearer("Bearer abc.def-_~+/=") == std::optional<std::string_view>("abc.def-_~+/="));
  CHECK(ParseBearer("bearer x") == std::optional<std::string_view>("x"));
  CHECK(!ParseBearer("Bearer"));
  CHECK(!ParseBearer("Bearer a b"));
  CHECK(!ParseBearer("Bearer a\"b"));
  CHECK(!ParseBearer("Basic abc"));
}
