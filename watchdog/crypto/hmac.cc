#include "crypto/hmac.h"

// MD5_Init, SHA256_Update and friends are marked deprecated in OpenSSL 3 in favour of EVP,
// which is exactly the layer this file avoids (see hmac.h). They remain part of the API.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/md5.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <utility>

namespace hw::crypto {
namespace {

static_assert(sizeof(MD5_CTX) <= sizeof(DigestState));
static_assert(sizeof(SHA_CTX) <= sizeof(DigestState));
static_assert(sizeof(SHA256_CTX) <= sizeof(DigestState));
static_assert(sizeof(SHA512_CTX) <= sizeof(DigestState));
static_assert(alignof(SHA512_CTX) <= alignof(DigestState));

constexpr std::size_t kMaxBlock = 128;  // SHA-512's block; the others use 64
constexpr std::size_t kMaxDigest = kMaxMacSize;

// The three steps of one digest, on a DigestState that holds that digest's context.
struct DigestFunctions {
  std::size_t block;
  std::size_t size;
  std::size_t context;  // bytes of the DigestState the context takes
  void (*init)(DigestState&);
  void (*update)(DigestState&, const void*, std::size_t);
  void (*final)(DigestState&, unsigned char*);
};

template <typename Ctx, int (*Init)(Ctx*), int (*Update)(Ctx*, const void*, std::size_t),
          int (*Final)(unsigned char*, Ctx*), std::size_t kBlock, std::size_t kSize>
constexpr DigestFunctions MakeFunctions() {
  // These functions only fail on a null context, which never happens here.
  return DigestFunctions{
      kBlock,
      kSize,
      sizeof(Ctx),
      [](DigestState& s) { Init(reinterpret_cast<Ctx*>(s.bytes)); },
      [](DigestState& s, const void* data, std::size_t n) {
        Update(reinterpret_cast<Ctx*>(s.bytes), data, n);
      },
      [](DigestState& s, unsigned char* out) { Final(out, reinterpret_cast<Ctx*>(s.bytes)); },
  };
}

constexpr DigestFunctions kMd5 = MakeFunctions<MD5_CTX, MD5_Init, MD5_Update, MD5_Final, 64, 16>();
constexpr DigestFunctions kSha1 =
    MakeFunctions<SHA_CTX, SHA1_Init, SHA1_Update, SHA1_Final, 64, 20>();
constexpr DigestFunctions kSha256 =
    MakeFunctions<SHA256_CTX, SHA256_Init, SHA256_Update, SHA256_Final, 64, 32>();
constexpr DigestFunctions kSha512 =
    MakeFunctions<SHA512_CTX, SHA512_Init, SHA512_Update, SHA512_Final, 128, 64>();

const DigestFunctions& Functions(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::kMd5:
      return kMd5;
    case Algorithm::kSha1:
      return kSha1;
    case Algorithm::kSha256:
      return kSha256;
    case Algorithm::kSha512:
      return kSha512;
  }
  return kSha256;
}

}  // namespace

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

std::size_t DigestSize(Algorithm algorithm) { return Functions(algorithm).size; }

Bytes Digest(Algorithm algorithm, std::string_view data) {
  const DigestFunctions& f = Functions(algorithm);
  DigestState state;
  f.init(state);
  f.update(state, data.data(), data.size());
  Bytes out(f.size);
  f.final(state, out.data());
  Cleanse(&state, sizeof state);
  return out;
}

// --- KeyedStates, Hmac --------------------------------------------------------------------

void KeyedStates::Wipe() {
  Cleanse(&inner, sizeof inner);
  Cleanse(&outer, sizeof outer);
  live = false;
}

void Hmac::CopyStates(const DigestState& inner, const DigestState& outer) {
  if (algorithm_ == Algorithm::kSha256) {
    // The usual case, with a size the compiler knows: copied inline, no memcpy call.
    std::memcpy(inner_.bytes, inner.bytes, sizeof(SHA256_CTX));
    std::memcpy(outer_.bytes, outer.bytes, sizeof(SHA256_CTX));
  } else {
    const std::size_t context = Functions(algorithm_).context;
    std::memcpy(inner_.bytes, inner.bytes, context);
    std::memcpy(outer_.bytes, outer.bytes, context);
  }
  live_ = true;
}

Hmac::Hmac(Algorithm algorithm, const KeyedStates& states) : algorithm_(algorithm) {
  if (states.live) CopyStates(states.inner, states.outer);
}

Hmac::Hmac(Hmac&& other) noexcept : algorithm_(other.algorithm_) { *this = std::move(other); }

Hmac& Hmac::operator=(Hmac&& other) noexcept {
  if (this != &other) {
    Wipe();
    algorithm_ = other.algorithm_;
    if (other.live_) {
      CopyStates(other.inner_, other.outer_);
      other.Wipe();
    }
  }
  return *this;
}

void Hmac::Wipe() {
  if (!live_) return;
  const std::size_t context = Functions(algorithm_).context;
  Cleanse(inner_.bytes, context);
  Cleanse(outer_.bytes, context);
  live_ = false;
}

void Hmac::Update(std::string_view data) { Update(AsBytes(data)); }

void Hmac::Update(std::span<const std::uint8_t> data) {
  if (!live_ || data.empty()) return;
  Functions(algorithm_).update(inner_, data.data(), data.size());
}

std::size_t Hmac::FinalInto(std::span<std::uint8_t, kMaxMacSize> out) {
  if (!live_) return 0;
  const DigestFunctions& f = Functions(algorithm_);
  std::array<unsigned char, kMaxDigest> inner_digest;
  f.final(inner_, inner_digest.data());
  f.update(outer_, inner_digest.data(), f.size);
  f.final(outer_, out.data());
  Cleanse(inner_digest.data(), f.size);
  Wipe();
  return f.size;
}

Bytes Hmac::Final() {
  std::array<std::uint8_t, kMaxMacSize> mac;
  const std::size_t size = FinalInto(mac);
  return Bytes(mac.begin(), mac.begin() + static_cast<std::ptrdiff_t>(size));
}

// --- HmacKey ----------------------------------------------------------------------------------

HmacKey::HmacKey(Algorithm algorithm) : algorithm_(algorithm), storage_(sizeof(KeyedStates)) {
  static_assert(alignof(KeyedStates) <= 4096, "page alignment covers KeyedStates");
  new (storage_.data()) KeyedStates();
}

HmacKey::~HmacKey() {
  if (storage_.data() != nullptr) states().~KeyedStates();
}

Expected<HmacKey> HmacKey::Create(Algorithm algorithm, std::span<const std::uint8_t> key) {
  if (key.empty()) return Error{"an HMAC key must not be empty"};
  const DigestFunctions& f = Functions(algorithm);
  // RFC 2104: a key longer than the block is replaced by its digest; the key is then padded
  // with zeros to the block size and XORed with 0x36 (inner) and 0x5c (outer).
  std::array<unsigned char, kMaxBlock> block{};
  if (key.size() > f.block) {
    DigestState hashed;
    f.init(hashed);
    f.update(hashed, key.data(), key.size());
    f.final(hashed, block.data());
    Cleanse(&hashed, sizeof hashed);
  } else {
    std::copy(key.begin(), key.end(), block.begin());
  }
  HmacKey made(algorithm);
  std::array<unsigned char, kMaxBlock> pad;
  for (std::size_t i = 0; i < f.block; ++i) pad[i] = block[i] ^ 0x36;
  f.init(made.states().inner);
  f.update(made.states().inner, pad.data(), f.block);
  for (std::size_t i = 0; i < f.block; ++i) pad[i] = block[i] ^ 0x5c;
  f.init(made.states().outer);
  f.update(made.states().outer, pad.data(), f.block);
  made.states().live = true;
  Cleanse(block.data(), block.size());
  Cleanse(pad.data(), pad.size());
  return made;
}

Bytes HmacKey::Compute(std::string_view message) const {
  Hmac hmac = Start();
  hmac.Update(message);
  return hmac.Final();
}

}  // namespace hw::crypto
