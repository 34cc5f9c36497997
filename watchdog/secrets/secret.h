// Secret: the bytes of one shared secret, in a type that cannot be printed, logged or turned
// into a string by accident, kept in pages excluded from core dumps (MADV_DONTDUMP), and
// wiped when dropped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <span>
#include <string_view>

#include "crypto/bytes.h"

namespace hw::secrets {

class Secret {
 public:
  Secret() = default;
  // Takes a copy of `bytes`; the caller wipes its own copy if it was sensitive.
  explicit Secret(std::span<const std::uint8_t> bytes);
  explicit Secret(std::string_view bytes);
  ~Secret();

  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  Secret(const Secret&) = delete;
  Secret& operator=(const Secret&) = delete;

  // A second copy, for the rare holder that must own one (an explicit call, never implicit).
  Secret Clone() const { return Secret(Expose()); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // The raw bytes, for the crypto layer (keying a MAC, comparing a token). Never log, print
  // or copy them into an error message.
  std::span<const std::uint8_t> Expose() const { return {data_.data(), size_}; }

  // Same bytes as `other`, compared in constant time for a given length.
  bool SameBytes(const Secret& other) const;

 private:
  void Wipe();
  crypto::SecureBuffer data_;  // empty (no pages) for an empty secret
  std::size_t size_ = 0;
};

// Printing a Secret is a compile error.
std::ostream& operator<<(std::ostream&, const Secret&) = delete;

}  // namespace hw::secrets
