// SHA-256 of a byte string (unkeyed), for schemes that compare a digest rather than a MAC.
#pragma once

#include <string_view>

#include "crypto/bytes.h"

namespace hw::crypto {

// The 32-byte SHA-256 digest of `data`. Never fails: it runs OpenSSL's low-level digest
// functions, which cannot.
Bytes Sha256(std::string_view data);

}  // namespace hw::crypto
