// The square scheme: x-square-hmacsha256-signature, base64 HMAC-SHA256 of the notification
// URL ‖ body. The URL is hmac_public_url (plus the request path and query, see SignedUrl),
// because behind a gateway the watchdog cannot know the URL the sender used.
#include "signature/hmac_scheme.h"

namespace hw::signature {
namespace {

class Square final : public HmacScheme {
 public:
  explicit Square(const config::SignatureOptions& options)
      : HmacScheme({crypto::Algorithm::kSha256},
                   SignatureHeader(options, "square", "x-square-hmacsha256-signature")),
        public_url_(options.public_url) {}
  std::string_view Name() const override { return "square"; }

 protected:
  Outcome Parse(const Request& request, MacPlan& plan) const override {
    auto value = SingleValue(request.head.headers, header());
    if (const Outcome* failed = std::get_if<Outcome>(&value)) return *failed;
    MacCandidate& candidate = plan.candidates.emplace_back();
    candidate.algorithm = crypto::Algorithm::kSha256;
    if (!DecodeSignature(std::get<std::string_view>(value), "", Encoding::kBase64, 32,
                         candidate.mac)) {
      return Outcome::kMalformed;
    }
    plan.prefix = SignedUrl(public_url_, request.head.path, request.head.query);
    return Outcome::kValid;
  }

  std::vector<HeaderLine> SignWith(const PreparedKey& key, const SignInput& input) const override {
    const crypto::Bytes mac =
        ComputeMac(key, crypto::Algorithm::kSha256, SignedUrl(public_url_, input.path, input.query),
                   input.body);
    return {{header(), crypto::EncodeBase64(mac)}};
  }

 private:
  std::string public_url_;
};

}  // namespace

Expected<std::unique_ptr<Scheme>> MakeSquare(const config::SignatureOptions& options) {
  if (options.public_url.empty()) {
    return Error{
        "hmac_public_url is required with hmac_scheme=square: the notification URL "
        "configured at Square"};
  }
  return std::unique_ptr<Scheme>(std::make_unique<Square>(options));
}

}  // namespace hw::signature
