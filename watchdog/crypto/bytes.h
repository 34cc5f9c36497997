// Byte strings as the crypto layer hands them out, and the byte operations that must not leak
// timing or leave copies behind: constant-time comparison, wiping, random bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace hw::crypto {

using Bytes = std::vector<std::uint8_t>;

inline std::span<const std::uint8_t> AsBytes(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}
inline std::string_view AsText(std::span<const std::uint8_t> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// True when both spans hold the same bytes. The time taken depends only on the lengths (which
// are public: they are fixed by the algorithm), never on where the first difference is.
bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// Overwrites `size` bytes at `data` with zeros in a way the compiler cannot optimise away.
void Cleanse(void* data, std::size_t size);

// `size` bytes from OpenSSL's CSPRNG. Returns an empty vector only if the generator fails.
Bytes RandomBytes(std::size_t size);

}  // namespace hw::crypto
