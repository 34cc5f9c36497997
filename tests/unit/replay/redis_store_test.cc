// The Redis store's URL forms (the store itself is tested against a real redis-server in
// tests/integration/replay_test.cc).
#include "replay/redis_store.h"

#include <catch2/catch.hpp>

namespace hw::replay {
namespace {

TEST_CASE("redis store URLs: tcp with port and db, tcp defaults, unix socket with db") {
  auto a = ParseRedisUrl("redis://127.0.0.1:6390/3");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 6390);
  CHECK(a->db == 3);
  auto b = ParseRedisUrl("redis://redis");
  REQUIRE(b);
  CHECK(b->host == "redis");
  CHECK(b->port == 6379);
  CHECK(b->db == 0);
  auto c = ParseRedisUrl("redis+unix:///run/redis/redis.sock?db=2");
  REQUIRE(c);
  CHECK(c->socket_path == "/run/redis/redis.sock");
  CHECK(c->db == 2);
}

TEST_CASE("bad redis store URLs are errors naming hmac_replay_store") {
  for (const char* url : {"rediss://x", "redis://:6379", "redis://h:0", "redis://h:99999",
                          "redis://h:1/16", "redis://user:pw@h", "redis+unix://rel.sock",
                          "redis+unix:///s.sock?database=1", "memcached://x"}) {
    auto e = ParseRedisUrl(url);
    INFO(url);
    REQUIRE_FALSE(e);
    CHECK(e.error().message.find("hmac_replay_store") != std::string::npos);
  }
}

TEST_CASE("an unreachable redis store answers unavailable within its timeout, then backs off") {
  RedisEndpoint e;
  e.host = "127.0.0.1";
  e.port = 1;  // nothing listens there
  e.display = "redis://127.0.0.1:1";
  RedisStore store(e, "", std::chrono::milliseconds(200), 2, std::make_shared<SystemClock>());
  const auto start = std::chrono::steady_clock::now();
  CHECK(store.Claim("k", "t", std::chrono::milliseconds(1000)) == ClaimResult::kUnavailable);
  CHECK(store.Claim("k", "t", std::chrono::milliseconds(1000)) == ClaimResult::kUnavailable);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1000));
  CHECK(store.stats().errors >= 1);
}

}  // namespace
}  // namespace hw::replay
