// Public keys of a JSON Web Key Set (RSA, EC P-256, Ed25519) and the JWS signature check
// (RS256, ES256, EdDSA) through OpenSSL. The JSON is read by the auth module; this file sees
// only the decoded members. Keys are immutable once built and safe to share across threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/expected.h"
#include "crypto/bytes.h"

struct evp_pkey_st;

namespace hw::crypto {

// RFC 4648 section 5 base64url without padding (a trailing '=' pad is tolerated).
std::optional<Bytes> DecodeBase64Url(std::string_view text);

// The members of one JWK, as base64url text (unused ones empty).
struct JwkFields {
  std::string kty;   // "RSA", "EC", "OKP"
  std::string crv;   // "P-256", "Ed25519"
  std::string n, e;  // RSA
  std::string x, y;  // EC (x, y), OKP (x)
};

class PublicKey {
 public:
  enum class Type { kRsa, kEcP256, kEd25519 };
  // Builds the key. Error on an unsupported kty/crv, bad base64url, an RSA modulus under
  // 2048 bits or a point not on the curve.
  static Expected<PublicKey> FromJwk(const JwkFields& jwk);
  Type type() const { return type_; }
  // The one JWS alg this key verifies: "RS256", "ES256" or "EdDSA".
  std::string_view Algorithm() const;
  // True when `signature` is a valid `alg` signature of `signing_input` by this key; false
  // for any other alg (none, HS256, ...), whatever the signature.
  bool VerifyJws(std::string_view alg, std::string_view signing_input,
                 std::span<const std::uint8_t> signature) const;

 private:
  struct Free {
    void operator()(evp_pkey_st* key) const;
  };
  PublicKey(Type type, std::shared_ptr<evp_pkey_st> key) : type_(type), key_(std::move(key)) {}
  Type type_;
  std::shared_ptr<evp_pkey_st> key_;
};

}  // namespace hw::crypto
