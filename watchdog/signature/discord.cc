// The discord scheme (interactions endpoint): an Ed25519 signature, not an HMAC.
// X-Signature-Ed25519 holds the hex signature of X-Signature-Timestamp ‖ body; the "secret"
// file holds the application's public key in hex. Ed25519 cannot be computed in chunks, so
// this scheme keeps a copy of the body (Discord interaction payloads are small).
// For the sign command the secret file holds the private seed in hex instead.
#include "crypto/ed25519.h"
#include "signature/header_values.h"
#include "signature/scheme.h"

namespace hw::signature {
namespace {

constexpr std::string_view kTimestampHeader = "X-Signature-Timestamp";

class DiscordCheck final : public BodyCheck {
 public:
  DiscordCheck(std::string message, const crypto::ShortBytes& signature,
               std::span<const PreparedKey> keys)
      : message_(std::move(message)), signature_(signature), keys_(keys) {}
  void Update(std::string_view chunk) override { message_.append(chunk); }
  Outcome Finish() override {
    bool valid = false;
    for (const PreparedKey& key : keys_) {
      if (key.ed25519 && key.ed25519->Verify(crypto::AsBytes(message_), signature_.view()))
        valid = true;
    }
    return valid ? Outcome::kValid : Outcome::kMismatch;
  }

 private:
  std::string message_;
  crypto::ShortBytes signature_;
  std::span<const PreparedKey> keys_;  // owned by the snapshot the request holds
};

class Discord final : public Scheme {
 public:
  explicit Discord(const config::SignatureOptions& options)
      : header_(SignatureHeader(options, "discord", "X-Signature-Ed25519")) {}
  std::string_view Name() const override { return "discord"; }
  bool SecretIsPublic() const override { return true; }
  std::string SignatureHeaderName() const override { return header_; }
  bool Present(const HeaderSource& headers) const override { return headers.Count(header_) != 0; }

  Expected<PreparedKey> Prepare(const secrets::Secret& secret) const override {
    const std::optional<crypto::Bytes> raw = crypto::DecodeHex(
        crypto::AsText(secret.Expose()), crypto::kEd25519KeySize, crypto::HexCase::kAny);
    if (!raw) return Error{"expected the application's Ed25519 public key as 64 hex digits"};
    Expected<crypto::Ed25519PublicKey> key = crypto::Ed25519PublicKey::Create(*raw);
    if (!key) return key.error();
    PreparedKey prepared;
    prepared.ed25519.emplace(std::move(key).value());
    return prepared;
  }

  Started Start(const Request& request, std::span<const PreparedKey> keys) const override {
    const HeaderSource& headers = request.head.headers;
    auto value = SingleValue(headers, header_);
    if (const Outcome* failed = std::get_if<Outcome>(&value)) return Started{*failed, nullptr, {}};
    auto timestamp = SingleValue(headers, kTimestampHeader);
    if (const Outcome* failed = std::get_if<Outcome>(&timestamp)) {
      return Started{*failed, nullptr, {}};
    }
    crypto::ShortBytes signature;
    const std::string_view ts = std::get<std::string_view>(timestamp);
    if (!DecodeSignature(std::get<std::string_view>(value), "", Encoding::kHex,
                         crypto::kEd25519SignatureSize, signature) ||
        !ParseUnixSecondsAsMillis(ts)) {
      return Started{Outcome::kMalformed, nullptr, {}};
    }
    return Started{
        Outcome::kMismatch, MakeCheck<DiscordCheck>(request, std::string(ts), signature, keys), {}};
  }

  Expected<std::vector<HeaderLine>> Sign(const secrets::Secret& secret,
                                         const SignInput& input) const override {
    const std::optional<crypto::Bytes> seed = crypto::DecodeHex(
        crypto::AsText(secret.Expose()), crypto::kEd25519KeySize, crypto::HexCase::kAny);
    if (!seed) {
      return Error{
          "discord: to sign, the secret file must hold the Ed25519 private seed as 64 "
          "hex digits"};
    }
    const std::string ts = std::to_string(input.timestamp);
    std::string message = ts;
    message.append(input.body);
    crypto::Bytes private_seed = std::move(*seed);
    Expected<crypto::Bytes> signature = crypto::Ed25519Sign(private_seed, crypto::AsBytes(message));
    crypto::Cleanse(private_seed.data(), private_seed.size());
    if (!signature) return signature.error();
    return std::vector<HeaderLine>{{header_, crypto::EncodeHex(*signature)},
                                   {std::string(kTimestampHeader), ts}};
  }

 private:
  std::string header_;
};

}  // namespace

Expected<std::unique_ptr<Scheme>> MakeDiscord(const config::SignatureOptions& options) {
  return std::unique_ptr<Scheme>(std::make_unique<Discord>(options));
}

}  // namespace hw::signature
