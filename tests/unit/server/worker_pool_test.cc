// WorkerPool (watchdog/server/worker_pool.h): threads made on demand, a bounded queue, idle
// threads leaving, and a shutdown that finishes what was queued.
#include "server/worker_pool.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

using hw::server::WorkerPool;
using namespace std::chrono_literals;

namespace {

// A latch the tasks wait on, so the test controls when they finish.
struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool open = false;
  void Wait() {
    std::unique_lock lock(mutex);
    cv.wait(lock, [&] { return open; });
  }
  void Open() {
    std::lock_guard lock(mutex);
    open = true;
    cv.notify_all();
  }
};

template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds limit = 5000ms) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("worker pool: runs every task, one thread per busy task up to the maximum") {
  WorkerPool pool({1, 4, 100, 10s});
  Gate gate;
  std::atomic<int> started{0}, done{0};
  for (int i = 0; i < 10; ++i) {
    REQUIRE(pool.Submit([&] {
      ++started;
      gate.Wait();
      ++done;
    }));
  }
  REQUIRE(WaitUntil([&] { return started.load() == 4; }));
  CHECK(pool.threads() == 4);  // the other six wait in the queue
  std::this_thread::sleep_for(20ms);
  CHECK(started.load() == 4);
  gate.Open();
  REQUIRE(WaitUntil([&] { return done.load() == 10; }));
}

TEST_CASE("worker pool: a full queue refuses, and a shutdown runs what was queued") {
  WorkerPool pool({1, 1, 2, 10s});
  Gate gate;
  std::atomic<int> done{0};
  REQUIRE(pool.Submit([&] {
    gate.Wait();
    ++done;
  }));
  REQUIRE(WaitUntil([&] { return pool.threads() == 1; }));
  std::this_thread::sleep_for(10ms);  // the first task leaves the queue for the thread
  CHECK(pool.Submit([&] { ++done; }));
  CHECK(pool.Submit([&] { ++done; }));
  CHECK_FALSE(pool.Submit([&] { ++done; }));  // two wait already
  gate.Open();
  pool.Shutdown();
  CHECK(done.load() == 3);
  CHECK_FALSE(pool.Submit([] {}));
}

TEST_CASE("worker pool: idle threads leave down to the minimum") {
  WorkerPool pool({1, 8, 100, 50ms});
  Gate gate;
  std::atomic<int> started{0};
  for (int i = 0; i < 6; ++i) {
    REQUIRE(pool.Submit([&] {
      ++started;
      gate.Wait();
    }));
  }
  REQUIRE(WaitUntil([&] { return started.load() == 6; }));
  CHECK(pool.threads() == 6);
  gate.Open();
  CHECK(WaitUntil([&] { return pool.threads() == 1; }));
  // And it grows again on demand.
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) REQUIRE(pool.Submit([&] { ++ran; }));
  CHECK(WaitUntil([&] { return ran.load() == 3; }));
}
