#include "signature/timestamped_list.h"

namespace hw::signature {
namespace {

class TimestampedList final : public HmacScheme {
 public:
  TimestampedList(const TimestampedListFormat& format, const config::SignatureOptions& options)
      : HmacScheme({crypto::Algorithm::kSha256},
                   SignatureHeader(options, format.name, format.header)),
        format_(format) {}
  std::string_view Name() const override { return format_.name; }

 protected:
  Parsed Parse(const Request& request) const override {
    auto value = SingleValue(request.head.headers, header());
    if (const Outcome* failed = std::get_if<Outcome>(&value)) return *failed;
    std::optional<std::string_view> timestamp;
    MacPlan plan;
    for (std::string_view item : Split(std::get<std::string_view>(value), format_.item_separator)) {
      const std::size_t equals = item.find('=');
      if (equals == std::string_view::npos) return Outcome::kMalformed;
      const std::string_view key = item.substr(0, equals);
      const std::string_view text = item.substr(equals + 1);
      if (key == format_.timestamp_key) {
        if (timestamp) return Outcome::kMalformed;
        timestamp = text;
      } else if (key == format_.mac_key) {
        auto mac = DecodeSignature(text, "", Encoding::kHex, 32);
        if (!mac) return Outcome::kMalformed;
        plan.candidates.push_back({crypto::Algorithm::kSha256, std::move(*mac)});
      }
    }
    if (!timestamp || plan.candidates.empty()) return Outcome::kMalformed;
    const std::optional<std::int64_t> millis = ParseUnixSecondsAsMillis(*timestamp);
    if (!millis) return Outcome::kMalformed;
    if (Outcome fresh = CheckFreshness(*millis, request); fresh != Outcome::kValid) {
      return fresh;
    }
    plan.prefix = std::string(*timestamp) + format_.signed_separator;
    return plan;
  }

  std::vector<HeaderLine> SignWith(const PreparedKey& key, const SignInput& input) const override {
    const std::string ts = std::to_string(input.timestamp);
    const crypto::Bytes mac =
        ComputeMac(key, crypto::Algorithm::kSha256, ts + format_.signed_separator, input.body);
    return {{header(), std::string(format_.timestamp_key) + "=" + ts + format_.item_separator +
                           std::string(format_.mac_key) + "=" + crypto::EncodeHex(mac)}};
  }

 private:
  TimestampedListFormat format_;
};

}  // namespace

std::unique_ptr<Scheme> MakeTimestampedList(const TimestampedListFormat& format,
                                            const config::SignatureOptions& options) {
  return std::make_unique<TimestampedList>(format, options);
}

}  // namespace hw::signature
