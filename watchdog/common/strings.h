// Small string helpers shared across modules (ASCII only: HTTP header names and tokens).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace hw {

// Eight bytes at a time in one 64-bit word (SWAR): what header names, header values and hex
// signatures are checked with on every request.
namespace swar {

inline constexpr std::uint64_t kOnes = 0x0101010101010101;
inline constexpr std::uint64_t kHighBits = 0x8080808080808080;

// For eight ASCII bytes (no high bit set): the high bit of each byte set where the byte lies
// in [lo, hi]. Adding a constant below 0x80 to a byte below 0x80 never carries into the next.
constexpr std::uint64_t InRange(std::uint64_t x, std::uint8_t lo, std::uint8_t hi) {
  const std::uint64_t at_least_lo = x + (0x80 - lo) * kOnes;
  const std::uint64_t above_hi = x + (0x7f - hi) * kOnes;
  return at_least_lo & ~above_hi & kHighBits;
}

// True when some byte of `w` is zero (exact as a yes/no answer; any byte values).
constexpr bool HasZeroByte(std::uint64_t w) { return ((w - kOnes) & ~w & kHighBits) != 0; }

}  // namespace swar

namespace strings_detail {

// A byte compared without regard to ASCII case.
inline char LowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

inline bool IEqualsBytes(const char* a, const char* b, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

// Eight bytes of each, as words that differ. ASCII only: a byte with its high bit set goes
// byte by byte. Otherwise each 'A'-'Z' gets 0x20 added (its lower-case letter) and the words
// are compared again: adding a constant below 0x80 to a byte below 0x80 never carries.
inline bool IEqualsWords(std::uint64_t x, std::uint64_t y, const char* a, const char* b) {
  if (((x | y) & swar::kHighBits) != 0) return IEqualsBytes(a, b, 8);
  auto lower = [](std::uint64_t w) { return w | (swar::InRange(w, 'A', 'Z') >> 2); };  // +0x20
  return lower(x) == lower(y);
}

}  // namespace strings_detail

// Case-insensitive equality of ASCII strings, as HTTP header names compare. Every request's
// headers are looked up with it: eight bytes at a time, with no call.
inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  const std::size_t n = a.size();
  if (n < 8) return strings_detail::IEqualsBytes(a.data(), b.data(), n);
  auto same_word = [&a, &b](std::size_t at) {
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    std::memcpy(&x, a.data() + at, 8);
    std::memcpy(&y, b.data() + at, 8);
    return x == y || strings_detail::IEqualsWords(x, y, a.data() + at, b.data() + at);
  };
  for (std::size_t i = 0; i + 8 < n; i += 8) {
    if (!same_word(i)) return false;
  }
  return same_word(n - 8);  // the last eight bytes (overlapping the word before)
}

// True when `s` holds a CR, an LF or a NUL: what must never reach a header sent on (it would
// split the request). Every header of every request is scanned: eight bytes at a time, where
// std::string_view::find_first_of calls memchr once per byte.
inline bool HasCrLfOrNul(std::string_view s) {
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, s.data() + i, 8);
    if (swar::HasZeroByte(w) || swar::HasZeroByte(w ^ ('\r' * swar::kOnes)) ||
        swar::HasZeroByte(w ^ ('\n' * swar::kOnes))) {
      return true;
    }
  }
  for (; i < s.size(); ++i) {
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return true;
  }
  return false;
}

// Whether `bytes` holds an HTTP head's end: an empty line, "\r\n\r\n" or a lone LF's "\n\n"
// or "\n\r\n" (so that a parser sees such a head and refuses it instead of waiting for more).
// One look after each LF ("\r\n\r\n" holds "\n\r\n"), where three searches took one memchr
// a line each.
inline bool HasHeadEnd(std::string_view bytes) {
  for (std::size_t at = bytes.find('\n'); at != std::string_view::npos;
       at = bytes.find('\n', at + 1)) {
    const std::string_view rest = bytes.substr(at + 1);
    if (rest.starts_with('\n') || rest.starts_with("\r\n")) return true;
  }
  return false;
}

// `s` without the leading and trailing characters found in `chars`: by default ASCII white
// space (as isspace in the C locale); " \t" for HTTP's optional white space.
inline std::string_view Trim(std::string_view s, std::string_view chars = " \t\n\v\f\r") {
  const std::size_t first = s.find_first_not_of(chars);
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(chars) - first + 1);
}

// The value of one hex digit of either case ('7' -> 7, 'b' and 'B' -> 11); -1 for any other
// character.
constexpr int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace hw
