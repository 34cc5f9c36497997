// Byte strings as the crypto layer hands them out, and the byte operations that must not leak
// timing or leave copies behind: constant-time comparison, wiping, random bytes, and memory
// for long-lived key material that stays out of core dumps.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace hw::crypto {

using Bytes = std::vector<std::uint8_t>;

// A short byte string held in place: a decoded signature or a MAC (at most 64 bytes, the
// longest of HMAC-SHA512 and Ed25519), so reading one from a request allocates nothing.
struct ShortBytes {
  static constexpr std::size_t kCapacity = 64;
  std::array<std::uint8_t, kCapacity> bytes;  // only the first `size` are ever read
  std::size_t size = 0;

  std::span<const std::uint8_t> view() const { return {bytes.data(), size}; }
};

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

// Zeroed memory for key material that lives as long as a secret is in use: its own anonymous
// pages (mmap), marked MADV_DONTDUMP so a core dump does not contain them, and wiped then
// unmapped on destruction. One allocation costs at least one page: meant for the handful of
// secrets and pre-keyed states, not for per-request data. A zero size allocates nothing.
// Throws std::bad_alloc if the pages cannot be mapped (as new would). Move-only.
class SecureBuffer {
 public:
  SecureBuffer() = default;
  explicit SecureBuffer(std::size_t size);
  ~SecureBuffer();
  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void Release();
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t mapped_ = 0;  // whole pages
};

}  // namespace hw::crypto
