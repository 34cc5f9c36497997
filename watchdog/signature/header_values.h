// The small parsers every scheme shares for untrusted header values: exactly-one-value
// lookup, strict timestamps (Unix seconds, milliseconds, RFC 3339), the freshness window in
// both directions, prefixed hex/base64 signatures and delivery ids for the replay cache.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/encoding.h"
#include "signature/scheme.h"

namespace hw::signature {

// The one value of header `name`: kMissing if absent, kMalformed if it appears more than once
// (two values for one signature or timestamp are ambiguous, so neither is trusted).
std::variant<Outcome, std::string_view> SingleValue(const HeaderSource& headers,
                                                    std::string_view name);

// A non-negative decimal integer of 1 to 18 digits and nothing else (no sign, no spaces, no
// trailing characters); nullopt otherwise.
std::optional<std::int64_t> ParseDecimal(std::string_view text);

// The range of a signed timestamp: 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z. Anything
// outside is malformed, so that no timestamp arithmetic (seconds x 1000, now - timestamp)
// can overflow and wrap onto "now".
inline constexpr std::int64_t kMaxUnixSeconds = 253'402'300'799;
inline constexpr std::int64_t kMaxUnixMillis = kMaxUnixSeconds * 1000 + 999;

// Unix seconds (ParseDecimal, at most kMaxUnixSeconds) as Unix milliseconds; nullopt else.
std::optional<std::int64_t> ParseUnixSecondsAsMillis(std::string_view text);
// Unix milliseconds (ParseDecimal, at most kMaxUnixMillis); nullopt otherwise.
std::optional<std::int64_t> ParseUnixMillis(std::string_view text);
// RFC 3339 date-time ("2026-01-01T00:00:00.123456789Z", or with a "+hh:mm" offset) as Unix
// milliseconds; nullopt for anything else, including instants outside the range above.
std::optional<std::int64_t> ParseRfc3339Millis(std::string_view text);

// kValid when |now - timestamp| <= tolerance, else kExpired: a timestamp from the future is
// no fresher than an old one. kMalformed for a timestamp outside [0, kMaxUnixMillis] (the
// parsers above never return one; this keeps the subtraction safe for any caller).
Outcome CheckFreshness(std::int64_t timestamp_ms, const Request& request);

enum class Encoding { kHex, kBase64 };

// `value` must start with `prefix`; the rest must be the strict encoding of exactly `size`
// bytes (at most crypto::ShortBytes::kCapacity), decoded into `out`. False otherwise, with
// `out` empty.
bool DecodeSignature(std::string_view value, std::string_view prefix, Encoding encoding,
                     std::size_t size, crypto::ShortBytes& out,
                     crypto::HexCase hex_case = crypto::HexCase::kLower);
std::string EncodeSignature(std::span<const std::uint8_t> mac, Encoding encoding);

// Splits on `separator`, keeping empty pieces.
std::vector<std::string_view> Split(std::string_view text, char separator);

// Delivery ids longer than this are malformed (real ones are UUIDs); it bounds the replay
// cache's memory.
inline constexpr std::size_t kMaxDeliveryIdBytes = 256;

// The replay-cache key for a delivery id read from `id_header`. "" (nothing to remember) when
// the replay cache is off; kMissing/kMalformed when the cache is on and the id is absent,
// repeated, empty or too long.
std::variant<Outcome, std::string> ReplayKey(const Request& request, std::string_view id_header);
// The same, for an id the scheme already read (Standard Webhooks signs its id).
std::variant<Outcome, std::string> ReplayKeyOf(const Request& request, std::string_view id_header,
                                               std::string_view id);

// The URL a sender signs, for schemes that sign it (HubSpot, Square): hmac_public_url, then
// the request path unless it is "/", then "?" and the query if there is one.
std::string SignedUrl(std::string_view public_url, std::string_view path, std::string_view query);

// True for the schemes that have no signature header of their own (faas-cli, generic):
// the only ones hmac_header applies to.
bool UsesSharedHeader(std::string_view scheme);
// The signature header `scheme` reads: hmac_header_<scheme> when set; else hmac_header when
// set and the scheme UsesSharedHeader; else `own`, the provider's header.
std::string SignatureHeader(const config::SignatureOptions& options, std::string_view scheme,
                            std::string_view own);

}  // namespace hw::signature
