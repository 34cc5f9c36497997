#include "signature/scheme.h"

namespace hw::signature {

const crypto::HmacKey* PreparedKey::Mac(crypto::Algorithm algorithm) const {
  for (const crypto::HmacKey& key : macs) {
    if (key.algorithm() == algorithm) return &key;
  }
  return nullptr;
}

}  // namespace hw::signature
