// Where a credential is: the Authorization header's Basic and Bearer forms, parsed without
// allocation beyond the decoded Basic pair. Input is untrusted (fuzzed by
// tests/fuzz/auth_header_fuzz.cc); nothing here logs or keeps the credential.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hw::auth {

struct BasicCredentials {
  std::string user;
  std::string password;
};

// "Basic <base64(user:password)>" (scheme case-insensitive, one or more spaces): the pair, or
// nullopt when the scheme differs, the base64 is invalid or there is no ':'.
std::optional<BasicCredentials> ParseBasic(std::string_view authorization);
// "Bearer <token>": the token (token68 characters only), or nullopt.
std::optional<std::string_view> ParseBearer(std::string_view authorization);
// The scheme word of an Authorization value ("basic", "bearer", ... lower case), "" if none.
std::string AuthorizationScheme(std::string_view authorization);

}  // namespace hw::auth
