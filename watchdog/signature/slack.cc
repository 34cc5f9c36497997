// The slack scheme: X-Slack-Signature "v0=<hex>" over "v0:" ‖ X-Slack-Request-Timestamp ‖ ":"
// ‖ body. SlackStyleScheme also serves zoom.
#include "signature/slack.h"

namespace hw::signature {

SlackStyleScheme::SlackStyleScheme(std::string_view name, std::string_view signature_header,
                                   std::string_view timestamp_header,
                                   const config::SignatureOptions& options)
    : HmacScheme({crypto::Algorithm::kSha256}, SignatureHeader(options, name, signature_header)),
      name_(name),
      timestamp_header_(timestamp_header) {}

Parsed SlackStyleScheme::Parse(const Request& request) const {
  auto signature = SingleValue(request.head.headers, header());
  if (const Outcome* failed = std::get_if<Outcome>(&signature)) return *failed;
  auto timestamp = SingleValue(request.head.headers, timestamp_header_);
  if (const Outcome* failed = std::get_if<Outcome>(&timestamp)) return *failed;
  auto mac = DecodeSignature(std::get<std::string_view>(signature), "v0=", Encoding::kHex, 32);
  if (!mac) return Outcome::kMalformed;
  const std::string_view ts = std::get<std::string_view>(timestamp);
  const std::optional<std::int64_t> millis = ParseUnixSecondsAsMillis(ts);
  if (!millis) return Outcome::kMalformed;
  if (Outcome fresh = CheckFreshness(*millis, request); fresh != Outcome::kValid) {
    return fresh;
  }
  MacPlan plan;
  plan.prefix = "v0:" + std::string(ts) + ":";
  plan.candidates.push_back({crypto::Algorithm::kSha256, std::move(*mac)});
  return plan;
}

std::vector<HeaderLine> SlackStyleScheme::SignWith(const PreparedKey& key,
                                                   const SignInput& input) const {
  const std::string ts = std::to_string(input.timestamp);
  const crypto::Bytes mac =
      ComputeMac(key, crypto::Algorithm::kSha256, "v0:" + ts + ":", input.body);
  return {{timestamp_header_, ts}, {header(), "v0=" + crypto::EncodeHex(mac)}};
}

Expected<std::unique_ptr<Scheme>> MakeSlack(const config::SignatureOptions& options) {
  return std::unique_ptr<Scheme>(std::make_unique<SlackStyleScheme>(
      "slack", "X-Slack-Signature", "X-Slack-Request-Timestamp", options));
}

}  // namespace hw::signature
