#include "signature/table_scheme.h"

#include <ctime>
#include <optional>
#include <string>
#include <utility>

#include "signature/hmac_scheme.h"

namespace hw::signature {
namespace {

// The template with {id} and {ts} replaced.
std::string Expand(std::string_view text, std::string_view id, std::string_view ts) {
  std::string out;
  while (!text.empty()) {
    if (text.starts_with("{id}")) {
      out.append(id);
      text.remove_prefix(4);
    } else if (text.starts_with("{ts}")) {
      out.append(ts);
      text.remove_prefix(4);
    } else {
      out.push_back(text.front());
      text.remove_prefix(1);
    }
  }
  return out;
}

std::string Rfc3339(std::int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm parts{};
  gmtime_r(&t, &parts);
  char text[32];
  const std::size_t n = std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &parts);
  return std::string(text, n);
}

std::vector<crypto::Algorithm> AlgorithmsOf(const MacFormat& format,
                                            const config::SignatureOptions& options) {
  std::vector<crypto::Algorithm> algorithms{format.algorithm};
  if (!format.sha1_prefix.empty() && options.allow_sha1) {
    algorithms.push_back(crypto::Algorithm::kSha1);
  }
  return algorithms;
}

class TableScheme final : public HmacScheme {
 public:
  TableScheme(std::string_view name, const MacFormat& format,
              const config::SignatureOptions& options)
      : HmacScheme(AlgorithmsOf(format, options),
                   SignatureHeader(options, name, format.headers.signature)),
        name_(name),
        format_(format),
        prefix_(format.prefix),
        allow_sha1_(!format.sha1_prefix.empty() && options.allow_sha1),
        signs_id_(format.signed_prefix.find("{id}") != std::string_view::npos),
        has_timestamp_(!format.headers.timestamp.empty() || !format.list.timestamp_key.empty()) {
    format_.prefix = {};  // prefix_ holds it
    if (format_.list.separator == 0 && format_.signed_prefix.empty() && !has_timestamp_ &&
        !signs_id_ && format_.fallback.signature.empty() && !allow_sha1_) {
      plain_ = PlainMac{header(), prefix_, format_.algorithm, format_.encoding, format_.hex_case};
    }
  }

  // Not copied or moved: plain_ views this scheme's own header and prefix.
  TableScheme(const TableScheme&) = delete;
  TableScheme& operator=(const TableScheme&) = delete;

  std::string_view Name() const override { return name_; }
  const PlainMac* Plain() const override { return plain_ ? &*plain_ : nullptr; }

  bool Present(const HeaderSource& headers) const override {
    return headers.Count(header()) != 0 ||
           (!format_.fallback.signature.empty() && headers.Count(format_.fallback.signature) != 0);
  }

 protected:
  Outcome Parse(const Request& request, MacPlan& plan) const override {
    const HeaderSource& headers = request.head.headers;
    // The first header set whose signature header is present (the configured one if none).
    HeaderNames names = format_.headers;
    names.signature = header();
    if (!format_.fallback.signature.empty() && headers.Count(names.signature) == 0 &&
        headers.Count(format_.fallback.signature) != 0) {
      names = format_.fallback;
    }
    auto signature = SingleValue(headers, names.signature);
    if (const Outcome* failed = std::get_if<Outcome>(&signature)) return *failed;
    std::string_view id;
    if (signs_id_) {
      auto value = SingleValue(headers, names.id);
      if (const Outcome* failed = std::get_if<Outcome>(&value)) return *failed;
      id = std::get<std::string_view>(value);
    }
    std::string_view ts;
    if (!names.timestamp.empty()) {
      auto value = SingleValue(headers, names.timestamp);
      if (const Outcome* failed = std::get_if<Outcome>(&value)) return *failed;
      ts = std::get<std::string_view>(value);
    }

    const std::string_view text = std::get<std::string_view>(signature);
    const Outcome decoded =
        format_.list.separator == 0 ? DecodeValue(text, plan) : DecodeList(text, plan, ts);
    if (decoded != Outcome::kValid) return decoded;

    if (signs_id_ && id.empty()) return Outcome::kMalformed;
    if (has_timestamp_) {
      const std::optional<std::int64_t> millis = format_.timestamp_form == TimestampForm::kRfc3339
                                                     ? ParseRfc3339Millis(ts)
                                                     : ParseUnixSecondsAsMillis(ts);
      if (!millis) return Outcome::kMalformed;
      if (Outcome fresh = CheckFreshness(*millis, request); fresh != Outcome::kValid) return fresh;
    }
    if (signs_id_) {
      // A signed id is the delivery's identity; an unsigned one is not (HmacScheme::Start
      // then keys the replay store on the signature).
      auto replay = ReplayKeyOf(request, names.id, id);
      if (const Outcome* failed = std::get_if<Outcome>(&replay)) return *failed;
      plan.replay_key = std::move(std::get<std::string>(replay));
    }
    plan.prefix = Expand(format_.signed_prefix, id, ts);
    return Outcome::kValid;
  }

  std::vector<HeaderLine> SignWith(const PreparedKey& key, const SignInput& input) const override {
    const std::string ts = format_.timestamp_form == TimestampForm::kRfc3339
                               ? Rfc3339(input.timestamp)
                               : std::to_string(input.timestamp);
    const crypto::Bytes mac =
        ComputeMac(key, format_.algorithm, Expand(format_.signed_prefix, input.id, ts), input.body);
    const std::string encoded = EncodeSignature(mac, format_.encoding);
    std::string value;
    const ItemList& list = format_.list;
    if (list.separator == 0) {
      value = prefix_ + encoded;
    } else {
      if (!list.timestamp_key.empty()) {
        value.append(list.timestamp_key).append(1, list.key_separator).append(ts);
        value.push_back(list.separator);
      }
      value.append(list.mac_key).append(1, list.key_separator).append(encoded);
    }
    const HeaderNames& names = format_.headers;
    std::vector<HeaderLine> lines;
    if (signs_id_) lines.emplace_back(std::string(names.id), std::string(input.id));
    if (!names.timestamp.empty()) lines.emplace_back(std::string(names.timestamp), ts);
    lines.emplace_back(header(), std::move(value));
    if (!signs_id_ && !names.id.empty()) {
      lines.emplace_back(std::string(names.id), std::string(input.id));
    }
    return lines;
  }

  Expected<secrets::Secret> KeyOf(const secrets::Secret& secret) const override {
    if (format_.key == KeyForm::kAsIs) return secret.Clone();
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

 private:
  // A one-value header: the first accepted prefix decides the algorithm.
  Outcome DecodeValue(std::string_view text, MacPlan& plan) const {
    const std::pair<std::string_view, crypto::Algorithm> forms[] = {
        {prefix_, format_.algorithm}, {format_.sha1_prefix, crypto::Algorithm::kSha1}};
    for (std::size_t i = 0; i < (allow_sha1_ ? 2u : 1u); ++i) {
      const auto& [prefix, algorithm] = forms[i];
      if (!text.starts_with(prefix)) continue;
      MacCandidate& candidate = plan.candidates.emplace_back();
      candidate.algorithm = algorithm;
      return DecodeSignature(text, prefix, format_.encoding, crypto::DigestSize(algorithm),
                             candidate.mac, format_.hex_case)
                 ? Outcome::kValid
                 : Outcome::kMalformed;
    }
    return Outcome::kMalformed;
  }

  // A list header: every item with the MAC key is a candidate; `ts` receives the timestamp
  // item's value when the list carries one.
  Outcome DecodeList(std::string_view text, MacPlan& plan, std::string_view& ts) const {
    const ItemList& list = format_.list;
    std::optional<std::string_view> timestamp;
    for (std::string_view item : Split(text, list.separator)) {
      if (item.empty() && list.separator == ' ') continue;
      const std::size_t split = item.find(list.key_separator);
      if (split == std::string_view::npos) return Outcome::kMalformed;
      const std::string_view key = item.substr(0, split);
      const std::string_view value = item.substr(split + 1);
      if (!list.timestamp_key.empty() && key == list.timestamp_key) {
        if (timestamp) return Outcome::kMalformed;
        timestamp = value;
      } else if (key == list.mac_key) {
        MacCandidate& candidate = plan.candidates.emplace_back();
        candidate.algorithm = format_.algorithm;
        if (!DecodeSignature(value, "", format_.encoding, crypto::DigestSize(format_.algorithm),
                             candidate.mac, format_.hex_case)) {
          return Outcome::kMalformed;
        }
      }
    }
    if (!list.timestamp_key.empty()) {
      if (!timestamp) return Outcome::kMalformed;
      ts = *timestamp;
    }
    return plan.candidates.empty() ? Outcome::kMalformed : Outcome::kValid;
  }

  std::string_view name_;
  MacFormat format_;
  std::string prefix_;
  bool allow_sha1_;
  bool signs_id_;
  bool has_timestamp_;
  std::optional<PlainMac> plain_;  // views of header() and prefix_
};

}  // namespace

std::unique_ptr<Scheme> MakeTableScheme(std::string_view name, const MacFormat& format,
                                        const config::SignatureOptions& options) {
  return std::make_unique<TableScheme>(name, format, options);
}

}  // namespace hw::signature
