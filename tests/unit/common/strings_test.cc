#include "common/strings.h"

#include <random>
#include <string>

#include <catch2/catch.hpp>

namespace hw {
namespace {

bool ReferenceIEquals(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; };
    if (lower(static_cast<unsigned char>(a[i])) != lower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

TEST_CASE("header names compare without regard to ASCII case, and only that") {
  CHECK(IEquals("X-Hub-Signature-256", "x-hub-signature-256"));
  CHECK(IEquals("", ""));
  CHECK_FALSE(IEquals("X-Hub-Signature-256", "X-Hub-Signature-25"));
  // Bytes 0x20 apart that are not letters must differ: '@'/'`', '['/'{', '^'/'~', 0xc1/0xe1.
  CHECK_FALSE(IEquals("abcdefg@", "abcdefg`"));
  CHECK_FALSE(IEquals("abcdefg[", "abcdefg{"));
  CHECK_FALSE(IEquals("^bcdefgh", "~bcdefgh"));
  CHECK_FALSE(IEquals("abcdefg\xc1", "abcdefg\xe1"));
  CHECK(IEquals("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"));

  // Random pairs at every length: equal, equal but for case, and one byte changed (to any
  // value, or by the 0x20 bit alone), against a byte-by-byte reference.
  std::mt19937 rng(20261207);
  const std::string letters = "AZaz@[`{^~-_09Xx";
  int equal = 0;
  for (int round = 0; round < 50000; ++round) {
    const std::size_t n = rng() % 41;
    std::string a(n, 'a');
    for (char& c : a) {
      c = rng() % 8 == 0 ? static_cast<char>(rng() & 0xff) : letters[rng() % letters.size()];
    }
    std::string b = a;
    for (char& c : b) {
      if (c >= 'a' && c <= 'z' && rng() % 2) c = static_cast<char>(c - 32);
      if (c >= 'A' && c <= 'Z' && rng() % 2) c = static_cast<char>(c + 32);
    }
    if (n > 0 && rng() % 2) {
      char& c = b[rng() % n];
      c = rng() % 2 ? static_cast<char>(c ^ 0x20) : static_cast<char>(rng() & 0xff);
    }
    INFO("a=" << a << " b=" << b);
    REQUIRE(IEquals(a, b) == ReferenceIEquals(a, b));
    REQUIRE(IEquals(b, a) == ReferenceIEquals(a, b));
    equal += ReferenceIEquals(a, b) ? 1 : 0;
  }
  CHECK(equal > 10000);  // both answers were exercised
  CHECK(equal < 45000);
}

TEST_CASE("a CR, LF or NUL anywhere in a header is found, and nothing else is") {
  CHECK_FALSE(HasCrLfOrNul(""));
  CHECK_FALSE(HasCrLfOrNul("sha256=0123456789abcdef0123456789abcdef"));
  CHECK(HasCrLfOrNul(std::string_view("\0", 1)));
  // Every byte value at every position of texts from 1 to 40 bytes, against a plain scan.
  for (std::size_t n = 1; n <= 40; ++n) {
    for (std::size_t at = 0; at < n; ++at) {
      for (int c = 0; c < 256; ++c) {
        std::string text(n, 'a');
        for (std::size_t i = 0; i < n; ++i) text[i] = static_cast<char>('!' + (i * 7) % 90);
        text[at] = static_cast<char>(c);
        const bool expected = c == '\r' || c == '\n' || c == 0;
        INFO("byte " << c << " at " << at << " of " << n);
        REQUIRE(HasCrLfOrNul(text) == expected);
      }
    }
  }
  // Bytes that differ from CR, LF or NUL by one bit, or sit next to them, are not found.
  CHECK_FALSE(HasCrLfOrNul("\x0c\x0e\x0b\x09\x01\x8d\x8a\x80\xff\x0c\x0e\x0b"));
}

TEST_CASE(
    "a head's end is found where an empty line is, with CR LF or lone LFs, and nowhere else") {
  CHECK(HasHeadEnd("POST /x HTTP/1.1\r\nHost: a\r\n\r\n"));
  CHECK(HasHeadEnd("GET / HTTP/1.1\n\n"));
  CHECK(HasHeadEnd("GET / HTTP/1.1\nHost: a\n\r\nbody"));
  CHECK_FALSE(HasHeadEnd("POST /x HTTP/1.1\r\nHost: a\r\n"));
  CHECK_FALSE(HasHeadEnd("POST /x HTTP/1.1\r\nHost: a\r\n\r"));
  CHECK_FALSE(HasHeadEnd("a\r\r\nb\r\r\n\r"));
  // Random texts of CR, LF and one other byte, against the three searches it replaces.
  std::mt19937 rng(20261207);
  const char alphabet[] = {'\r', '\n', 'a'};
  for (int round = 0; round < 20000; ++round) {
    std::string text(rng() % 12, 'a');
    for (char& c : text) c = alphabet[rng() % 3];
    const bool expected = text.find("\r\n\r\n") != std::string::npos ||
                          text.find("\n\n") != std::string::npos ||
                          text.find("\n\r\n") != std::string::npos;
    INFO("round " << round);
    REQUIRE(HasHeadEnd(text) == expected);
  }
}

}  // namespace
}  // namespace hw
