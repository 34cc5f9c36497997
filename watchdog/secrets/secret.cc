#include "secrets/secret.h"

#include <algorithm>

#include "crypto/bytes.h"

namespace hw::secrets {

Secret::Secret(std::span<const std::uint8_t> bytes)
    : data_(std::make_unique<std::uint8_t[]>(bytes.size() + 1)), size_(bytes.size()) {
  std::copy(bytes.begin(), bytes.end(), data_.get());
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
  if (data_) crypto::Cleanse(data_.get(), size_);
  data_.reset();
  size_ = 0;
}

}  // namespace hw::secrets
