#include "crypto/sha256.h"

#include "crypto/hmac.h"

namespace hw::crypto {

Bytes Sha256(std::string_view data) { return Digest(Algorithm::kSha256, data); }

}  // namespace hw::crypto
