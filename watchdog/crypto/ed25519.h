// Ed25519 signatures (RFC 8032) for schemes that sign with a key pair instead of an HMAC
// (Discord): verification with a public key, and signing from a private seed for tests and
// the sign command.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "common/expected.h"
#include "crypto/bytes.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY; only ed25519.cc sees its definition.

namespace hw::crypto {

constexpr std::size_t kEd25519KeySize = 32;
constexpr std::size_t kEd25519SignatureSize = 64;

struct PkeyDeleter {
  void operator()(evp_pkey_st* key) const;
};

// An Ed25519 public key. Immutable; Verify may be called from many threads.
class Ed25519PublicKey {
 public:
  // Fails unless `raw` is 32 bytes OpenSSL accepts as a public key.
  static Expected<Ed25519PublicKey> Create(std::span<const std::uint8_t> raw);
  // True when `signature` (64 bytes) is a valid signature of `message` under this key.
  bool Verify(std::span<const std::uint8_t> message, std::span<const std::uint8_t> signature) const;

 private:
  explicit Ed25519PublicKey(std::unique_ptr<evp_pkey_st, PkeyDeleter> key) : key_(std::move(key)) {}
  std::unique_ptr<evp_pkey_st, PkeyDeleter> key_;
};

// The 64-byte signature of `message` under the 32-byte private seed; Error if the seed is not
// 32 bytes or OpenSSL fails.
Expected<Bytes> Ed25519Sign(std::span<const std::uint8_t> seed,
                            std::span<const std::uint8_t> message);
// The 32-byte public key belonging to a private seed.
Expected<Bytes> Ed25519PublicKeyOf(std::span<const std::uint8_t> seed);

}  // namespace hw::crypto
