#include "common/body.h"

#include <algorithm>
#include <cstddef>
#include <random>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

namespace hw {
namespace {

// The whole body as the executor reads it back, through ReadAt in small pieces.
std::string ReadBack(const Body& body) {
  std::string out;
  char buf[7];
  while (true) {
    long n = body.ReadAt(out.size(), buf, sizeof buf);
    REQUIRE(n >= 0);
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string Pattern(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

TEST_CASE("body: bytes received into its room are kept in place, byte for byte") {
  const std::string sent = Pattern(256 * 1024, 1);
  Body body(1 << 20, "/tmp");
  body.Reserve(sent.size());
  const char* const start = body.Room().data();
  std::size_t at = 0;
  std::mt19937 rng(2);
  while (at < sent.size()) {
    auto room = body.Room();
    REQUIRE(room.size() == sent.size() - at);
    const std::size_t n = std::min<std::size_t>(room.size(), 1 + rng() % 40000);
    std::copy_n(sent.data() + at, n, room.data());  // as recv() writes it
    REQUIRE(body.Append(std::string_view(room.data(), n)));
    at += n;
  }
  CHECK(body.Room().empty());
  CHECK(body.in_memory());
  CHECK(body.memory().data() == start);  // never moved: nothing was copied
  CHECK(body.memory() == sent);
  CHECK(ReadBack(body) == sent);
}

TEST_CASE("body: copied and received pieces mixed, with and without a reservation") {
  const std::string sent = Pattern(100 * 1000, 3);
  for (bool reserve : {true, false}) {
    Body body(1 << 20, "/tmp");
    if (reserve) body.Reserve(sent.size());
    std::size_t at = 0;
    std::mt19937 rng(4);
    while (at < sent.size()) {
      const std::size_t n = std::min<std::size_t>(sent.size() - at, 1 + rng() % 5000);
      auto room = body.Room();
      if (rng() % 2 == 0 && room.size() >= n) {
        std::copy_n(sent.data() + at, n, room.data());
        REQUIRE(body.Append(std::string_view(room.data(), n)));
      } else {
        REQUIRE(body.Append(std::string_view(sent).substr(at, n)));
      }
      at += n;
    }
    CHECK(body.size() == sent.size());
    CHECK(body.memory() == sent);
  }
}

TEST_CASE("body: a piece from inside its own buffer is copied out before the buffer moves") {
  // Under ASan a piece read from the freed buffer is a use-after-free: these fail without the
  // copy-out in Append.
  Body body(64, "/tmp");
  body.Reserve(16);
  REQUIRE(body.Append("abcdefghijkl"));  // 12 of the 16 reserved
  // Its own first 8 bytes again: 20 > 16, so the buffer grows while the piece points into it.
  REQUIRE(body.Append(body.memory().substr(0, 8)));
  CHECK(body.memory() == "abcdefghijklabcdefgh");
  // Bytes placed in the room, but not at its start: copied, not taken as received in place.
  auto room = body.Room();
  REQUIRE(room.size() >= 12);
  std::copy_n("WXYZ", 4, room.data() + 8);
  REQUIRE(body.Append(std::string_view(room.data() + 8, 4)));
  CHECK(body.memory() == "abcdefghijklabcdefghWXYZ");
  // All of it again (48), then all of it again: past 64 bytes it spools while the piece
  // points into the buffer it leaves.
  REQUIRE(body.Append(body.memory()));
  REQUIRE(body.in_memory());
  const std::string before(body.memory());
  REQUIRE(body.Append(body.memory()));
  CHECK_FALSE(body.in_memory());
  CHECK(body.Room().empty());
  REQUIRE(body.Append("tail"));
  std::string expected = before;
  expected.append(before).append("tail");
  CHECK(ReadBack(body) == expected);
}

TEST_CASE("body: a received piece that crosses the memory limit goes to the spool file whole") {
  const std::string sent = Pattern(3000, 5);
  Body body(1024, "/tmp");
  body.Reserve(sent.size());  // over the limit: nothing reserved, no room
  CHECK(body.Room().empty());
  REQUIRE(body.Append(std::string_view(sent).substr(0, 1000)));
  auto room = body.Room();  // what is left of the memory grown for the first piece
  REQUIRE(room.size() == 24);
  std::copy_n(sent.data() + 1000, 24, room.data());
  REQUIRE(body.Append(std::string_view(room.data(), 24)));
  CHECK(body.in_memory());
  REQUIRE(body.Append(std::string_view(sent).substr(1024)));
  CHECK_FALSE(body.in_memory());
  CHECK(body.memory().empty());
  CHECK(ReadBack(body) == sent);
}

TEST_CASE("body: empty pieces and an empty body") {
  Body body(1024, "/tmp");
  REQUIRE(body.Append(""));
  CHECK(body.size() == 0);
  CHECK(body.memory().empty());
  CHECK(ReadBack(body).empty());
  body.Reserve(0);
  REQUIRE(body.Append(std::string_view()));
  CHECK(body.size() == 0);
}

}  // namespace
}  // namespace hw
