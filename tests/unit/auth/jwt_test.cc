#include "auth/jwt.h"

#include <catch2/catch.hpp>

#include "token_maker.h"

using hw::auth::JwtOptions;
using hw::auth::JwtOutcome;
using hw::auth::ParseJwks;
using hw::auth::VerifyJwt;
using hw::test::TestKey;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

std::string Claims(std::int64_t exp = kNow + 300, const std::string& extra = "") {
  return "{\"iss\":\"http://issuer.test\",\"aud\":\"fn\",\"sub\":\"client-1\",\"exp\":" +
         std::to_string(exp) + extra + "}";
}

JwtOptions Options() {
  JwtOptions o;
  o.issuer = "http://issuer.test";
  o.audience = "fn";
  return o;
}

hw::auth::KeySet Keys(const std::vector<const TestKey*>& keys) {
  std::string doc = "{\"keys\":[";
  for (std::size_t i = 0; i < keys.size(); ++i) doc += (i ? "," : "") + keys[i]->Jwk();
  doc += "]}";
  auto set = ParseJwks(doc);
  REQUIRE(set);
  REQUIRE(set->size() == keys.size());
  return std::move(*set);
}

}  // namespace

TEST_CASE("jwt accepts RS256, ES256 and EdDSA tokens signed by a key of the set", "[auth]") {
  TestKey rsa(TestKey::Type::kRsa, "r1"), ec(TestKey::Type::kEc, "e1"),
      ed(TestKey::Type::kEd25519, "d1");
  auto keys = Keys({&rsa, &ec, &ed});
  for (const TestKey* k : {&rsa, &ec, &ed}) {
    auto r = VerifyJwt(k->Sign(Claims()), keys, Options(), kNow);
    CHECK(r.outcome == JwtOutcome::kValid);
    CHECK(r.subject == "client-1");
  }
}

TEST_CASE("jwt refuses expired, not-yet-valid, wrong-issuer and wrong-audience tokens", "[auth]") {
  TestKey k(TestKey::Type::kEc, "e1");
  auto keys = Keys({&k});
  CHECK(VerifyJwt(k.Sign(Claims(kNow - 31)), keys, Options(), kNow).outcome ==
        JwtOutcome::kExpired);
  CHECK(VerifyJwt(k.Sign(Claims(kNow - 29)), keys, Options(), kNow).outcome ==
        JwtOutcome::kValid);  // within the 30 s leeway
  CHECK(VerifyJwt(k.Sign(Claims(kNow + 600, ",\"nbf\":" + std::to_string(kNow + 60))), keys,
                  Options(), kNow)
            .outcome == JwtOutcome::kNotYetValid);
  auto o = Options();
  o.issuer = "http://other.test";
  CHECK(VerifyJwt(k.Sign(Claims()), keys, o, kNow).outcome == JwtOutcome::kWrongIssuer);
  o = Options();
  o.audience = "another-fn";
  CHECK(VerifyJwt(k.Sign(Claims()), keys, o, kNow).outcome == JwtOutcome::kWrongAudience);
  // aud as an array
  CHECK(VerifyJwt(k.Sign("{\"iss\":\"http://issuer.test\",\"aud\":[\"x\",\"fn\"],\"exp\":" +
                         std::to_string(kNow + 60) + "}"),
                  keys, Options(), kNow)
            .outcome == JwtOutcome::kValid);
  // no exp at all
  CHECK(VerifyJwt(k.Sign("{\"iss\":\"http://issuer.test\",\"aud\":\"fn\"}"), keys, Options(), kNow)
            .outcome == JwtOutcome::kMalformed);
}

TEST_CASE("jwt refuses alg none and HS256 keyed with the public key (key confusion)", "[auth]") {
  TestKey k(TestKey::Type::kRsa, "r1");
  auto keys = Keys({&k});
  const std::string none = hw::test::B64Url("{\"alg\":\"none\",\"kid\":\"r1\"}") + "." +
                           hw::test::B64Url(Claims()) + ".";
  CHECK(VerifyJwt(none, keys, Options(), kNow).outcome == JwtOutcome::kBadAlg);
  const std::string hs =
      hw::test::Hs256Token("{\"alg\":\"HS256\",\"kid\":\"r1\"}", Claims(), k.Jwk());
  CHECK(VerifyJwt(hs, keys, Options(), kNow).outcome == JwtOutcome::kBadAlg);
  // A token naming ES256 for an RSA kid.
  TestKey ec(TestKey::Type::kEc, "r1");
  CHECK(VerifyJwt(ec.Sign(Claims()), keys, Options(), kNow).outcome == JwtOutcome::kBadAlg);
}

TEST_CASE("jwt reports an unknown kid and a signature by another key", "[auth]") {
  TestKey k(TestKey::Type::kEd25519, "d1"), other(TestKey::Type::kEd25519, "d2");
  auto keys = Keys({&k});
  CHECK(VerifyJwt(other.Sign(Claims()), keys, Options(), kNow).outcome == JwtOutcome::kUnknownKey);
  CHECK(VerifyJwt(other.Sign(Claims(), "", "d1"), keys, Options(), kNow).outcome ==
        JwtOutcome::kBadSignature);
  // tampered payload
  std::string t = k.Sign(Claims());
  auto dot = t.find('.');
  std::string forged =
      t.substr(0, dot + 1) + hw::test::B64Url(Claims(kNow + 99999)) + t.substr(t.rfind('.'));
  CHECK(VerifyJwt(forged, keys, Options(), kNow).outcome == JwtOutcome::kBadSignature);
}

TEST_CASE("jwt checks required scopes and forwards chosen claims", "[auth]") {
  TestKey k(TestKey::Type::kEc, "e1");
  auto keys = Keys({&k});
  auto o = Options();
  o.required_scopes = {"admin", "write"};
  o.forward_claims = {"email", "groups"};
  auto token = k.Sign(Claims(kNow + 60,
                             ",\"scope\":\"read write admin\",\"email\":\"a@b.c\","
                             "\"groups\":[\"x\"]"));
  auto r = VerifyJwt(token, keys, o, kNow);
  REQUIRE(r.outcome == JwtOutcome::kValid);
  REQUIRE(r.claims.size() == 2);
  CHECK(r.claims[0] == std::pair<std::string, std::string>{"email", "a@b.c"});
  CHECK(r.claims[1].second == "[\"x\"]");
  auto less = k.Sign(Claims(kNow + 60, ",\"scope\":\"read write\""));
  CHECK(VerifyJwt(less, keys, o, kNow).outcome == JwtOutcome::kInsufficientScope);
}

TEST_CASE("jwt treats broken tokens as malformed", "[auth]") {
  TestKey k(TestKey::Type::kEc, "e1");
  auto keys = Keys({&k});
  for (const std::string& t : std::vector<std::string>{
           "", "a", "a.b", "a.b.c.d", "!!.e30.", "e30.e30.e30", "....", std::string(20000, 'a')}) {
    CHECK(VerifyJwt(t, keys, Options(), kNow).outcome != JwtOutcome::kValid);
  }
}

TEST_CASE("a JWKS skips keys it cannot use and refuses a document without keys", "[auth]") {
  std::size_t skipped = 0;
  auto set = ParseJwks(
      "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"},{\"kty\":\"oct\",\"k\":"
      "\"c2VjcmV0\"},"
      "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"AAAA\"}]}",
      &skipped);
  REQUIRE(set);
  CHECK(set->empty());
  CHECK(skipped == 3);
  CHECK(!ParseJwks("[]"));
  CHECK(!ParseJwks("not json"));
  TestKey k(TestKey::Type::kRsa, "r1");
  // A key whose alg member names another algorithm is not trusted.
  std::string jwk = k.Jwk();
  jwk.insert(1, "\"alg\":\"HS256\",");
  set = ParseJwks("{\"keys\":[" + jwk + "]}", &skipped);
  REQUIRE(set);
  CHECK(set->empty());
}
