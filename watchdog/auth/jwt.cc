#include "auth/jwt.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace hw::auth {
namespace {

using Json = nlohmann::json;

Json ParseJson(std::string_view text) {
  return Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
}

std::string StringMember(const Json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// A NumericDate: integer or floating seconds. False when absent; `bad` when not a number.
bool NumberMember(const Json& obj, const char* name, std::int64_t& out, bool& bad) {
  auto it = obj.find(name);
  if (it == obj.end()) return false;
  if (it->is_number_integer()) {
    out = it->get<std::int64_t>();
  } else if (it->is_number_unsigned()) {
    const auto u = it->get<std::uint64_t>();
    out = u > static_cast<std::uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<std::int64_t>(u);
  } else if (it->is_number_float()) {
    const double d = it->get<double>();
    if (!(d > -9e15 && d < 9e15)) {
      bad = true;
      return false;
    }
    out = static_cast<std::int64_t>(d);
  } else {
    bad = true;
    return false;
  }
  return true;
}

std::string ClaimText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool SafeHeaderValue(const std::string& s) {
  return s.size() <= 1024 && std::none_of(s.begin(), s.end(), [](char c) {
           return c == '\r' || c == '\n' || c == '\0';
         });
}

}  // namespace

std::string_view JwtOutcomeName(JwtOutcome outcome) {
  switch (outcome) {
    case JwtOutcome::kValid:
      return "valid";
    case JwtOutcome::kMalformed:
      return "malformed";
    case JwtOutcome::kBadAlg:
      return "bad_alg";
    case JwtOutcome::kUnknownKey:
      return "unknown_key";
    case JwtOutcome::kBadSignature:
      return "bad_signature";
    case JwtOutcome::kExpired:
      return "expired";
    case JwtOutcome::kNotYetValid:
      return "not_yet_valid";
    case JwtOutcome::kWrongIssuer:
      return "wrong_issuer";
    case JwtOutcome::kWrongAudience:
      return "wrong_audience";
    case JwtOutcome::kInsufficientScope:
      return "insufficient_scope";
  }
  return "?";
}

Expected<KeySet> ParseJwks(std::string_view json, std::size_t* skipped) {
  const Json doc = ParseJson(json);
  if (doc.is_discarded() || !doc.is_object()) return Error{"the JWKS is not a JSON object"};
  auto keys = doc.find("keys");
  if (keys == doc.end() || !keys->is_array()) return Error{"the JWKS has no \"keys\" array"};
  KeySet out;
  std::size_t skip = 0;
  for (const auto& k : *keys) {
    if (!k.is_object()) {
      ++skip;
      continue;
    }
    const std::string use = StringMember(k, "use");
    if (!use.empty() && use != "sig") {
      ++skip;
      continue;
    }
    crypto::JwkFields f{StringMember(k, "kty"), StringMember(k, "crv"), StringMember(k, "n"),
                        StringMember(k, "e"),   StringMember(k, "x"),   StringMember(k, "y")};
    auto key = crypto::PublicKey::FromJwk(f);
    if (!key) {
      ++skip;
      continue;
    }
    Key entry{StringMember(k, "kid"), StringMember(k, "alg"), std::move(*key)};
    if (!entry.alg.empty() && entry.alg != entry.key.Algorithm()) {
      ++skip;  // a key that claims an alg it cannot do is not trusted for anything
      continue;
    }
    out.push_back(std::move(entry));
  }
  if (skipped != nullptr) *skipped = skip;
  return out;
}

JwtResult VerifyJwt(std::string_view token, const KeySet& keys, const JwtOptions& options,
                    std::int64_t now) {
  JwtResult result;
  if (token.size() > kMaxTokenBytes) return result;
  const auto dot1 = token.find('.');
  if (dot1 == std::string_view::npos) return result;
  const auto dot2 = token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return result;
  }
  const auto header_bytes = crypto::DecodeBase64Url(token.substr(0, dot1));
  const auto payload_bytes = crypto::DecodeBase64Url(token.substr(dot1 + 1, dot2 - dot1 - 1));
  const auto signature = crypto::DecodeBase64Url(token.substr(dot2 + 1));
  if (!header_bytes || !payload_bytes || !signature) return result;
  const Json header = ParseJson(crypto::AsText(*header_bytes));
  if (header.is_discarded() || !header.is_object()) return result;
  const std::string alg = StringMember(header, "alg");
  if (alg != "RS256" && alg != "ES256" && alg != "EdDSA") {
    result.outcome = JwtOutcome::kBadAlg;  // none, HS*, PS*, anything else
    return result;
  }
  if (header.contains("crit")) {
    result.outcome = JwtOutcome::kMalformed;  // no extension is understood
    return result;
  }
  const std::string kid = StringMember(header, "kid");
  // The key named by kid (or, without a kid, every key of the token's alg).
  bool key_found = false;
  bool verified = false;
  for (const auto& k : keys) {
    if (!kid.empty() && k.kid != kid) continue;
    if (k.key.Algorithm() != alg) {
      if (!kid.empty()) {
        result.outcome = JwtOutcome::kBadAlg;  // the kid's key does not do this alg
        return result;
      }
      continue;
    }
    key_found = true;
    if (k.key.VerifyJws(alg, token.substr(0, dot2), *signature)) {
      verified = true;
      break;
    }
  }
  if (!key_found) {
    result.outcome = JwtOutcome::kUnknownKey;
    return result;
  }
  if (!verified) {
    result.outcome = JwtOutcome::kBadSignature;
    return result;
  }

  const Json claims = ParseJson(crypto::AsText(*payload_bytes));
  if (claims.is_discarded() || !claims.is_object()) return result;
  bool bad = false;
  const std::int64_t leeway = options.leeway.count();
  std::int64_t exp = 0;
  const bool has_exp = NumberMember(claims, "exp", exp, bad);
  std::int64_t nbf = 0;
  const bool has_nbf = NumberMember(claims, "nbf", nbf, bad);
  if (bad || !has_exp) return result;  // a token that never expires is not accepted
  if (now > exp && now - exp > leeway) {
    result.outcome = JwtOutcome::kExpired;
    return result;
  }
  if (has_nbf && nbf > now && nbf - now > leeway) {
    result.outcome = JwtOutcome::kNotYetValid;
    return result;
  }
  if (!options.issuer.empty() && StringMember(claims, "iss") != options.issuer) {
    result.outcome = JwtOutcome::kWrongIssuer;
    return result;
  }
  if (!options.audience.empty()) {
    bool aud_ok = false;
    auto aud = claims.find("aud");
    if (aud != claims.end()) {
      if (aud->is_string()) aud_ok = aud->get<std::string>() == options.audience;
      if (aud->is_array()) {
        for (const auto& a : *aud)
          aud_ok = aud_ok || (a.is_string() && a.get<std::string>() == options.audience);
      }
    }
    if (!aud_ok) {
      result.outcome = JwtOutcome::kWrongAudience;
      return result;
    }
  }
  if (!options.required_scopes.empty()) {
    std::vector<std::string> granted;
    if (auto s = claims.find("scope"); s != claims.end() && s->is_string()) {
      std::string_view rest = s->get_ref<const std::string&>();
      while (!rest.empty()) {
        const auto sp = rest.find(' ');
        if (sp != 0) granted.emplace_back(rest.substr(0, sp));
        if (sp == std::string_view::npos) break;
        rest.remove_prefix(sp + 1);
      }
    }
    if (auto s = claims.find("scp"); s != claims.end() && s->is_array()) {
      for (const auto& v : *s) {
        if (v.is_string()) granted.push_back(v.get<std::string>());
      }
    }
    for (const auto& want : options.required_scopes) {
      if (std::find(granted.begin(), granted.end(), want) == granted.end()) {
        result.outcome = JwtOutcome::kInsufficientScope;
        return result;
      }
    }
  }
  result.subject = StringMember(claims, "sub");
  if (!SafeHeaderValue(result.subject)) result.subject.clear();
  for (const auto& name : options.forward_claims) {
    auto it = claims.find(name);
    if (it == claims.end()) continue;
    std::string text = ClaimText(*it);
    if (SafeHeaderValue(text)) result.claims.emplace_back(name, std::move(text));
  }
  result.outcome = JwtOutcome::kValid;
  return result;
}

}  // namespace hw::auth
