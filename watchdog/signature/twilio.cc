// The twilio scheme: X-Twilio-Signature, base64 HMAC-SHA1 (the account's auth token as key)
// of the URL Twilio requested, then
//   - for a form POST: every form parameter, URL-decoded, sorted by name (then value), each
//     name immediately followed by its value;
//   - when the URL's query carries bodySHA256 (JSON and other non-form bodies): nothing more,
//     and the body's SHA-256 in lower-case hex must equal that parameter.
// The URL is hmac_public_url plus the request path and query (SignedUrl): behind a gateway the
// watchdog cannot see the scheme, host or port Twilio used.
//
// Unlike the other schemes the signed bytes are not the body as it streams past, so the body
// is kept (up to kTwilioBodyLimit, far above the few KiB Twilio sends) and checked at the end.
#include <algorithm>
#include <array>
#include <optional>

#include "common/strings.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "signature/hmac_scheme.h"

namespace hw::signature {
namespace {

constexpr std::size_t kTwilioBodyLimit = 1024 * 1024;
constexpr std::string_view kBodyHashParameter = "bodySHA256";

// application/x-www-form-urlencoded decoding: '+' is a space, %XX a byte. nullopt for a
// broken escape.
std::optional<std::string> FormDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int high = HexDigitValue(text[i + 1]);
      const int low = HexDigitValue(text[i + 2]);
      if (high < 0 || low < 0) return std::nullopt;
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

using Parameters = std::vector<std::pair<std::string, std::string>>;

// The decoded name=value pairs of a form body or a query string; nullopt if one is broken.
std::optional<Parameters> ParseForm(std::string_view text) {
  Parameters parameters;
  while (!text.empty()) {
    const std::size_t amp = text.find('&');
    const std::string_view field = text.substr(0, amp);
    text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
    if (field.empty()) continue;
    const std::size_t eq = field.find('=');
    auto name = FormDecode(field.substr(0, eq));
    auto value =
        FormDecode(eq == std::string_view::npos ? std::string_view() : field.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    parameters.emplace_back(std::move(*name), std::move(*value));
  }
  return parameters;
}

// What follows the URL in the signed string for a form body. Repeated identical pairs
// (Body=x&Body=x) count once, as in Twilio's libraries (twilio-node:
// Array.from(new Set(values)).sort(); twilio-python: sorted(set(values))).
std::optional<std::string> SortedParameters(std::string_view body) {
  std::optional<Parameters> parameters = ParseForm(body);
  if (!parameters) return std::nullopt;
  std::sort(parameters->begin(), parameters->end());
  parameters->erase(std::unique(parameters->begin(), parameters->end()), parameters->end());
  std::string out;
  for (const auto& [name, value] : *parameters) {
    out.append(name);
    out.append(value);
  }
  return out;
}

// The parameters of a URL's query (none without '?'); nullopt if one is broken.
std::optional<Parameters> QueryOf(std::string_view url) {
  const std::size_t mark = url.find('?');
  return ParseForm(mark == std::string_view::npos ? std::string_view() : url.substr(mark + 1));
}

// The bodySHA256 value among a query's parameters, if there is one.
std::optional<std::string> BodyHashOf(const Parameters& query) {
  for (const auto& [name, value] : query) {
    if (name == kBodyHashParameter) return value;
  }
  return std::nullopt;
}

class TwilioCheck final : public BodyCheck {
 public:
  TwilioCheck(std::string url, crypto::ShortBytes mac, std::optional<std::string> body_hash,
              std::span<const PreparedKey> keys)
      : mac_(mac), body_hash_(std::move(body_hash)) {
    for (const PreparedKey& key : keys) {
      const crypto::HmacKey* hmac = key.Mac(crypto::Algorithm::kSha1);
      if (hmac == nullptr) continue;
      running_.push_back(hmac->Start());
      running_.back().Update(url);
    }
  }

  void Update(std::string_view chunk) override {
    if (body_.size() + chunk.size() > kTwilioBodyLimit) {
      too_large_ = true;
      return;
    }
    body_.append(chunk);
  }

  Outcome Finish() override {
    if (too_large_) return Outcome::kTooLarge;
    if (body_hash_) {
      // The signature covers the URL (with bodySHA256); the body must match the hash.
      if (crypto::EncodeHex(crypto::Sha256(body_)) != *body_hash_) return Outcome::kMismatch;
    } else {
      std::optional<std::string> parameters = SortedParameters(body_);
      if (!parameters) return Outcome::kMalformed;
      for (crypto::Hmac& hmac : running_) hmac.Update(*parameters);
    }
    bool valid = false;
    for (crypto::Hmac& hmac : running_) {
      std::array<std::uint8_t, crypto::kMaxMacSize> computed;
      const std::size_t size = hmac.FinalInto(computed);
      // No early exit: every key is tried, each comparison in constant time.
      if (size != 0 && crypto::ConstantTimeEqual({computed.data(), size}, mac_.view()))
        valid = true;
    }
    return valid ? Outcome::kValid : Outcome::kMismatch;
  }

 private:
  crypto::ShortBytes mac_;
  std::optional<std::string> body_hash_;
  std::vector<crypto::Hmac> running_;
  std::string body_;
  bool too_large_ = false;
};

class Twilio final : public HmacScheme {
 public:
  explicit Twilio(const config::SignatureOptions& options)
      : HmacScheme({crypto::Algorithm::kSha1},
                   SignatureHeader(options, "twilio", "X-Twilio-Signature")),
        public_url_(options.public_url) {}
  std::string_view Name() const override { return "twilio"; }

  Started Start(const Request& request, std::span<const PreparedKey> keys) const override {
    MacPlan plan;
    if (const Outcome parsed = Parse(request, plan); parsed != Outcome::kValid) {
      return Started{parsed, nullptr, {}};
    }
    std::optional<Parameters> query = ParseForm(request.head.query);
    if (!query) return Started{Outcome::kMalformed, nullptr, {}};
    return Started{Outcome::kMismatch,
                   MakeCheck<TwilioCheck>(request, std::move(plan.prefix),
                                          plan.candidates.front().mac, BodyHashOf(*query), keys),
                   {}};
  }

 protected:
  // The header's MAC, and the URL as the prefix (the rest is decided in TwilioCheck).
  Outcome Parse(const Request& request, MacPlan& plan) const override {
    auto value = SingleValue(request.head.headers, header());
    if (const Outcome* failed = std::get_if<Outcome>(&value)) return *failed;
    MacCandidate& candidate = plan.candidates.emplace_back();
    candidate.algorithm = crypto::Algorithm::kSha1;
    if (!DecodeSignature(std::get<std::string_view>(value), "", Encoding::kBase64, 20,
                         candidate.mac)) {
      return Outcome::kMalformed;
    }
    plan.prefix = SignedUrl(public_url_, request.head.path, request.head.query);
    return Outcome::kValid;
  }

 public:
  // The sign command: a URL whose query carries bodySHA256 (Twilio's form for JSON bodies)
  // is signed alone, as validateRequestWithBody expects, and bodySHA256 must be the body's
  // hash; otherwise the body is a form and its sorted parameters follow the URL.
  Expected<std::vector<HeaderLine>> Sign(const secrets::Secret& secret,
                                         const SignInput& input) const override {
    const std::string url = SignedUrl(public_url_, input.path, input.query);
    const std::optional<Parameters> query = QueryOf(url);
    if (!query) return Error{"twilio: the URL's query is not valid form encoding"};
    if (const std::optional<std::string> hash = BodyHashOf(*query)) {
      const std::string actual = crypto::EncodeHex(crypto::Sha256(input.body));
      if (*hash != actual) {
        return Error{"twilio: bodySHA256=" + *hash +
                     " in the URL is not the SHA-256 of the body on stdin (" + actual + ")"};
      }
    } else {
      const std::size_t first = input.body.find_first_not_of(" \t\r\n");
      const bool json =
          first != std::string_view::npos && (input.body[first] == '{' || input.body[first] == '[');
      if (json || !SortedParameters(input.body)) {
        return Error{
            "twilio: the body is not a form (application/x-www-form-urlencoded); Twilio signs "
            "a JSON body through the URL: add bodySHA256=" +
            crypto::EncodeHex(crypto::Sha256(input.body)) +
            " (its SHA-256) to the query, e.g. --path '/hook?bodySHA256=...'"};
      }
    }
    return HmacScheme::Sign(secret, input);
  }

 protected:
  std::vector<HeaderLine> SignWith(const PreparedKey& key, const SignInput& input) const override {
    const std::string url = SignedUrl(public_url_, input.path, input.query);
    const std::optional<Parameters> query = QueryOf(url);
    std::string signed_rest;
    if (!query || !BodyHashOf(*query)) signed_rest = SortedParameters(input.body).value_or("");
    const crypto::Bytes mac = ComputeMac(key, crypto::Algorithm::kSha1, url, signed_rest);
    return {{header(), crypto::EncodeBase64(mac)}};
  }

 private:
  std::string public_url_;
};

}  // namespace

Expected<std::unique_ptr<Scheme>> MakeTwilio(const config::SignatureOptions& options) {
  if (options.public_url.empty()) {
    return Error{
        "hmac_public_url is required with hmac_scheme=twilio: the webhook URL configured at "
        "Twilio, exactly as Twilio calls it (port included)"};
  }
  return std::unique_ptr<Scheme>(std::make_unique<Twilio>(options));
}

}  // namespace hw::signature
