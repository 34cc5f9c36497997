#include "crypto/bytes.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace hw::crypto {

bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void Cleanse(void* data, std::size_t size) {
  if (data != nullptr && size > 0) OPENSSL_cleanse(data, size);
}

Bytes RandomBytes(std::size_t size) {
  Bytes bytes(size);
  if (size > 0 && RAND_bytes(bytes.data(), static_cast<int>(size)) != 1) return {};
  return bytes;
}

}  // namespace hw::crypto
