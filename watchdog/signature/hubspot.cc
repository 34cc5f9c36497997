// The hubspot scheme (signature v3): X-HubSpot-Signature-v3, base64 HMAC-SHA256 of
// method ‖ URL ‖ body ‖ X-HubSpot-Request-Timestamp (Unix milliseconds, checked against
// hmac_tolerance). The URL is hmac_public_url plus the request path and query (SignedUrl).
#include "signature/hmac_scheme.h"

namespace hw::signature {
namespace {

constexpr std::string_view kTimestampHeader = "X-HubSpot-Request-Timestamp";

class HubSpot final : public HmacScheme {
 public:
  explicit HubSpot(const config::SignatureOptions& options)
      : HmacScheme({crypto::Algorithm::kSha256},
                   SignatureHeader(options, "hubspot", "X-HubSpot-Signature-v3")),
        public_url_(options.public_url) {}
  std::string_view Name() const override { return "hubspot"; }

 protected:
  Outcome Parse(const Request& request, MacPlan& plan) const override {
    auto value = SingleValue(request.head.headers, header());
    if (const Outcome* failed = std::get_if<Outcome>(&value)) return *failed;
    auto timestamp = SingleValue(request.head.headers, kTimestampHeader);
    if (const Outcome* failed = std::get_if<Outcome>(&timestamp)) return *failed;
    MacCandidate& candidate = plan.candidates.emplace_back();
    candidate.algorithm = crypto::Algorithm::kSha256;
    if (!DecodeSignature(std::get<std::string_view>(value), "", Encoding::kBase64, 32,
                         candidate.mac)) {
      return Outcome::kMalformed;
    }
    const std::string_view ts = std::get<std::string_view>(timestamp);
    const std::optional<std::int64_t> millis = ParseUnixMillis(ts);
    if (!millis) return Outcome::kMalformed;
    if (Outcome fresh = CheckFreshness(*millis, request); fresh != Outcome::kValid) return fresh;
    plan.prefix = std::string(request.head.method) +
                  SignedUrl(public_url_, request.head.path, request.head.query);
    plan.suffix = std::string(ts);
    return Outcome::kValid;
  }

  std::vector<HeaderLine> SignWith(const PreparedKey& key, const SignInput& input) const override {
    const std::string ts = std::to_string(input.timestamp * 1000);
    const crypto::Bytes mac =
        ComputeMac(key, crypto::Algorithm::kSha256,
                   std::string(input.method) + SignedUrl(public_url_, input.path, input.query),
                   input.body, ts);
    return {{std::string(kTimestampHeader), ts}, {header(), crypto::EncodeBase64(mac)}};
  }

 private:
  std::string public_url_;
};

}  // namespace

Expected<std::unique_ptr<Scheme>> MakeHubSpot(const config::SignatureOptions& options) {
  if (options.public_url.empty()) {
    return Error{
        "hmac_public_url is required with hmac_scheme=hubspot: the target URL "
        "configured at HubSpot"};
  }
  return std::unique_ptr<Scheme>(std::make_unique<HubSpot>(options));
}

}  // namespace hw::signature
