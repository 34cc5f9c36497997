// The gitlab scheme: no MAC at all. X-Gitlab-Token carries the secret itself; it is compared
// in constant time (as SHA-256 digests, so not even the token's length leaks).
#include "crypto/sha256.h"
#include "signature/header_values.h"
#include "signature/scheme.h"

namespace hw::signature {
namespace {

class Gitlab final : public Scheme {
 public:
  explicit Gitlab(const config::SignatureOptions& options)
      : header_(SignatureHeader(options, "gitlab", "X-Gitlab-Token")) {}
  std::string_view Name() const override { return "gitlab"; }
  std::string SignatureHeaderName() const override { return header_; }
  bool Present(const HeaderSource& headers) const override { return headers.Count(header_) != 0; }

  Expected<PreparedKey> Prepare(const secrets::Secret& secret) const override {
    PreparedKey key;
    key.token_digest = crypto::Sha256(crypto::AsText(secret.Expose()));
    return key;
  }

  Started Start(const Request& request, std::span<const PreparedKey> keys) const override {
    auto value = SingleValue(request.head.headers, header_);
    if (const Outcome* failed = std::get_if<Outcome>(&value)) return Started{*failed, nullptr, {}};
    const crypto::Bytes digest = crypto::Sha256(std::get<std::string_view>(value));
    bool valid = false;
    for (const PreparedKey& key : keys) {
      if (crypto::ConstantTimeEqual(digest, key.token_digest)) valid = true;
    }
    return Started{valid ? Outcome::kValid : Outcome::kMismatch, nullptr, {}};
  }

  Expected<std::vector<HeaderLine>> Sign(const secrets::Secret& secret,
                                         const SignInput&) const override {
    return std::vector<HeaderLine>{{header_, std::string(crypto::AsText(secret.Expose()))}};
  }

 private:
  std::string header_;
};

}  // namespace

Expected<std::unique_ptr<Scheme>> MakeGitlab(const config::SignatureOptions& options) {
  return std::unique_ptr<Scheme>(std::make_unique<Gitlab>(options));
}

}  // namespace hw::signature
