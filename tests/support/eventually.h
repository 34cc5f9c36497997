// Waiting on a condition instead of sleeping a fixed time: Eventually polls until the
// condition holds, so a test is as fast as the code under test and never flaky on a slow
// machine (the timeout is a failure bound, not a duration the test relies on).
#pragma once

#include <chrono>
#include <thread>

namespace hw::test {

// Polls `fn` until it returns true or the deadline passes; returns its last answer.
template <typename F>
bool Eventually(F fn, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (fn()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return fn();
}

}  // namespace hw::test
