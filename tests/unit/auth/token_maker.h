// Test keys and tokens made with OpenSSL directly (independently of watchdog/crypto/jwk.cc):
// a key pair of each supported type, its public JWK, and JWS compact tokens signed with it.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace hw::test {

inline std::string B64Url(const unsigned char* data, std::size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < n; i += 3) {
    unsigned v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (n - i == 1) {
    unsigned v = data[i] << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    unsigned v = (data[i] << 16) | (data[i + 1] << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}
inline std::string B64Url(const std::string& s) {
  return B64Url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

class TestKey {
 public:
  enum class Type { kRsa, kEc, kEd25519 };
  TestKey(Type type, std::string kid) : type_(type), kid_(std::move(kid)) {
    const char* name = type == Type::kRsa ? "RSA" : type == Type::kEc ? "EC" : "ED25519";
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, name, nullptr);
    EVP_PKEY_keygen_init(ctx);
    if (type == Type::kRsa) EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048);
    if (type == Type::kEc) EVP_PKEY_CTX_set_group_name(ctx, "prime256v1");
    EVP_PKEY* key = nullptr;
    if (EVP_PKEY_generate(ctx, &key) != 1) throw std::runtime_error("keygen");
    EVP_PKEY_CTX_free(ctx);
    key_.reset(key);
  }
  std::string alg() const {
    return type_ == Type::kRsa ? "RS256" : type_ == Type::kEc ? "ES256" : "EdDSA";
  }
  const std::string& kid() const { return kid_; }

  std::string Jwk() const {
    std::string common = "\"kid\":\"" + kid_ + "\",\"use\":\"sig\"";
    if (type_ == Type::kRsa) {
      return "{\"kty\":\"RSA\"," + common + ",\"n\":\"" + Bn(OSSL_PKEY_PARAM_RSA_N) +
             "\",\"e\":\"" + Bn(OSSL_PKEY_PARAM_RSA_E) + "\"}";
    }
    if (type_ == Type::kEc) {
      return "{\"kty\":\"EC\",\"crv\":\"P-256\"," + common + ",\"x\":\"" +
             Bn(OSSL_PKEY_PARAM_EC_PUB_X, 32) + "\",\"y\":\"" + Bn(OSSL_PKEY_PARAM_EC_PUB_Y, 32) +
             "\"}";
    }
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    EVP_PKEY_get_raw_public_key(key_.get(), raw, &len);
    return "{\"kty\":\"OKP\",\"crv\":\"Ed25519\"," + common + ",\"x\":\"" + B64Url(raw, len) +
           "\"}";
  }

  // header fields beyond alg/kid may be given in `extra_header` (",\"typ\":\"JWT\"").
  std::string Sign(const std::string& payload_json, std::string alg = "",
                   std::string kid = "\x01") const {
    if (alg.empty()) alg = this->alg();
    if (kid == "\x01") kid = kid_;
    std::string header =
        "{\"alg\":\"" + alg + "\"" + (kid.empty() ? "" : ",\"kid\":\"" + kid + "\"") + "}";
    std::string input = B64Url(header) + "." + B64Url(payload_json);
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, nullptr, type_ == Type::kEd25519 ? nullptr : EVP_sha256(), nullptr,
                       key_.get());
    std::size_t len = 0;
    EVP_DigestSign(md, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    std::vector<unsigned char> sig(len);
    EVP_DigestSign(md, sig.data(), &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    EVP_MD_CTX_free(md);
    sig.resize(len);
    if (type_ == Type::kEc) {  // DER → r||s
      const unsigned char* p = sig.data();
      ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
      std::vector<unsigned char> raw(64);
      BN_bn2binpad(ECDSA_SIG_get0_r(es), raw.data(), 32);
      BN_bn2binpad(ECDSA_SIG_get0_s(es), raw.data() + 32, 32);
      ECDSA_SIG_free(es);
      sig = raw;
    }
    return input + "." + B64Url(sig.data(), sig.size());
  }

 private:
  std::string Bn(const char* param, int pad = 0) const {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(key_.get(), param, &bn);
    std::vector<unsigned char> buf(pad > 0 ? pad : BN_num_bytes(bn));
    BN_bn2binpad(bn, buf.data(), static_cast<int>(buf.size()));
    BN_free(bn);
    return B64Url(buf.data(), buf.size());
  }
  struct Free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
  };
  Type type_;
  std::string kid_;
  std::unique_ptr<EVP_PKEY, Free> key_;
};

// An HS256 token keyed with `secret` (the key-confusion attack uses the public key's text).
inline std::string Hs256Token(const std::string& header_json, const std::string& payload_json,
                              const std::string& secret) {
  std::string input = B64Url(header_json) + "." + B64Url(payload_json);
  unsigned char mac[32];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + B64Url(mac, len);
}

}  // namespace hw::test
