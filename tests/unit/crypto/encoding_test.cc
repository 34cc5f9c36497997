// Strict hex and base64: exact lengths, case rules, padding rules and canonical encodings.
#include "crypto/encoding.h"

#include <catch2/catch.hpp>

#include <optional>
#include <random>
#include <string>
#include <utility>

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

// DecodeHexInto reads sixteen digits at a time (SSE2), then eight (one 64-bit word), then one:
// over random texts mixing every kind of byte (hex
// digits of both cases, their neighbours '/', ':', '@', 'G', '`', 'g', and bytes above 0x7f),
// at every length and offset, it must accept and decode exactly what a digit-by-digit decoder
// does.
TEST_CASE("hex decoding many digits at a time agrees with one digit at a time") {
  auto reference = [](std::string_view text, HexCase hex_case) -> std::optional<Bytes> {
    if (text.size() % 2 != 0) return std::nullopt;
    auto digit = [hex_case](char c) -> int {
      if (c >= '0' && c <= '9') return c - '0';
      if (c >= 'a' && c <= 'f' && hex_case != HexCase::kUpper) return c - 'a' + 10;
      if (c >= 'A' && c <= 'F' && hex_case != HexCase::kLower) return c - 'A' + 10;
      return -1;
    };
    Bytes out;
    for (std::size_t i = 0; i < text.size(); i += 2) {
      const int high = digit(text[i]);
      const int low = digit(text[i + 1]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<std::uint8_t>(high << 4 | low));
    }
    return out;
  };
  std::mt19937 rng(20261207);
  const std::string near = "0123456789abcdefABCDEF/:@G`g";
  std::size_t accepted = 0;
  for (int round = 0; round < 20000; ++round) {
    const std::size_t bytes = rng() % 70;
    std::string text(2 * bytes, '0');
    const unsigned mode = rng() % 4;
    for (char& c : text) {
      const unsigned pick = rng() % 1000;
      if (mode == 0 || pick < 990) {
        c = "0123456789abcdef0123456789ABCDEF"[rng() % (mode == 1 ? 32 : 16) +
                                               (mode == 2 ? 16 : 0)];
      } else if (pick < 996) {
        c = near[rng() % near.size()];
      } else {
        c = static_cast<char>(rng() & 0xff);
      }
    }
    for (HexCase hex_case : {HexCase::kLower, HexCase::kUpper, HexCase::kAny}) {
      Bytes out(bytes);
      const bool ok = DecodeHexInto(text, out, hex_case);
      const std::optional<Bytes> expected = reference(text, hex_case);
      INFO("text " << text << " case " << static_cast<int>(hex_case));
      REQUIRE(ok == expected.has_value());
      if (ok) {
        REQUIRE(out == *expected);
        ++accepted;
      }
    }
  }
  CHECK(accepted > 10000);  // the property was exercised on valid texts, not only refusals
  // Every single byte value in every position of a 26-digit text (a 16-digit block, an
  // 8-digit word, then one digit pair: every way of reading is reached), from a text valid in
  // each case, so a wrong value and a wrong refusal show as well as a wrong acceptance.
  const std::pair<HexCase, std::string> bases[] = {
      {HexCase::kLower, "0123456789abcdef9876543210fa"},
      {HexCase::kUpper, "0123456789ABCDEF9876543210FA"},
      {HexCase::kAny, "0123456789abcDEF98765aBcD0fA"}};
  std::size_t decoded = 0;
  for (const auto& [hex_case, base] : bases) {
    const std::string valid = base.substr(0, 26);
    for (std::size_t at = 0; at < valid.size(); ++at) {
      for (int c = 0; c < 256; ++c) {
        std::string text = valid;
        text[at] = static_cast<char>(c);
        Bytes out(13);
        const bool ok = DecodeHexInto(text, out, hex_case);
        const std::optional<Bytes> expected = reference(text, hex_case);
        INFO("byte " << c << " at " << at << " case " << static_cast<int>(hex_case));
        REQUIRE(ok == expected.has_value());
        if (ok) {
          REQUIRE(out == *expected);
          ++decoded;
        }
      }
    }
  }
  CHECK(decoded > 3 * 26 * 15);  // at least the 16 digits of the case at every position
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
