#include "crypto/jwk.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

namespace hw::crypto {
namespace {

struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  void operator()(OSSL_PARAM_BLD* b) const { OSSL_PARAM_BLD_free(b); }
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
  void operator()(BIGNUM* b) const { BN_free(b); }
  void operator()(ECDSA_SIG* s) const { ECDSA_SIG_free(s); }
};
template <typename T>
using Owned = std::unique_ptr<T, CtxFree>;

std::shared_ptr<evp_pkey_st> FromData(const char* type, OSSL_PARAM* params) {
  Owned<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
    return nullptr;
  }
  return std::shared_ptr<evp_pkey_st>(key, [](EVP_PKEY* k) { EVP_PKEY_free(k); });
}

bool Verify(EVP_PKEY* key, const EVP_MD* md, std::string_view input,
            std::span<const std::uint8_t> sig) {
  Owned<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) return false;
  return EVP_DigestVerify(ctx.get(), sig.data(), sig.size(),
                          reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
}

}  // namespace

void PublicKey::Free::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

std::optional<Bytes> DecodeBase64Url(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) return std::nullopt;
  Bytes out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '-')
      v = 62;
    else if (c == '_')
      v = 63;
    else
      return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xFF));
    }
  }
  // Leftover bits must be zero (canonical encoding).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

Expected<PublicKey> PublicKey::FromJwk(const JwkFields& jwk) {
  if (jwk.kty == "RSA") {
    auto n = DecodeBase64Url(jwk.n);
    auto e = DecodeBase64Url(jwk.e);
    if (!n || !e || n->empty() || e->empty()) return Error{"RSA key: bad n or e"};
    Owned<BIGNUM> bn(BN_bin2bn(n->data(), static_cast<int>(n->size()), nullptr));
    Owned<BIGNUM> be(BN_bin2bn(e->data(), static_cast<int>(e->size()), nullptr));
    if (!bn || !be) return Error{"RSA key: bad n or e"};
    if (BN_num_bits(bn.get()) < 2048) return Error{"RSA key shorter than 2048 bits"};
    Owned<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
    if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, be.get()) != 1) {
      return Error{"RSA key: out of memory"};
    }
    Owned<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld.get()));
    auto key = params ? FromData("RSA", params.get()) : nullptr;
    if (!key) return Error{"RSA key rejected by OpenSSL"};
    return PublicKey(Type::kRsa, std::move(key));
  }
  if (jwk.kty == "EC") {
    if (jwk.crv != "P-256") return Error{"EC key: only crv P-256 is supported"};
    auto x = DecodeBase64Url(jwk.x);
    auto y = DecodeBase64Url(jwk.y);
    if (!x || !y || x->size() != 32 || y->size() != 32) return Error{"EC key: bad x or y"};
    Bytes point{0x04};
    point.insert(point.end(), x->begin(), x->end());
    point.insert(point.end(), y->begin(), y->end());
    char group[] = "prime256v1";
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
        OSSL_PARAM_construct_end()};
    auto key = FromData("EC", params);
    if (!key) return Error{"EC key: not a point on P-256"};
    // fromdata does not always check the point: do it here.
    Owned<EVP_PKEY_CTX> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return Error{"EC key: invalid point"};
    return PublicKey(Type::kEcP256, std::move(key));
  }
  if (jwk.kty == "OKP") {
    if (jwk.crv != "Ed25519") return Error{"OKP key: only crv Ed25519 is supported"};
    auto x = DecodeBase64Url(jwk.x);
    if (!x || x->size() != 32) return Error{"Ed25519 key: bad x"};
    EVP_PKEY* raw = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, x->data(), x->size());
    if (raw == nullptr) return Error{"Ed25519 key rejected by OpenSSL"};
    return PublicKey(Type::kEd25519,
                     std::shared_ptr<evp_pkey_st>(raw, [](EVP_PKEY* k) { EVP_PKEY_free(k); }));
  }
  return Error{"unsupported key type"};
}

std::string_view PublicKey::Algorithm() const {
  switch (type_) {
    case Type::kRsa:
      return "RS256";
    case Type::kEcP256:
      return "ES256";
    case Type::kEd25519:
      return "EdDSA";
  }
  return "";
}

bool PublicKey::VerifyJws(std::string_view alg, std::string_view signing_input,
                          std::span<const std::uint8_t> signature) const {
  // The algorithm comes from the key, never from the token: a token naming another alg
  // (none, HS256 keyed with this public key, ...) is refused here.
  if (alg != Algorithm()) return false;
  switch (type_) {
    case Type::kRsa:
      return Verify(key_.get(), EVP_sha256(), signing_input, signature);
    case Type::kEd25519:
      return signature.size() == 64 && Verify(key_.get(), nullptr, signing_input, signature);
    case Type::kEcP256: {
      if (signature.size() != 64) return false;
      Owned<ECDSA_SIG> sig(ECDSA_SIG_new());
      BIGNUM* r = BN_bin2bn(signature.data(), 32, nullptr);
      BIGNUM* s = BN_bin2bn(signature.data() + 32, 32, nullptr);
      if (!sig || r == nullptr || s == nullptr || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return false;
      }
      unsigned char* der = nullptr;
      const int len = i2d_ECDSA_SIG(sig.get(), &der);
      if (len <= 0) return false;
      const bool ok = Verify(key_.get(), EVP_sha256(), signing_input,
                             std::span<const std::uint8_t>(der, static_cast<std::size_t>(len)));
      OPENSSL_free(der);
      return ok;
    }
  }
  return false;
}

}  // namespace hw::crypto
