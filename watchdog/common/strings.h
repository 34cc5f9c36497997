// Small string helpers shared across modules (ASCII only: HTTP header names and tokens).
#pragma once

#include <string_view>

namespace hw {

// Case-insensitive equality of ASCII strings, as HTTP header names compare.
inline bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x + 32);
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y + 32);
    if (x != y) return false;
  }
  return true;
}

}  // namespace hw
