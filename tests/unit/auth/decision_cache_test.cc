#include "auth/decision_cache.h"

#include <catch2/catch.hpp>

using hw::auth::DecisionCache;
using namespace std::chrono_literals;

namespace {
std::vector<std::string> kDefault{"Authorization", "Cookie"};
}

TEST_CASE("a remembered admission holds for the TTL and not a millisecond longer", "[auth]") {
  DecisionCache cache(1500ms, 10, kDefault);
  auto key = cache.KeyOf({{"Authorization", "Bearer a"}});
  REQUIRE(key);
  CHECK_FALSE(cache.Admitted(*key, 1000));
  cache.Remember(*key, 1000);
  CHECK(cache.Admitted(*key, 1000));
  CHECK(cache.Admitted(*key, 2499));
  CHECK_FALSE(cache.Admitted(*key, 2500));
  // Remembered again later: a new TTL from then.
  cache.Remember(*key, 3000);
  CHECK(cache.Admitted(*key, 4499));
  CHECK(cache.size() == 1);
}

TEST_CASE("the cache key covers every value of the credential headers, and nothing else",
          "[auth]") {
  DecisionCache cache(1s, 10, kDefault);
  using H = std::vector<hw::executor::Header>;
  CHECK_FALSE(cache.KeyOf(H{}));
  CHECK_FALSE(cache.KeyOf(H{{"X-Api-Key", "k"}}));  // none of the key headers: never cached
  auto a = cache.KeyOf(H{{"Authorization", "Bearer a"}});
  REQUIRE(a);
  CHECK(*cache.KeyOf(H{{"authorization", "Bearer a"}, {"X-Other", "x"}}) == *a);
  CHECK(*cache.KeyOf(H{{"Authorization", "Bearer b"}}) != *a);
  CHECK(*cache.KeyOf(H{{"Authorization", "Bearer a"}, {"Cookie", "s=1"}}) != *a);
  CHECK(*cache.KeyOf(H{{"Cookie", "Bearer a"}}) != *a);  // the header name counts
  CHECK(*cache.KeyOf(H{{"Authorization", "Bearer a"}, {"Authorization", "Bearer b"}}) != *a);
  // Values cannot run into each other ("ab" + "c" vs "a" + "bc").
  CHECK(*cache.KeyOf(H{{"Authorization", "ab"}, {"Authorization", "c"}}) !=
        *cache.KeyOf(H{{"Authorization", "a"}, {"Authorization", "bc"}}));
  DecisionCache api(1s, 10, {"X-Api-Key"});
  CHECK(api.KeyOf(H{{"X-Api-Key", "k"}}));
  CHECK_FALSE(api.KeyOf(H{{"Authorization", "Bearer a"}}));
}

TEST_CASE("the cache holds at most its capacity, the oldest admission going first", "[auth]") {
  DecisionCache cache(10s, 3, kDefault);
  std::vector<DecisionCache::Key> keys;
  for (int i = 0; i < 5; ++i) {
    keys.push_back(*cache.KeyOf({{"Authorization", "Bearer " + std::to_string(i)}}));
    cache.Remember(keys.back(), 1000 + i);
    CHECK(cache.size() <= 3);
  }
  CHECK_FALSE(cache.Admitted(keys[0], 1010));
  CHECK_FALSE(cache.Admitted(keys[1], 1010));
  CHECK(cache.Admitted(keys[2], 1010));
  CHECK(cache.Admitted(keys[4], 1010));
  // One key remembered over and over never pushes the others out, and stays bounded.
  for (int i = 0; i < 1000; ++i) cache.Remember(keys[4], 1010 + i);
  CHECK(cache.size() <= 3);
  CHECK(cache.Admitted(keys[4], 2000));
  // Expired entries leave on the next admission.
  cache.Remember(keys[0], 100'000);
  CHECK(cache.size() == 1);
}
