#include "crypto/sha256.h"

#include <openssl/evp.h>

namespace hw::crypto {

Bytes Sha256(std::string_view data) {
  Bytes out(32);
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != out.size()) {
    return {};
  }
  return out;
}

}  // namespace hw::crypto
