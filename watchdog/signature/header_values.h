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
// RFC 3339 date-time ("2026-01-01T00:00:00.123456789Z", or with a "+hh:mm" offset) as Unix
// milliseconds; nullopt for anything else.
std::optional<std::int64_t> ParseRfc3339Millis(std::string_view text);

// kValid when |now - timestamp| <= tolerance, else kExpired: a timestamp from the future is
// no fresher than an old one.
Outcome CheckFreshness(std::int64_t timestamp_ms, const Request& request);

enum class Encoding { kHex, kBase64 };

// `value` must start with `prefix`; the rest must be the strict encoding of exactly `size`
// bytes. nullopt otherwise.
std::optional<crypto::Bytes> DecodeSignature(std::string_view value, std::string_view prefix,
                                             Encoding encoding, std::size_t size,
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

// The signature header to read: hmac_header when set, else the scheme's own.
std::string SignatureHeader(const config::SignatureOptions& options, std::string_view own);

}  // namespace hw::signature
