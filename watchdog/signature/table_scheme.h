// The common kind of provider, as data: an HMAC over a template of id, timestamp and body,
// sent in one header as a prefixed value or a list of key=value items. registry.cc holds one
// MacFormat row per such provider; TableScheme runs any row. Adding a provider of this kind is
// one row there plus its vectors (tests/data/vectors.json).
#pragma once

#include <memory>
#include <string_view>

#include "crypto/encoding.h"
#include "crypto/hmac.h"
#include "signature/header_values.h"
#include "signature/scheme.h"

namespace hw::signature {

// The headers a provider sends; "" = not sent.
struct HeaderNames {
  std::string_view signature{};  // hmac_header_<scheme> renames it
  std::string_view timestamp{};  // "" when there is none, or it is an item of the signature
  std::string_view id{};         // delivery id; signed only when the template names {id}
};

// A signature header holding a list of items, e.g. Stripe's "t=<ts>,v1=<mac>,v1=<mac>".
// An item without key_separator is malformed; so is an empty item, except in a
// space-separated list, where runs of spaces separate like one.
struct ItemList {
  char separator = 0;                // between items; 0 = the header holds one prefixed value
  char key_separator = '=';          // between an item's key and its value
  std::string_view mac_key{};        // every item with this key is a candidate MAC (rotation);
                                     // items with other keys are ignored
  std::string_view timestamp_key{};  // the one item carrying the timestamp ("" = none)
};

enum class TimestampForm { kUnixSeconds, kRfc3339 };
enum class KeyForm {
  kAsIs,         // the secret file's bytes are the HMAC key (Stripe's whsec_... too)
  kWhsecBase64,  // "whsec_" (optional) then strict base64: the decoded bytes are the key
};

// One provider of the common kind. Verification, in this order: each header present exactly
// once (else missing, or malformed when repeated); the value (or each list item) decodes
// strictly to a MAC of `algorithm`'s size (else malformed); a signed id is not empty; the
// timestamp parses and lies within hmac_tolerance (else malformed, expired); with the replay
// cache on, a signed id is the delivery's identity (else the MAC is). Signed bytes:
// signed_prefix with {id} and {ts} replaced by the headers' text, then the body.
struct MacFormat {
  HeaderNames headers{};
  crypto::Algorithm algorithm = crypto::Algorithm::kSha256;
  std::string_view prefix{};  // before the encoded MAC in a one-value header ("sha256=", "v0=")
  Encoding encoding = Encoding::kHex;
  crypto::HexCase hex_case = crypto::HexCase::kLower;
  ItemList list{};
  TimestampForm timestamp_form = TimestampForm::kUnixSeconds;
  std::string_view signed_prefix{};  // e.g. "{ts}." (Stripe), "v0:{ts}:" (Slack); "" = body only
  KeyForm key = KeyForm::kAsIs;
  HeaderNames fallback{};          // another header set also read when its signature is present
  std::string_view sha1_prefix{};  // with hmac_allow_sha1, also <sha1_prefix><HMAC-SHA1>
};

// The scheme `name` running `format`. `name` and the header names must outlive the scheme
// (static storage); `format.prefix` is copied (the generic scheme's comes from hmac_prefix).
std::unique_ptr<Scheme> MakeTableScheme(std::string_view name, const MacFormat& format,
                                        const config::SignatureOptions& options);

}  // namespace hw::signature
