// The memory replay store: claims, keep and release, windows that end exactly when they
// should, and a full store that refuses rather than forgets (issue 16).
#include "replay/memory_store.h"

#include <catch2/catch.hpp>

#include <string>

namespace hw::replay {
namespace {

using std::chrono::milliseconds;

TEST_CASE("a claimed delivery is in flight until kept, then a duplicate") {
  auto clock = std::make_shared<FixedClock>(1'000'000);
  MemoryStore store(10, clock);
  CHECK(store.Claim("k", "t1", milliseconds(1000)) == ClaimResult::kClaimed);
  CHECK(store.Claim("k", "t2", milliseconds(1000)) == ClaimResult::kInFlight);
  store.Keep("k", "t1", milliseconds(1000));
  CHECK(store.Claim("k", "t3", milliseconds(1000)) == ClaimResult::kDone);
}

TEST_CASE("a released delivery can be claimed again (a retry after a failure runs)") {
  auto clock = std::make_shared<FixedClock>(1'000'000);
  MemoryStore store(10, clock);
  CHECK(store.Claim("k", "t1", milliseconds(1000)) == ClaimResult::kClaimed);
  store.Release("k", "t1");
  CHECK(store.Claim("k", "t2", milliseconds(1000)) == ClaimResult::kClaimed);
}

TEST_CASE("only the owner's token keeps or releases a claim") {
  auto clock = std::make_shared<FixedClock>(1'000'000);
  MemoryStore store(10, clock);
  CHECK(store.Claim("k", "owner", milliseconds(1000)) == ClaimResult::kClaimed);
  store.Release("k", "other");
  store.Keep("k", "other", milliseconds(1000));
  CHECK(store.Claim("k", "t", milliseconds(1000)) == ClaimResult::kInFlight);
}

TEST_CASE("a kept delivery expires exactly at the end of its window") {
  auto clock = std::make_shared<FixedClock>(1'000'000);
  MemoryStore store(10, clock);
  REQUIRE(store.Claim("k", "t1", milliseconds(5000)) == ClaimResult::kClaimed);
  store.Keep("k", "t1", milliseconds(5000));
  clock->Set(1'000'000 + 4999);
  CHECK(store.Claim("k", "t2", milliseconds(5000)) == ClaimResult::kDone);
  clock->Set(1'000'000 + 5000);
  CHECK(store.Claim("k", "t3", milliseconds(5000)) == ClaimResult::kClaimed);
}

TEST_CASE("a full memory store refuses new deliveries instead of forgetting live ones") {
  // Regression (issue 16): with hmac_replay_cache=2, m1 was accepted again after m2 and m3.
  auto clock = std::make_shared<FixedClock>(1'000'000);
  MemoryStore store(2, clock);
  for (const char* k : {"m1", "m2"}) {
    REQUIRE(store.Claim(k, "t", milliseconds(1000)) == ClaimResult::kClaimed);
    store.Keep(k, "t", milliseconds(1000));
  }
  CHECK(store.Claim("m3", "t", milliseconds(1000)) == ClaimResult::kFull);
  CHECK(store.Claim("m1", "t", milliseconds(1000)) == ClaimResult::kDone);
  CHECK(store.size() == 2);
  clock->Set(1'000'000 + 1000);  // both windows end: room again
  CHECK(store.Claim("m3", "t", milliseconds(1000)) == ClaimResult::kClaimed);
  CHECK(store.size() == 1);
  CHECK(store.stats().claims[static_cast<std::size_t>(ClaimResult::kFull)] == 1);
}

TEST_CASE("entries with different windows expire in window order, not claim order") {
  auto clock = std::make_shared<FixedClock>(0);
  MemoryStore store(10, clock);
  REQUIRE(store.Claim("long", "t", milliseconds(10'000)) == ClaimResult::kClaimed);
  REQUIRE(store.Claim("short", "t", milliseconds(100)) == ClaimResult::kClaimed);
  clock->Set(100);
  CHECK(store.Claim("short", "t2", milliseconds(100)) == ClaimResult::kClaimed);
  CHECK(store.Claim("long", "t2", milliseconds(100)) == ClaimResult::kInFlight);
}

}  // namespace
}  // namespace hw::replay
