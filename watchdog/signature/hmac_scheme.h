// The machinery HMAC schemes share: a per-request plan (what to feed before and after the
// body, which decoded signatures to accept), the check that runs it over the body in one
// pass, and the HmacScheme base class (TableScheme, hubspot, square and twilio derive from it).
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/inline_vector.h"
#include "crypto/hmac.h"
#include "signature/header_values.h"
#include "signature/scheme.h"

namespace hw::signature {

// One signature read from the request, decoded to bytes.
struct MacCandidate {
  crypto::Algorithm algorithm = crypto::Algorithm::kSha256;
  crypto::ShortBytes mac;
};

// What an HMAC scheme's headers say about one request.
struct MacPlan {
  std::string prefix;                        // fed into the MAC before the body
  std::string suffix;                        // fed after the body
  InlineVector<MacCandidate, 2> candidates;  // valid if any matches under any key
  std::string replay_key;                    // see Started::replay_key
};

// The plainest HMAC scheme (GitHub's, Shopify's, Patreon's...): one header, present exactly
// once, holding `prefix` and then the MAC of the body alone, nothing else signed, no id or
// timestamp read. Its outcomes: kMissing without the header, kMalformed when it repeats or
// does not decode (DecodeSignature) to a MAC of `algorithm`'s size, else kValid when a
// prepared key's MAC of the body matches and kMismatch when none does. A scheme of this form
// describes itself (Scheme::Plain), and the Verifier, when that scheme is configured alone
// and without a replay store, checks the request by this description instead of Start's
// general plan (tests hold both to the same outcomes).
struct PlainMac {
  std::string_view header;  // as the scheme reads it (hmac_header_<scheme> applied)
  std::string_view prefix;
  crypto::Algorithm algorithm = crypto::Algorithm::kSha256;
  Encoding encoding = Encoding::kHex;
  crypto::HexCase hex_case = crypto::HexCase::kLower;
};

// The room an HMAC scheme's check takes in a request's arena (hmac_scheme.cc checks it fits),
// so the Verifier can keep that much in place per request.
inline constexpr std::size_t kMacCheckBytes = 2048;

// MAC of prefix ‖ body ‖ suffix under `key` (what a sender computes); empty if `key` has no
// context for `algorithm`.
crypto::Bytes ComputeMac(const PreparedKey& key, crypto::Algorithm algorithm,
                         std::string_view prefix, std::string_view body,
                         std::string_view suffix = {});

// Base class of the HMAC schemes: prepares one pre-keyed context per algorithm the scheme
// uses, and turns Parse's plan into a check.
class HmacScheme : public Scheme {
 public:
  Expected<PreparedKey> Prepare(const secrets::Secret& secret) const override;
  Started Start(const Request& request, std::span<const PreparedKey> keys) const override;
  Expected<std::vector<HeaderLine>> Sign(const secrets::Secret& secret,
                                         const SignInput& input) const override;
  // The request carries the scheme's signature header.
  bool Present(const HeaderSource& headers) const override { return headers.Count(header_) != 0; }
  std::string SignatureHeaderName() const override { return header_; }

 protected:
  // `header`: the signature header's name (SignatureHeader: hmac_header or the provider's).
  HmacScheme(std::vector<crypto::Algorithm> algorithms, std::string header)
      : algorithms_(std::move(algorithms)), header_(std::move(header)) {}
  const std::string& header() const { return header_; }
  // Reads the headers into `plan` (empty when called): kValid when they make one, else the
  // outcome they already decide.
  virtual Outcome Parse(const Request& request, MacPlan& plan) const = 0;
  // The header lines a sender sends, given the prepared key.
  virtual std::vector<HeaderLine> SignWith(const PreparedKey& key,
                                           const SignInput& input) const = 0;
  // The HMAC key for a secret file's bytes; default: the bytes as they are.
  virtual Expected<secrets::Secret> KeyOf(const secrets::Secret& secret) const {
    return secret.Clone();
  }

 private:
  std::vector<crypto::Algorithm> algorithms_;
  std::string header_;
};

}  // namespace hw::signature
