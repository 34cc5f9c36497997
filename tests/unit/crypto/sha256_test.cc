// SHA-256 against the FIPS 180-2 examples.
#include "crypto/sha256.h"

#include <catch2/catch.hpp>

#include "crypto/encoding.h"

namespace hw::crypto {
namespace {

TEST_CASE("SHA-256 matches the FIPS 180-2 examples") {
  CHECK(EncodeHex(Sha256("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(EncodeHex(Sha256("")) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

}  // namespace
}  // namespace hw::crypto
