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
