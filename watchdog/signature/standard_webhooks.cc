// The standard-webhooks scheme (webhook-* headers); StandardWebhooksScheme also serves svix.
#include "signature/standard_webhooks.h"

namespace hw::signature {

StandardWebhooksScheme::StandardWebhooksScheme(std::string_view name,
                                               std::vector<HeaderNames> names,
                                               const config::SignatureOptions& options)
    : HmacScheme({crypto::Algorithm::kSha256}), name_(name), names_(std::move(names)) {
  names_.front().signature = SignatureHeader(options, name, names_.front().signature);
}

bool StandardWebhooksScheme::Present(const HeaderSource& headers) const {
  for (const HeaderNames& n : names_) {
    if (!headers.Values(n.signature).empty()) return true;
  }
  return false;
}

Parsed StandardWebhooksScheme::Parse(const Request& request) const {
  const HeaderSource& headers = request.head.headers;
  const HeaderNames* names = &names_.front();
  for (const HeaderNames& n : names_) {
    if (!headers.Values(n.signature).empty()) {
      names = &n;
      break;
    }
  }
  auto signature = SingleValue(headers, names->signature);
  if (const Outcome* failed = std::get_if<Outcome>(&signature)) return *failed;
  auto id = SingleValue(headers, names->id);
  if (const Outcome* failed = std::get_if<Outcome>(&id)) return *failed;
  auto timestamp = SingleValue(headers, names->timestamp);
  if (const Outcome* failed = std::get_if<Outcome>(&timestamp)) return *failed;

  MacPlan plan;
  for (std::string_view entry : Split(std::get<std::string_view>(signature), ' ')) {
    if (entry.empty()) continue;
    const std::size_t comma = entry.find(',');
    if (comma == std::string_view::npos) return Outcome::kMalformed;
    if (entry.substr(0, comma) != "v1") continue;  // v1a (asymmetric) and future versions
    auto mac = DecodeSignature(entry.substr(comma + 1), "", Encoding::kBase64, 32);
    if (!mac) return Outcome::kMalformed;
    plan.candidates.push_back({crypto::Algorithm::kSha256, std::move(*mac)});
  }
  if (plan.candidates.empty()) return Outcome::kMalformed;
  const std::string_view id_text = std::get<std::string_view>(id);
  const std::string_view ts = std::get<std::string_view>(timestamp);
  if (id_text.empty()) return Outcome::kMalformed;
  const std::optional<std::int64_t> millis = ParseUnixSecondsAsMillis(ts);
  if (!millis) return Outcome::kMalformed;
  if (Outcome fresh = CheckFreshness(*millis, request); fresh != Outcome::kValid) {
    return fresh;
  }
  auto replay = ReplayKeyOf(request, names->id, id_text);
  if (const Outcome* failed = std::get_if<Outcome>(&replay)) return *failed;
  plan.replay_key = std::move(std::get<std::string>(replay));
  plan.prefix.append(id_text).append(".").append(ts).append(".");
  return plan;
}

std::vector<HeaderLine> StandardWebhooksScheme::SignWith(const PreparedKey& key,
                                                         const SignInput& input) const {
  const std::string ts = std::to_string(input.timestamp);
  const std::string prefix = std::string(input.id) + "." + ts + ".";
  const crypto::Bytes mac = ComputeMac(key, crypto::Algorithm::kSha256, prefix, input.body);
  const HeaderNames& n = names_.front();
  return {{n.id, std::string(input.id)},
          {n.timestamp, ts},
          {n.signature, "v1," + crypto::EncodeBase64(mac)}};
}

Expected<secrets::Secret> StandardWebhooksScheme::KeyOf(const secrets::Secret& secret) const {
  std::string_view text = crypto::AsText(secret.Expose());
  if (text.starts_with("whsec_")) text.remove_prefix(6);
  std::optional<crypto::Bytes> key = crypto::DecodeBase64(text);
  if (!key || key->empty()) {
    if (key) crypto::Cleanse(key->data(), key->size());
    return Error{"expected \"whsec_\" followed by the base64 key the provider shows"};
  }
  secrets::Secret decoded(*key);
  crypto::Cleanse(key->data(), key->size());
  return decoded;
}

Expected<std::unique_ptr<Scheme>> MakeStandardWebhooks(const config::SignatureOptions& options) {
  return std::unique_ptr<Scheme>(std::make_unique<StandardWebhooksScheme>(
      "standard-webhooks",
      std::vector<StandardWebhooksScheme::HeaderNames>{
          {"webhook-id", "webhook-timestamp", "webhook-signature"}},
      options));
}

}  // namespace hw::signature
