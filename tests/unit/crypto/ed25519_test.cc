// Ed25519 against RFC 8032 section 7.1 (tests 1 and 2).
#include "crypto/ed25519.h"

#include <catch2/catch.hpp>

#include "crypto/encoding.h"

namespace hw::crypto {
namespace {

Bytes Hex(std::string_view text) { return *DecodeHex(text, HexCase::kLower); }

struct Rfc8032 {
  std::string seed, public_key, message, signature;
};

const Rfc8032 kTests[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
     "1cf9b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613"
     "d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"},
};

TEST_CASE("Ed25519 signs and verifies the RFC 8032 test vectors") {
  for (const Rfc8032& t : kTests) {
    const Bytes message = Hex(t.message);
    CHECK(EncodeHex(*Ed25519PublicKeyOf(Hex(t.seed))) == t.public_key);
    CHECK(EncodeHex(*Ed25519Sign(Hex(t.seed), message)) == t.signature);
    Expected<Ed25519PublicKey> key = Ed25519PublicKey::Create(Hex(t.public_key));
    REQUIRE(key.ok());
    CHECK(key->Verify(message, Hex(t.signature)));
  }
}

TEST_CASE("Ed25519 rejects a changed message, a changed signature and a wrong length") {
  Expected<Ed25519PublicKey> key = Ed25519PublicKey::Create(Hex(kTests[1].public_key));
  REQUIRE(key.ok());
  Bytes signature = Hex(kTests[1].signature);
  CHECK_FALSE(key->Verify(Bytes{0x73}, signature));
  signature[10] ^= 1;
  CHECK_FALSE(key->Verify(Bytes{0x72}, signature));
  CHECK_FALSE(key->Verify(Bytes{0x72}, Bytes(63, 0)));
  CHECK_FALSE(Ed25519PublicKey::Create(Bytes(31, 1)).ok());
  CHECK_FALSE(Ed25519Sign(Bytes(31, 1), Bytes{}).ok());
}

}  // namespace
}  // namespace hw::crypto
