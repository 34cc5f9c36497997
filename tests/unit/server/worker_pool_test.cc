// WorkerPool (watchdog/server/worker_pool.h): threads made on demand, a bounded queue, idle
// threads leaving, and a shutdown that finishes what was queued.
#include "server/worker_pool.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "support/eventually.h"

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

using hw::test::Eventually;

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
  REQUIRE(Eventually([&] { return started.load() == 4; }));
  CHECK(pool.threads() == 4);         // the other six wait in the queue
  std::this_thread::sleep_for(20ms);  // time passes: no fifth task may start meanwhile
  CHECK(started.load() == 4);
  gate.Open();
  REQUIRE(Eventually([&] { return done.load() == 10; }));
}

TEST_CASE("worker pool: a full queue refuses, and a shutdown runs what was queued") {
  WorkerPool pool({1, 1, 2, 10s});
  Gate gate;
  std::atomic<int> done{0};
  std::atomic<bool> first_running{false};
  REQUIRE(pool.Submit([&] {
    first_running = true;
    gate.Wait();
    ++done;
  }));
  // The first task left the queue for the thread.
  REQUIRE(Eventually([&] { return first_running.load() && pool.threads() == 1; }));
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
  REQUIRE(Eventually([&] { return started.load() == 6; }));
  CHECK(pool.threads() == 6);
  gate.Open();
  CHECK(Eventually([&] { return pool.threads() == 1; }));
  // And it grows again on demand.
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) REQUIRE(pool.Submit([&] { ++ran; }));
  CHECK(Eventually([&] { return ran.load() == 3; }));
}
