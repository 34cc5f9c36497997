#include "common/bump_arena.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory_resource>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace hw {
namespace {

bool Inside(const void* p, const std::array<std::byte, 256>& buffer) {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  const auto begin = reinterpret_cast<std::uintptr_t>(buffer.data());
  return at >= begin && at < begin + buffer.size();
}

TEST_CASE("bump arena serves from its buffer, aligned, then from the heap") {
  alignas(64) std::array<std::byte, 256> buffer{};
  BumpArena arena(buffer);
  void* a = arena.allocate(10, 1);
  CHECK(a == buffer.data());
  void* b = arena.allocate(8, 8);  // aligned up past the first 10 bytes
  CHECK(reinterpret_cast<std::uintptr_t>(b) % 8 == 0);
  CHECK(static_cast<std::byte*>(b) == buffer.data() + 16);
  void* c = arena.allocate(16, 64);
  CHECK(static_cast<std::byte*>(c) == buffer.data() + 64);
  CHECK(arena.left() == 256 - 80);
  void* d = arena.allocate(176, 1);  // exactly the rest
  CHECK(Inside(d, buffer));
  CHECK(arena.left() == 0);
  void* e = arena.allocate(1, 1);  // nothing left: the heap
  CHECK_FALSE(Inside(e, buffer));
  std::memset(e, 0x5a, 1);
  // A request larger than the buffer, or one that only fits before alignment, goes to the heap.
  BumpArena small(buffer);
  void* f = small.allocate(250, 1);
  CHECK(Inside(f, buffer));
  void* g = small.allocate(4, 16);  // 6 bytes left, but 16-alignment skips them
  CHECK_FALSE(Inside(g, buffer));
  // Heap pieces are freed on deallocate (ASan reports a leak otherwise); buffer pieces are not
  // (deallocating them must not reach the heap: ASan reports a bad free).
  for (void* p : {a, b, c, d}) arena.deallocate(p, 1, 1);
  arena.deallocate(e, 1, 1);
  small.deallocate(f, 250, 1);
  small.deallocate(g, 4, 16);
  CHECK(arena.is_equal(arena));
  CHECK_FALSE(arena.is_equal(small));
}

TEST_CASE("bump arena: a zero-byte piece is never the buffer's end") {
  alignas(64) std::array<std::byte, 256> buffer{};
  BumpArena arena(buffer);
  void* full = arena.allocate(256, 1);
  CHECK(Inside(full, buffer));
  // Nothing left: even zero bytes come from the heap, and go back there (ASan reports a bad
  // free of the buffer's end otherwise).
  void* zero = arena.allocate(0, 1);
  CHECK_FALSE(Inside(zero, buffer));
  CHECK(zero != static_cast<void*>(buffer.data() + buffer.size()));
  arena.deallocate(zero, 0, 1);
  BumpArena other(buffer);
  void* in = other.allocate(0, 16);  // room left: in the buffer, and a real byte of it
  CHECK(Inside(in, buffer));
  other.deallocate(in, 0, 16);
  arena.deallocate(full, 256, 1);
}

TEST_CASE("bump arena under a growing pmr vector keeps every element") {
  alignas(std::max_align_t) std::array<std::byte, 256> buffer{};
  BumpArena arena(buffer);
  std::pmr::vector<std::string> v(&arena);
  for (int i = 0; i < 100; ++i)
    v.push_back("element " + std::to_string(i) + " of a growing vector");
  for (int i = 0; i < 100; ++i)
    REQUIRE(v[static_cast<std::size_t>(i)] ==
            "element " + std::to_string(i) + " of a growing vector");
}

}  // namespace
}  // namespace hw
