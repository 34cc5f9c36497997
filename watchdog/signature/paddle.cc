// The paddle scheme (Paddle Billing): Paddle-Signature "ts=<unix>;h1=<hex>[;h1=<hex>...]",
// HMAC-SHA256 of ts ‖ ":" ‖ body. Every h1 is a candidate (secret rotation). Paddle's SDKs
// allow only 5 seconds of skew; hmac_tolerance applies here.
#include "signature/hmac_scheme.h"

namespace hw::signature {
namespace {

class Paddle final : public HmacScheme {
 public:
  explicit Paddle(const config::SignatureOptions& options)
      : HmacScheme({crypto::Algorithm::kSha256}),
        header_(SignatureHeader(options, "Paddle-Signature")) {}
  std::string_view Name() const override { return "paddle"; }
  bool Present(const HeaderSource& headers) const override {
    return !headers.Values(header_).empty();
  }

 protected:
  Parsed Parse(const Request& request) const override {
    auto value = SingleValue(request.head.headers, header_);
    if (const Outcome* failed = std::get_if<Outcome>(&value)) return *failed;
    std::optional<std::string_view> timestamp;
    MacPlan plan;
    for (std::string_view item : Split(std::get<std::string_view>(value), ';')) {
      const std::size_t equals = item.find('=');
      if (equals == std::string_view::npos) return Outcome::kMalformed;
      const std::string_view key = item.substr(0, equals);
      const std::string_view text = item.substr(equals + 1);
      if (key == "ts") {
        if (timestamp) return Outcome::kMalformed;
        timestamp = text;
      } else if (key == "h1") {
        auto mac = DecodeSignature(text, "", Encoding::kHex, 32);
        if (!mac) return Outcome::kMalformed;
        plan.candidates.push_back({crypto::Algorithm::kSha256, std::move(*mac)});
      }
    }
    if (!timestamp || plan.candidates.empty()) return Outcome::kMalformed;
    const std::optional<std::int64_t> seconds = ParseDecimal(*timestamp);
    if (!seconds) return Outcome::kMalformed;
    if (Outcome fresh = CheckFreshness(*seconds * 1000, request); fresh != Outcome::kValid) {
      return fresh;
    }
    plan.prefix = std::string(*timestamp) + ":";
    return plan;
  }

  std::vector<HeaderLine> SignWith(const PreparedKey& key, const SignInput& input) const override {
    const std::string ts = std::to_string(input.timestamp);
    const crypto::Bytes mac = ComputeMac(key, crypto::Algorithm::kSha256, ts + ":", input.body);
    return {{header_, "ts=" + ts + ";h1=" + crypto::EncodeHex(mac)}};
  }

 private:
  std::string header_;
};

}  // namespace

Expected<std::unique_ptr<Scheme>> MakePaddle(const config::SignatureOptions& options) {
  return std::unique_ptr<Scheme>(std::make_unique<Paddle>(options));
}

}  // namespace hw::signature
