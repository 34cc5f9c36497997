// The VmFlags of the mapping that holds an address, from /proc/self/smaps: how the tests see
// that key material sits in pages excluded from core dumps ("dd" = MADV_DONTDUMP).
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace hw::test {

// The flags of the VMA containing `address` (e.g. "rd wr mr mw me dd ac sd"), or "" if no
// mapping holds it.
inline std::string VmFlagsOf(const void* address) {
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t start = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> start >> dash >> end && dash == '-' &&
        line.find(' ') > line.find('-')) {
      inside = target >= start && target < end;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line.substr(8) + " ";
  }
  return "";
}

}  // namespace hw::test
