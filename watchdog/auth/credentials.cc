#include "auth/credentials.h"

#include <cctype>

#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/encoding.h"

namespace hw::auth {
namespace {

// Splits "Scheme   rest" into the lower-case scheme and the rest (trailing spaces removed).
bool SplitScheme(std::string_view value, std::string_view want, std::string_view& rest) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  if (value.size() <= want.size() || value[want.size()] != ' ') return false;
  if (!IEquals(value.substr(0, want.size()), want)) return false;
  value.remove_prefix(want.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (value.empty()) return false;
  rest = value;
  return true;
}

bool Token68(std::string_view s) {
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' ||
          c == '~' || c == '+' || c == '/' || c == '=')) {
      return false;
    }
  }
  return !s.empty();
}

}  // namespace

std::optional<BasicCredentials> ParseBasic(std::string_view authorization) {
  std::string_view encoded;
  if (!SplitScheme(authorization, "basic", encoded)) return std::nullopt;
  auto decoded = crypto::DecodeBase64(encoded);
  if (!decoded) return std::nullopt;
  std::string text(decoded->begin(), decoded->end());
  crypto::Cleanse(decoded->data(), decoded->size());
  const auto colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  BasicCredentials c{text.substr(0, colon), text.substr(colon + 1)};
  crypto::Cleanse(text.data(), text.size());
  return c;
}

std::optional<std::string_view> ParseBearer(std::string_view authorization) {
  std::string_view token;
  if (!SplitScheme(authorization, "bearer", token)) return std::nullopt;
  if (!Token68(token)) return std::nullopt;
  return token;
}

std::string AuthorizationScheme(std::string_view authorization) {
  while (!authorization.empty() && authorization.front() == ' ') authorization.remove_prefix(1);
  std::string out;
  for (char c : authorization.substr(0, authorization.find(' '))) {
    if (out.size() >= 16) return "";
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

}  // namespace hw::auth
