// HMAC over OpenSSL 3's EVP_MAC API: a key is set up once (HmacKey) and its context is
// duplicated for every message (Hmac), which is fed in chunks as the body arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "common/expected.h"
#include "crypto/bytes.h"

struct evp_mac_ctx_st;  // OpenSSL's EVP_MAC_CTX; only hmac.cc sees its definition.

namespace hw::crypto {

enum class Algorithm { kMd5, kSha1, kSha256, kSha512 };

// "md5", "sha1", "sha256", "sha512".
std::string_view AlgorithmName(Algorithm algorithm);
// The inverse of AlgorithmName (exact, lower case); nullopt for any other text.
std::optional<Algorithm> AlgorithmFromName(std::string_view name);
// Length of the MAC in bytes: 16, 20, 32, 64.
std::size_t DigestSize(Algorithm algorithm);

struct MacContextDeleter {
  void operator()(evp_mac_ctx_st* ctx) const;
};
using MacContext = std::unique_ptr<evp_mac_ctx_st, MacContextDeleter>;

// One message being authenticated. Move-only; not thread-safe.
class Hmac {
 public:
  void Update(std::string_view data);
  void Update(std::span<const std::uint8_t> data);
  // The MAC of everything fed so far. Call once. Returns an empty vector if OpenSSL failed at
  // any step (which then never equals a decoded signature).
  Bytes Final();

 private:
  friend class HmacKey;
  Hmac(MacContext ctx, std::size_t size) : ctx_(std::move(ctx)), size_(size) {}
  MacContext ctx_;  // null after a failure
  std::size_t size_;
};

// A pre-keyed HMAC context. Immutable once created: Start() may be called from many threads.
// The key bytes live only inside OpenSSL's context (which wipes them when freed).
class HmacKey {
 public:
  // Fails if the key is empty or OpenSSL cannot set up the MAC; the message never contains
  // key material.
  static Expected<HmacKey> Create(Algorithm algorithm, std::span<const std::uint8_t> key);

  Algorithm algorithm() const { return algorithm_; }
  // A fresh message under this key (EVP_MAC_CTX_dup: no re-keying per message).
  Hmac Start() const;
  // One-shot convenience: the MAC of `message`.
  Bytes Compute(std::string_view message) const;

 private:
  HmacKey(Algorithm algorithm, MacContext ctx) : algorithm_(algorithm), ctx_(std::move(ctx)) {}
  Algorithm algorithm_;
  MacContext ctx_;
};

}  // namespace hw::crypto
