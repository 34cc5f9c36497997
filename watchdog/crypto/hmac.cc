#include "crypto/hmac.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace hw::crypto {
namespace {

const char* DigestName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kMd5:
      return "MD5";
    case Algorithm::kSha1:
      return "SHA1";
    case Algorithm::kSha256:
      return "SHA256";
    case Algorithm::kSha512:
      return "SHA512";
  }
  return "SHA256";
}

struct MacDeleter {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};

// The HMAC implementation is fetched once per process; EVP_MAC objects are reference counted
// and safe to share between threads.
EVP_MAC* HmacImplementation() {
  static const std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
  return mac.get();
}

}  // namespace

void MacContextDeleter::operator()(evp_mac_ctx_st* ctx) const { EVP_MAC_CTX_free(ctx); }

std::string_view AlgorithmName(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kMd5:
      return "md5";
    case Algorithm::kSha1:
      return "sha1";
    case Algorithm::kSha256:
      return "sha256";
    case Algorithm::kSha512:
      return "sha512";
  }
  return "sha256";
}

std::optional<Algorithm> AlgorithmFromName(std::string_view name) {
  for (Algorithm a : {Algorithm::kMd5, Algorithm::kSha1, Algorithm::kSha256, Algorithm::kSha512}) {
    if (AlgorithmName(a) == name) return a;
  }
  return std::nullopt;
}

std::size_t DigestSize(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kMd5:
      return 16;
    case Algorithm::kSha1:
      return 20;
    case Algorithm::kSha256:
      return 32;
    case Algorithm::kSha512:
      return 64;
  }
  return 32;
}

void Hmac::Update(std::string_view data) { Update(AsBytes(data)); }

void Hmac::Update(std::span<const std::uint8_t> data) {
  if (!ctx_ || data.empty()) return;
  if (EVP_MAC_update(ctx_.get(), data.data(), data.size()) != 1) ctx_.reset();
}

Bytes Hmac::Final() {
  if (!ctx_) return {};
  Bytes out(size_);
  std::size_t written = 0;
  const bool ok = EVP_MAC_final(ctx_.get(), out.data(), &written, out.size()) == 1;
  ctx_.reset();
  if (!ok || written != size_) return {};
  return out;
}

Expected<HmacKey> HmacKey::Create(Algorithm algorithm, std::span<const std::uint8_t> key) {
  if (key.empty()) return Error{"an HMAC key must not be empty"};
  EVP_MAC* mac = HmacImplementation();
  if (mac == nullptr) return Error{"OpenSSL has no HMAC implementation"};
  MacContext ctx(EVP_MAC_CTX_new(mac));
  if (!ctx) return Error{"OpenSSL could not allocate an HMAC context"};
  char digest[16];
  const std::string_view name = DigestName(algorithm);
  name.copy(digest, sizeof(digest) - 1);
  digest[name.size()] = '\0';
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1) {
    return Error{std::string("OpenSSL could not key HMAC-") + DigestName(algorithm)};
  }
  return HmacKey(algorithm, std::move(ctx));
}

Hmac HmacKey::Start() const {
  return Hmac(MacContext(EVP_MAC_CTX_dup(ctx_.get())), DigestSize(algorithm_));
}

Bytes HmacKey::Compute(std::string_view message) const {
  Hmac hmac = Start();
  hmac.Update(message);
  return hmac.Final();
}

}  // namespace hw::crypto
