// Fork modes (streaming, serializing): every byte a function writes to stdout reaches the
// client, whatever the interleaving of its reads and writes, and a response is never reported
// complete when it is not. Echo functions with different read/write patterns × body sizes ×
// both modes, with two busy-spinning processes beside the watchdog so it is preempted at
// arbitrary points; the output is compared byte for byte with the input every time.
//
// HW_STRESS_ROUNDS sets the number of rounds (default 12 in release builds, 1 under
// sanitizers); the 50 MiB bodies run in the first round only. A long run by hand:
//   HW_STRESS_ROUNDS=200 build/release/tests/integration_tests "[stress]*"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kMiB = 1024 * 1024;

int Rounds() {
  if (const char* rounds = std::getenv("HW_STRESS_ROUNDS")) return std::max(1, std::atoi(rounds));
  return kMemoryFiguresMeaningful ? 12 : 1;  // sanitizer builds are 5-20 times slower
}

// Random bytes; bodies are slices of it at varying offsets, so no two exchanges send the same.
const std::string& Pool() {
  static const std::string pool = [] {
    std::mt19937_64 random(20261206);
    std::string bytes(50 * kMiB + 4096, '\0');
    for (std::size_t i = 0; i + 8 <= bytes.size(); i += 8) {
      const std::uint64_t v = random();
      std::memcpy(bytes.data() + i, &v, 8);
    }
    return bytes;
  }();
  return pool;
}

struct EchoFunction {
  std::string name;
  std::string fprocess;
  std::size_t largest;  // body sizes above this are skipped (byte-by-byte copies are slow)
};

std::vector<EchoFunction> Functions() {
  const std::string echoer = ProgramPath("echoer");
  return {
      {"cat", "cat", SIZE_MAX},
      {"dd bs=1", "dd bs=1 status=none", 65537},
      {"echoer trickle", echoer + " trickle", SIZE_MAX},
      {"echoer burst", echoer + " burst", SIZE_MAX},
      {"echoer stderr", echoer + " stderr", SIZE_MAX},
  };
}

// Sends `body` and returns "" when the whole body came back in a response that ended
// properly, else what went wrong.
std::string EchoMismatch(int port, const std::string& mode, const std::string& body) {
  auto r = Request(port, "POST", "/", {{"Content-Type", "application/octet-stream"}}, body, 120s);
  if (r.status != 200) return "status " + std::to_string(r.status) + " " + r.error;
  if (!r.complete) return "chunked body without its last chunk";
  // Output that started before the exit is streamed (chunked); none at all is a plain 200.
  if (mode == "streaming" && !body.empty() && !r.chunked) return "not streamed";
  if (r.body.size() != body.size()) {
    return "got " + std::to_string(r.body.size()) + " of " + std::to_string(body.size()) + " bytes";
  }
  const auto diff = std::mismatch(r.body.begin(), r.body.end(), body.begin());
  if (diff.first != r.body.end()) {
    return "bytes differ from offset " + std::to_string(diff.first - r.body.begin());
  }
  return "";
}

void StressMode(const std::string& mode) {
  const int rounds = Rounds();
  const bool sanitized = !kMemoryFiguresMeaningful;
  std::vector<std::size_t> sizes = {0, 1, 65535, 65537, kMiB, 5 * kMiB};
  const std::string& pool = Pool();
  TempDir tmp;
  BusyCpu busy;
  int exchanges = 0;
  for (const auto& fn : Functions()) {
    auto w = Watchdog::Start({{"mode", mode},
                              {"fprocess", fn.fprocess},
                              {"hmac_scheme", "none"},
                              {"max_body_bytes", "60MiB"},
                              {"exec_timeout", "100s"},
                              {"read_timeout", "100s"},
                              {"write_timeout", "100s"},
                              {"TMPDIR", tmp.path()}});
    REQUIRE(w);
    for (int round = 0; round < rounds; ++round) {
      std::vector<std::size_t> this_round = sizes;
      if (round == 0 && !sanitized) this_round.push_back(50 * kMiB);
      for (std::size_t size : this_round) {
        if (size > fn.largest) continue;
        const std::size_t offset = static_cast<std::size_t>(exchanges * 4099) % 4096;
        const std::string body = pool.substr(offset, size);
        const std::string mismatch = EchoMismatch(w->port(), mode, body);
        ++exchanges;
        INFO(mode << " mode, " << fn.name << ", " << size << " bytes, round " << round);
        REQUIRE(mismatch == "");
      }
    }
    // The log never calls a response complete that was not (none was cut here).
    CHECK(w->Log().find("stream=cut") == std::string::npos);
  }
  WARN(mode << " mode: " << exchanges << " exchanges, every output byte identical");
}

}  // namespace

TEST_CASE("streaming mode returns every output byte of echo functions under CPU load", "[stress]") {
  StressMode("streaming");
}

TEST_CASE("serializing mode returns every output byte of echo functions under CPU load",
          "[stress]") {
  StressMode("serializing");
}

TEST_CASE("streaming mode keeps feeding a large spooled body after the first output") {
  // The regression of issue 11: the rest of the body was read from the request after the
  // server had released it, so cat saw end-of-input early and the stream ended "complete".
  TempDir tmp;
  auto w = Watchdog::Start({{"mode", "streaming"},
                            {"fprocess", "cat"},
                            {"hmac_scheme", "none"},
                            {"body_memory_bytes", "64KiB"},
                            {"TMPDIR", tmp.path()}});
  const std::string body = Pool().substr(0, 2 * kMiB + 1);
  for (int i = 0; i < 3; ++i) CHECK(EchoMismatch(w->port(), "streaming", body).empty());
  CHECK(w->WaitForLog("bytes=" + std::to_string(body.size())));
  CHECK(w->Log().find("stream=cut") == std::string::npos);
}
