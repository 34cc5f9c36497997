#include "secrets/secret.h"

#include <algorithm>

#include "crypto/bytes.h"

namespace hw::secrets {

Secret::Secret(std::span<const std::uint8_t> bytes) : data_(bytes.size()), size_(bytes.size()) {
  std::copy(bytes.begin(), bytes.end(), data_.data());
}

Secret::Secret(std::string_view bytes) : Secret(crypto::AsBytes(bytes)) {}

Secret::~Secret() { Wipe(); }

Secret::Secret(Secret&& other) noexcept : data_(std::move(other.data_)), size_(other.size_) {
  other.size_ = 0;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    size_ = other.size_;
    other.size_ = 0;
  }
  return *this;
}

bool Secret::SameBytes(const Secret& other) const {
  return crypto::ConstantTimeEqual(Expose(), other.Expose());
}

void Secret::Wipe() {
  data_ = crypto::SecureBuffer();  // the old pages are wiped and unmapped
  size_ = 0;
}

}  // namespace hw::secrets
