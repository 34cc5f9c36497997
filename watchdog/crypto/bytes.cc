#include "crypto/bytes.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace hw::crypto {

bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void Cleanse(void* data, std::size_t size) {
  // glibc's explicit_bzero: a full-speed memset the compiler may not drop (OPENSSL_cleanse
  // does the same through a volatile pointer, several times slower on the per-request path).
  if (data != nullptr && size > 0) ::explicit_bzero(data, size);
}

Bytes RandomBytes(std::size_t size) {
  Bytes bytes(size);
  if (size > 0 && RAND_bytes(bytes.data(), static_cast<int>(size)) != 1) return {};
  return bytes;
}

}  // namespace hw::crypto
