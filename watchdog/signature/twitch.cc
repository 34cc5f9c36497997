// The twitch scheme (EventSub): Twitch-Eventsub-Message-Signature "sha256=<hex>" over
// message id ‖ timestamp ‖ body; the timestamp is RFC 3339 and checked against
// hmac_tolerance (Twitch's own advice is 10 minutes); the message id is the replay id.
#include <ctime>

#include "signature/hmac_scheme.h"

namespace hw::signature {
namespace {

constexpr std::string_view kIdHeader = "Twitch-Eventsub-Message-Id";
constexpr std::string_view kTimestampHeader = "Twitch-Eventsub-Message-Timestamp";

std::string Rfc3339(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm parts{};
  gmtime_r(&t, &parts);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return std::string(text, n);
}

class Twitch final : public HmacScheme {
 public:
  explicit Twitch(const config::SignatureOptions& options)
      : HmacScheme({crypto::Algorithm::kSha256},
                   SignatureHeader(options, "twitch", "Twitch-Eventsub-Message-Signature")) {}
  std::string_view Name() const override { return "twitch"; }

 protected:
  Parsed Parse(const Request& request) const override {
    const HeaderSource& headers = request.head.headers;
    auto signature = SingleValue(headers, header());
    if (const Outcome* failed = std::get_if<Outcome>(&signature)) return *failed;
    auto id = SingleValue(headers, kIdHeader);
    if (const Outcome* failed = std::get_if<Outcome>(&id)) return *failed;
    auto timestamp = SingleValue(headers, kTimestampHeader);
    if (const Outcome* failed = std::get_if<Outcome>(&timestamp)) return *failed;
    auto mac =
        DecodeSignature(std::get<std::string_view>(signature), "sha256=", Encoding::kHex, 32);
    if (!mac) return Outcome::kMalformed;
    const std::string_view id_text = std::get<std::string_view>(id);
    const std::string_view ts = std::get<std::string_view>(timestamp);
    if (id_text.empty()) return Outcome::kMalformed;
    const std::optional<std::int64_t> millis = ParseRfc3339Millis(ts);
    if (!millis) return Outcome::kMalformed;
    if (Outcome fresh = CheckFreshness(*millis, request); fresh != Outcome::kValid) return fresh;
    auto replay = ReplayKeyOf(request, kIdHeader, id_text);
    if (const Outcome* failed = std::get_if<Outcome>(&replay)) return *failed;
    MacPlan plan;
    plan.replay_key = std::move(std::get<std::string>(replay));
    plan.prefix.append(id_text).append(ts);
    plan.candidates.push_back({crypto::Algorithm::kSha256, std::move(*mac)});
    return plan;
  }

  std::vector<HeaderLine> SignWith(const PreparedKey& key, const SignInput& input) const override {
    const std::string ts = Rfc3339(input.timestamp);
    const crypto::Bytes mac =
        ComputeMac(key, crypto::Algorithm::kSha256, std::string(input.id) + ts, input.body);
    return {{std::string(kIdHeader), std::string(input.id)},
            {std::string(kTimestampHeader), ts},
            {header(), "sha256=" + crypto::EncodeHex(mac)}};
  }

 private:
};

}  // namespace

Expected<std::unique_ptr<Scheme>> MakeTwitch(const config::SignatureOptions& options) {
  return std::unique_ptr<Scheme>(std::make_unique<Twitch>(options));
}

}  // namespace hw::signature
