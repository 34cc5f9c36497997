// The Authorization header and the JWT parser with untrusted input: Basic and Bearer parsing,
// then the whole JWT check (base64url, JSON header and claims, alg/kid selection, signature,
// time and audience claims) against a fixed key set. Invariants: nothing crashes or throws;
// no token is valid without the key's signature (the fixed keys' private halves are unknown
// to the fuzzer, so kValid must never appear); a decoded Basic pair round-trips through ':'.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/credentials.h"
#include "auth/jwt.h"

namespace {

// An RSA and an Ed25519 public key; their private keys are not in this program.
constexpr char kJwks[] =
    R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},)"
    R"({"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
    R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]})";

const hw::auth::KeySet& Keys() {
  static const hw::auth::KeySet keys = [] {
    auto k = hw::auth::ParseJwks(kJwks);
    if (!k || k->size() != 2) std::abort();
    return std::move(*k);
  }();
  return keys;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto basic = hw::auth::ParseBasic(input)) {
    if (basic->user.find(':') != std::string::npos) std::abort();  // split at the first ':'
  }
  (void)hw::auth::AuthorizationScheme(input);
  hw::auth::JwtOptions options;
  options.audience = "fn";
  options.required_scopes = {"admin"};
  options.forward_claims = {"email", "groups"};
  std::string_view token = input;
  if (auto bearer = hw::auth::ParseBearer(input)) token = *bearer;
  auto result = hw::auth::VerifyJwt(token, Keys(), options, 1'800'000'000);
  if (result.outcome == hw::auth::JwtOutcome::kValid) std::abort();
  return 0;
}
