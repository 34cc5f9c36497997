// The wall clock, injectable so tests can fix "now" for timestamp windows.
#pragma once

#include <chrono>
#include <cstdint>

namespace hw {

class Clock {
 public:
  virtual ~Clock() = default;
  // Current Unix time in milliseconds.
  virtual std::int64_t NowUnixMillis() const = 0;
  std::int64_t NowUnixSeconds() const { return NowUnixMillis() / 1000; }
};

class SystemClock final : public Clock {
 public:
  std::int64_t NowUnixMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// A clock that stays where a test puts it.
class FixedClock final : public Clock {
 public:
  explicit FixedClock(std::int64_t unix_millis) : now_(unix_millis) {}
  std::int64_t NowUnixMillis() const override { return now_; }
  void Set(std::int64_t unix_millis) { now_ = unix_millis; }

 private:
  std::int64_t now_;
};

}  // namespace hw
