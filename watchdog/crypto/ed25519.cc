#include "crypto/ed25519.h"

#include <openssl/evp.h>

namespace hw::crypto {
namespace {

struct MdContextDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using MdContext = std::unique_ptr<EVP_MD_CTX, MdContextDeleter>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

Expected<Pkey> PrivateKey(std::span<const std::uint8_t> seed) {
  if (seed.size() != kEd25519KeySize) return Error{"an Ed25519 private seed is 32 bytes"};
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!key) return Error{"OpenSSL refused the Ed25519 private seed"};
  return key;
}

}  // namespace

void PkeyDeleter::operator()(evp_pkey_st* key) const { EVP_PKEY_free(key); }

Expected<Ed25519PublicKey> Ed25519PublicKey::Create(std::span<const std::uint8_t> raw) {
  if (raw.size() != kEd25519KeySize) return Error{"an Ed25519 public key is 32 bytes"};
  Pkey key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, raw.data(), raw.size()));
  if (!key) return Error{"OpenSSL refused the Ed25519 public key"};
  return Ed25519PublicKey(std::move(key));
}

bool Ed25519PublicKey::Verify(std::span<const std::uint8_t> message,
                              std::span<const std::uint8_t> signature) const {
  if (signature.size() != kEd25519SignatureSize) return false;
  MdContext ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
    return false;
  }
  return EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                          message.size()) == 1;
}

Expected<Bytes> Ed25519Sign(std::span<const std::uint8_t> seed,
                            std::span<const std::uint8_t> message) {
  Expected<Pkey> key = PrivateKey(seed);
  if (!key) return key.error();
  MdContext ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key->get()) != 1) {
    return Error{"OpenSSL could not start an Ed25519 signature"};
  }
  Bytes signature(kEd25519SignatureSize);
  std::size_t size = signature.size();
  if (EVP_DigestSign(ctx.get(), signature.data(), &size, message.data(), message.size()) != 1 ||
      size != kEd25519SignatureSize) {
    return Error{"OpenSSL could not make an Ed25519 signature"};
  }
  return signature;
}

Expected<Bytes> Ed25519PublicKeyOf(std::span<const std::uint8_t> seed) {
  Expected<Pkey> key = PrivateKey(seed);
  if (!key) return key.error();
  Bytes raw(kEd25519KeySize);
  std::size_t size = raw.size();
  if (EVP_PKEY_get_raw_public_key(key->get(), raw.data(), &size) != 1 || size != raw.size()) {
    return Error{"OpenSSL could not derive the Ed25519 public key"};
  }
  return raw;
}

}  // namespace hw::crypto
