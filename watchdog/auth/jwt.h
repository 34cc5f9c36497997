// Bearer tokens: the JWT (JWS compact form) checked against a key set — signature by the key
// its kid names with the alg that key allows, then iss, aud, exp, nbf (with leeway) and the
// required scopes. Pure functions of their inputs (no clock, no network), so they are unit
// tested and fuzzed directly; jwks.h keeps the key set fresh.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/expected.h"
#include "crypto/jwk.h"

namespace hw::auth {

struct JwtOptions {
  std::string issuer;                        // jwt_issuer; "" = not checked (jwks_url alone)
  std::string audience;                      // jwt_audience: must be in aud
  std::chrono::seconds leeway{30};           // jwt_leeway, for exp and nbf
  std::vector<std::string> required_scopes;  // jwt_required_scopes: all of them in scope/scp
  std::vector<std::string> forward_claims;   // jwt_forward_claims: X-Auth-Claim-<name>
};

struct Key {
  std::string kid;  // "" when the JWK has none
  std::string alg;  // the JWK's alg member, "" if absent
  crypto::PublicKey key;
};
using KeySet = std::vector<Key>;

// Parses a JWKS document ({"keys": [...]}). Keys of unsupported types, with "use" other than
// "sig", or that OpenSSL refuses are skipped (counted in `skipped`). Error when the document
// is not JSON or has no "keys" array.
Expected<KeySet> ParseJwks(std::string_view json, std::size_t* skipped = nullptr);

// The closed list of outcomes. Names: "valid", "malformed", "bad_alg", "unknown_key",
// "bad_signature", "expired", "not_yet_valid", "wrong_issuer", "wrong_audience",
// "insufficient_scope".
enum class JwtOutcome {
  kValid,
  kMalformed,
  kBadAlg,
  kUnknownKey,
  kBadSignature,
  kExpired,
  kNotYetValid,
  kWrongIssuer,
  kWrongAudience,
  kInsufficientScope
};
std::string_view JwtOutcomeName(JwtOutcome outcome);

struct JwtResult {
  JwtOutcome outcome = JwtOutcome::kMalformed;
  std::string subject;                                      // sub, when valid
  std::vector<std::pair<std::string, std::string>> claims;  // forward_claims present, as text
};

inline constexpr std::size_t kMaxTokenBytes = 16 * 1024;

// Checks `token` at `now_unix` (seconds). Never throws.
JwtResult VerifyJwt(std::string_view token, const KeySet& keys, const JwtOptions& options,
                    std::int64_t now_unix);

}  // namespace hw::auth
