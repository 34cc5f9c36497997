// Strict hex and base64: exact lengths, case rules, padding rules and canonical encodings.
#include "crypto/encoding.h"

#include <catch2/catch.hpp>

namespace hw::crypto {
namespace {

TEST_CASE("hex decodes exactly the requested number of bytes") {
  CHECK(DecodeHex("00ff10", 3, HexCase::kLower) == Bytes{0x00, 0xff, 0x10});
  CHECK_FALSE(DecodeHex("00ff1", 3, HexCase::kLower).has_value());
  CHECK_FALSE(DecodeHex("00ff1000", 3, HexCase::kLower).has_value());
  CHECK_FALSE(DecodeHex("", 1, HexCase::kLower).has_value());
  CHECK(DecodeHex("", 0, HexCase::kLower) == Bytes{});
}

TEST_CASE("hex case strictness is a parameter") {
  CHECK_FALSE(DecodeHex("ABCD", 2, HexCase::kLower).has_value());
  CHECK_FALSE(DecodeHex("aBcd", 2, HexCase::kLower).has_value());
  CHECK(DecodeHex("abcd", 2, HexCase::kLower) == Bytes{0xab, 0xcd});
  CHECK(DecodeHex("ABCD", 2, HexCase::kUpper) == Bytes{0xab, 0xcd});
  CHECK_FALSE(DecodeHex("abcd", 2, HexCase::kUpper).has_value());
  CHECK(DecodeHex("aBcD", 2, HexCase::kAny) == Bytes{0xab, 0xcd});
}

TEST_CASE("hex refuses characters that are not hex digits") {
  CHECK_FALSE(DecodeHex("0g", 1, HexCase::kAny).has_value());
  CHECK_FALSE(DecodeHex(" 0", 1, HexCase::kAny).has_value());
  CHECK_FALSE(DecodeHex("0x", 1, HexCase::kAny).has_value());
  CHECK_FALSE(DecodeHex(std::string_view("0\0", 2), 1, HexCase::kAny).has_value());
  CHECK_FALSE(DecodeHex("abc", HexCase::kAny).has_value());
}

TEST_CASE("hex encoding is lower case") {
  CHECK(EncodeHex(Bytes{0xde, 0xad, 0xbe, 0xef, 0x01}) == "deadbeef01");
}

TEST_CASE("base64 decodes the RFC 4648 test vectors") {
  CHECK(DecodeBase64("") == Bytes{});
  CHECK(DecodeBase64("Zg==") == Bytes{'f'});
  CHECK(DecodeBase64("Zm8=") == Bytes{'f', 'o'});
  CHECK(DecodeBase64("Zm9v") == Bytes{'f', 'o', 'o'});
  CHECK(DecodeBase64("Zm9vYg==") == Bytes{'f', 'o', 'o', 'b'});
  CHECK(DecodeBase64("Zm9vYmE=") == Bytes{'f', 'o', 'o', 'b', 'a'});
  CHECK(DecodeBase64("Zm9vYmFy") == Bytes{'f', 'o', 'o', 'b', 'a', 'r'});
  CHECK(EncodeBase64(Bytes{'f', 'o', 'o', 'b', 'a'}) == "Zm9vYmE=");
  CHECK(EncodeBase64(Bytes{'f'}) == "Zg==");
}

TEST_CASE("base64 requires the padding and refuses it anywhere else") {
  CHECK_FALSE(DecodeBase64("Zg").has_value());
  CHECK_FALSE(DecodeBase64("Zg=").has_value());
  CHECK_FALSE(DecodeBase64("Zg===").has_value());
  CHECK_FALSE(DecodeBase64("Z===").has_value());
  CHECK_FALSE(DecodeBase64("====").has_value());
  CHECK_FALSE(DecodeBase64("Zg==Zm9v").has_value());
  CHECK_FALSE(DecodeBase64("Z=g=").has_value());
}

TEST_CASE("base64 refuses the URL alphabet, whitespace and stray bits") {
  CHECK(DecodeBase64("+/+/").has_value());
  CHECK_FALSE(DecodeBase64("-_-_").has_value());
  CHECK_FALSE(DecodeBase64("Zm9v\n").has_value());
  CHECK_FALSE(DecodeBase64("Zm 9v").has_value());
  // "Zh==" decodes to 'f' too in lenient decoders; its unused bits are not zero.
  CHECK_FALSE(DecodeBase64("Zh==").has_value());
  CHECK_FALSE(DecodeBase64("Zm9=").has_value());
}

TEST_CASE("base64 with a size accepts only that many bytes") {
  const std::string mac = EncodeBase64(Bytes(32, 0x5a));
  CHECK(DecodeBase64(mac, 32).has_value());
  CHECK_FALSE(DecodeBase64(mac, 31).has_value());
  CHECK_FALSE(DecodeBase64(mac, 33).has_value());
  CHECK_FALSE(DecodeBase64(EncodeBase64(Bytes(31, 0x5a)), 32).has_value());
}

TEST_CASE("every byte string has one base64 spelling and decodes back to itself") {
  for (std::size_t n = 0; n < 70; ++n) {
    Bytes bytes(n);
    for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<std::uint8_t>(i * 37 + n);
    const std::string text = EncodeBase64(bytes);
    CHECK(DecodeBase64(text) == bytes);
    CHECK(DecodeBase64(text, n) == bytes);
    CHECK(DecodeHex(EncodeHex(bytes), n, HexCase::kLower) == bytes);
  }
}

}  // namespace
}  // namespace hw::crypto
