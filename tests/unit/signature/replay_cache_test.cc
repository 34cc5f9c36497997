// The replay cache: repeats inside the window are refused, memory stays bounded.
#include "signature/replay_cache.h"

#include <catch2/catch.hpp>

#include <string>

namespace hw::signature {
namespace {

TEST_CASE("a repeated id inside its window is refused and accepted again after it") {
  ReplayCache cache(10);
  CHECK(cache.Insert("id-1", 1000, 2000));
  CHECK_FALSE(cache.Insert("id-1", 1500, 2500));
  CHECK(cache.Insert("id-2", 1500, 2500));
  CHECK(cache.Insert("id-1", 2000, 3000));  // the first window ended at 2000
  CHECK_FALSE(cache.Insert("id-1", 2999, 3999));
}

TEST_CASE("the replay cache stays bounded under a flood of 100k unique ids") {
  ReplayCache cache(1000);
  for (int i = 0; i < 100000; ++i) {
    REQUIRE(cache.Insert("id-" + std::to_string(i), 1000, 1'000'000));
  }
  CHECK(cache.size() == 1000);
  // The newest ids are remembered; the oldest were evicted first.
  CHECK_FALSE(cache.Insert("id-99999", 1001, 1'000'000));
  CHECK(cache.Insert("id-0", 1001, 1'000'000));
  CHECK(cache.size() == 1000);
}

TEST_CASE("expired ids leave the cache") {
  ReplayCache cache(100);
  for (int i = 0; i < 50; ++i) cache.Insert("old-" + std::to_string(i), 0, 10);
  CHECK(cache.size() == 50);
  cache.Insert("new", 10, 20);
  CHECK(cache.size() == 1);
}

}  // namespace
}  // namespace hw::signature
