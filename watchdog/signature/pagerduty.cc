// The pagerduty scheme (webhooks v3): X-PagerDuty-Signature "v1=<hex>[,v1=<hex>...]",
// HMAC-SHA256 of the body; any v1 may match (one per signing secret during rotation).
#include "signature/hmac_scheme.h"

namespace hw::signature {
namespace {

class PagerDuty final : public HmacScheme {
 public:
  explicit PagerDuty(const config::SignatureOptions& options)
      : HmacScheme({crypto::Algorithm::kSha256},
                   SignatureHeader(options, "pagerduty", "X-PagerDuty-Signature")) {}
  std::string_view Name() const override { return "pagerduty"; }

 protected:
  Parsed Parse(const Request& request) const override {
    auto value = SingleValue(request.head.headers, header());
    if (const Outcome* failed = std::get_if<Outcome>(&value)) return *failed;
    MacPlan plan;
    for (std::string_view item : Split(std::get<std::string_view>(value), ',')) {
      const std::size_t equals = item.find('=');
      if (equals == std::string_view::npos) return Outcome::kMalformed;
      if (item.substr(0, equals) != "v1") continue;
      auto mac = DecodeSignature(item.substr(equals + 1), "", Encoding::kHex, 32);
      if (!mac) return Outcome::kMalformed;
      plan.candidates.push_back({crypto::Algorithm::kSha256, std::move(*mac)});
    }
    if (plan.candidates.empty()) return Outcome::kMalformed;
    return plan;
  }

  std::vector<HeaderLine> SignWith(const PreparedKey& key, const SignInput& input) const override {
    const crypto::Bytes mac = ComputeMac(key, crypto::Algorithm::kSha256, {}, input.body);
    return {{header(), "v1=" + crypto::EncodeHex(mac)}};
  }

 private:
};

}  // namespace

Expected<std::unique_ptr<Scheme>> MakePagerDuty(const config::SignatureOptions& options) {
  return std::unique_ptr<Scheme>(std::make_unique<PagerDuty>(options));
}

}  // namespace hw::signature
