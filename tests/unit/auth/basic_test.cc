#include "auth/basic.h"

#include <catch2/catch.hpp>

#include <memory>

using hw::FixedClock;
using hw::auth::FailureLimiter;

TEST_CASE("failed attempts are limited per client address, for one minute", "[auth]") {
  auto clock = std::make_shared<FixedClock>(1'000'000'000'000);
  FailureLimiter limiter(3, clock);
  for (int i = 0; i < 3; ++i) {
    CHECK(limiter.RetryAfter("10.0.0.1") == 0);
    limiter.Failed("10.0.0.1");
  }
  CHECK(limiter.RetryAfter("10.0.0.1") == 60);
  CHECK(limiter.RetryAfter("10.0.0.2") == 0);  // other clients are not blocked
  clock->Set(1'000'000'000'000 + 59'000);
  CHECK(limiter.RetryAfter("10.0.0.1") == 1);
  clock->Set(1'000'000'000'000 + 60'000);
  CHECK(limiter.RetryAfter("10.0.0.1") == 0);
}

TEST_CASE("a limit of 0 never limits", "[auth]") {
  FailureLimiter limiter(0, std::make_shared<FixedClock>(0));
  for (int i = 0; i < 100; ++i) limiter.Failed("a");
  CHECK(limiter.RetryAfter("a") == 0);
}
