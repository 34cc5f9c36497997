// Small string helpers shared across modules (ASCII only: HTTP header names and tokens).
#pragma once

#include <string_view>

namespace hw {

// Case-insensitive equality of ASCII strings, as HTTP header names compare.
inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a == b) return true;  // the usual case: a sender spells a header as it is configured
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
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
