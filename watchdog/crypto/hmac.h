// HMAC over OpenSSL's digest functions: a key is set up once (HmacKey) and its pre-keyed
// states are copied for every message (Hmac), which is fed in chunks as the body arrives.
// OpenSSL's EVP layer is not used: it costs a provider load and a configuration file read at
// startup (about 3 ms and 1 MiB), and a context allocation per message.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "common/expected.h"
#include "crypto/bytes.h"

namespace hw::crypto {

enum class Algorithm { kMd5, kSha1, kSha256, kSha512 };

// The longest MAC of the four (HMAC-SHA512), in bytes.
inline constexpr std::size_t kMaxMacSize = 64;

// "md5", "sha1", "sha256", "sha512".
std::string_view AlgorithmName(Algorithm algorithm);
// The inverse of AlgorithmName (exact, lower case); nullopt for any other text.
std::optional<Algorithm> AlgorithmFromName(std::string_view name);
// Length of the MAC in bytes: 16, 20, 32, 64.
std::size_t DigestSize(Algorithm algorithm);

// Room for any of the four digests' running state (OpenSSL's MD5_CTX, SHA_CTX, SHA256_CTX or
// SHA512_CTX); hmac.cc checks at compile time that each one fits.
struct alignas(8) DigestState {
  unsigned char bytes[224];
};

// The pre-keyed inner and outer digest states of one key: key material. Copying is how a
// message starts; moving leaves the source wiped and dead; destruction wipes.
struct KeyedStates {
  DigestState inner{};
  DigestState outer{};
  bool live = false;  // false once wiped (moved from, or the MAC finalised)

  KeyedStates() = default;
  KeyedStates(const KeyedStates&) = default;
  KeyedStates& operator=(const KeyedStates&) = default;
  KeyedStates(KeyedStates&& other) noexcept : KeyedStates(other) { other.Wipe(); }
  KeyedStates& operator=(KeyedStates&& other) noexcept {
    if (this != &other) {
      *this = other;
      other.Wipe();
    }
    return *this;
  }
  ~KeyedStates() {
    if (live) Wipe();
  }
  void Wipe();
};

// One message being authenticated: a copy of the key's states, so starting a message
// allocates nothing and touches no shared state. Only the algorithm's own context is copied
// and, once final (or moved from, or destroyed), wiped: 112 bytes each for SHA-256, not the
// DigestState's 224. Move-only; not thread-safe.
class Hmac {
 public:
  Hmac(Hmac&& other) noexcept;
  Hmac& operator=(Hmac&& other) noexcept;
  ~Hmac() { Wipe(); }

  void Update(std::string_view data);
  void Update(std::span<const std::uint8_t> data);
  // The MAC of everything fed so far. Call once: a second call (or Update after it) returns an
  // empty vector, which never equals a decoded signature.
  Bytes Final();
  // The same into `out`, without allocating: returns the MAC's size, or 0 on a second call.
  std::size_t FinalInto(std::span<std::uint8_t, kMaxMacSize> out);

 private:
  friend class HmacKey;
  Hmac(Algorithm algorithm, const KeyedStates& states);
  // Copies the algorithm's part of two states in; the Hmac is then live.
  void CopyStates(const DigestState& inner, const DigestState& outer);
  void Wipe();
  Algorithm algorithm_;
  bool live_ = false;  // false once final, moved from or wiped
  // Uninitialised beyond the algorithm's context size, which is all that is ever read.
  DigestState inner_;
  DigestState outer_;
};

// A pre-keyed HMAC (RFC 2104) over OpenSSL's digest functions: the key's inner and outer
// blocks are hashed once, here. Immutable once created: Start() may be called from many
// threads. No copy of the key outlives Create (the padded blocks are wiped); the states are
// wiped when the key is destroyed.
class HmacKey {
 public:
  // Fails if the key is empty; the message never contains key material.
  static Expected<HmacKey> Create(Algorithm algorithm, std::span<const std::uint8_t> key);

  HmacKey(HmacKey&&) noexcept = default;
  HmacKey& operator=(HmacKey&&) noexcept = default;
  ~HmacKey();

  Algorithm algorithm() const { return algorithm_; }
  // A fresh message under this key: one state copy, no re-keying, no allocation.
  Hmac Start() const { return Hmac(algorithm_, states()); }
  // One-shot convenience: the MAC of `message`.
  Bytes Compute(std::string_view message) const;
  // Where the pre-keyed states live (for the test that checks they are excluded from core
  // dumps); null for a moved-from key.
  const void* StatesAddress() const { return storage_.data(); }

 private:
  explicit HmacKey(Algorithm algorithm);
  KeyedStates& states() { return *reinterpret_cast<KeyedStates*>(storage_.data()); }
  const KeyedStates& states() const {
    return *reinterpret_cast<const KeyedStates*>(storage_.data());
  }
  Algorithm algorithm_;
  // The states are key material that lives as long as the key: kept in a SecureBuffer
  // (MADV_DONTDUMP pages, wiped on release) rather than inline.
  SecureBuffer storage_;
};

// The plain digest of `data` (no key), with the same functions.
Bytes Digest(Algorithm algorithm, std::string_view data);

}  // namespace hw::crypto
