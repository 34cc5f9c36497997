// Constant-time comparison, wiping and random bytes.
#include "crypto/bytes.h"

#include <catch2/catch.hpp>

namespace hw::crypto {
namespace {

TEST_CASE("constant-time comparison tells equal from different byte strings") {
  const Bytes a{1, 2, 3, 4};
  CHECK(ConstantTimeEqual(a, Bytes{1, 2, 3, 4}));
  CHECK_FALSE(ConstantTimeEqual(a, Bytes{1, 2, 3, 5}));
  CHECK_FALSE(ConstantTimeEqual(a, Bytes{0, 2, 3, 4}));
  CHECK_FALSE(ConstantTimeEqual(a, Bytes{1, 2, 3}));
  CHECK_FALSE(ConstantTimeEqual(a, Bytes{}));
  CHECK(ConstantTimeEqual(Bytes{}, Bytes{}));
}

// The comparison goes eight bytes at a time, then byte by byte: every length around those
// steps, and a difference in each position (each bit), must be told apart.
TEST_CASE("constant-time comparison finds a difference at any position of any length") {
  for (std::size_t size : {1u, 7u, 8u, 9u, 15u, 16u, 17u, 20u, 32u, 33u, 64u}) {
    Bytes a(size);
    for (std::size_t i = 0; i < size; ++i) a[i] = static_cast<std::uint8_t>(i * 37 + 11);
    CHECK(ConstantTimeEqual(a, a));
    for (std::size_t at = 0; at < size; ++at) {
      for (int bit = 0; bit < 8; ++bit) {
        Bytes b = a;
        b[at] = static_cast<std::uint8_t>(b[at] ^ (1 << bit));
        INFO("size " << size << " position " << at << " bit " << bit);
        CHECK_FALSE(ConstantTimeEqual(a, b));
        CHECK_FALSE(ConstantTimeEqual(b, a));
      }
    }
    CHECK_FALSE(ConstantTimeEqual(a, Bytes(a.begin(), a.end() - 1)));
  }
}

TEST_CASE("cleanse overwrites the bytes with zeros") {
  Bytes secret{9, 8, 7, 6, 5};
  Cleanse(secret.data(), secret.size());
  CHECK(secret == Bytes(5, 0));
}

TEST_CASE("random bytes have the requested size and differ between calls") {
  const Bytes a = RandomBytes(32);
  const Bytes b = RandomBytes(32);
  CHECK(a.size() == 32);
  CHECK(a != b);
}

}  // namespace
}  // namespace hw::crypto
