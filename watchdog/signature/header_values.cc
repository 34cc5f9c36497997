#include "signature/header_values.h"

#include <algorithm>
#include <chrono>

namespace hw::signature {
namespace {

bool AllDigits(std::string_view text) {
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int Digits(std::string_view text) {
  int value = 0;
  for (char c : text) value = value * 10 + (c - '0');
  return value;
}

}  // namespace

std::variant<Outcome, std::string_view> SingleValue(const HeaderSource& headers,
                                                    std::string_view name) {
  std::string_view first;
  const std::size_t count = headers.Count(name, &first);
  if (count == 0) return Outcome::kMissing;
  if (count > 1) return Outcome::kMalformed;
  return first;
}

std::optional<std::int64_t> ParseDecimal(std::string_view text) {
  if (text.empty() || text.size() > 18 || !AllDigits(text)) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) value = value * 10 + (c - '0');
  return value;
}

std::optional<std::int64_t> ParseUnixSecondsAsMillis(std::string_view text) {
  const std::optional<std::int64_t> seconds = ParseDecimal(text);
  if (!seconds || *seconds > kMaxUnixSeconds) return std::nullopt;
  return *seconds * 1000;
}

std::optional<std::int64_t> ParseUnixMillis(std::string_view text) {
  const std::optional<std::int64_t> millis = ParseDecimal(text);
  if (!millis || *millis > kMaxUnixMillis) return std::nullopt;
  return millis;
}

std::optional<std::int64_t> ParseRfc3339Millis(std::string_view text) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)
  if (text.size() < 20) return std::nullopt;
  auto digits = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    const std::string_view part = text.substr(at, n);
    if (part.size() != n || !AllDigits(part)) return std::nullopt;
    return Digits(part);
  };
  if (text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') || text[13] != ':' ||
      text[16] != ':') {
    return std::nullopt;
  }
  const auto year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  const auto hour = digits(11, 2), minute = digits(14, 2), second = digits(17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  if (*hour > 23 || *minute > 59 || *second > 60) return std::nullopt;
  const std::chrono::year_month_day date{std::chrono::year(*year),
                                         std::chrono::month(static_cast<unsigned>(*month)),
                                         std::chrono::day(static_cast<unsigned>(*day))};
  if (!date.ok()) return std::nullopt;

  std::size_t at = 19;
  std::int64_t millis = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const std::size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    const std::string_view fraction = text.substr(start, at - start);
    if (fraction.empty() || fraction.size() > 9) return std::nullopt;
    for (std::size_t i = 0; i < 3; ++i) {
      millis = millis * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
    }
  }
  std::int64_t offset_minutes = 0;
  const std::string_view zone = text.substr(at);
  if (zone == "Z" || zone == "z") {
    offset_minutes = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    const std::string_view hh = zone.substr(1, 2), mm = zone.substr(4, 2);
    if (!AllDigits(hh) || !AllDigits(mm) || Digits(hh) > 23 || Digits(mm) > 59) {
      return std::nullopt;
    }
    offset_minutes = (Digits(hh) * 60 + Digits(mm)) * (zone[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  const std::int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
  const std::int64_t seconds =
      days * 86400 + *hour * 3600 + *minute * 60 + *second - offset_minutes * 60;
  if (seconds < 0 || seconds > kMaxUnixSeconds) return std::nullopt;
  return seconds * 1000 + millis;
}

Outcome CheckFreshness(std::int64_t timestamp_ms, const Request& request) {
  if (timestamp_ms < 0 || timestamp_ms > kMaxUnixMillis) return Outcome::kMalformed;
  const std::int64_t now_ms = request.clock.NowUnixMillis();
  if (now_ms < 0 || now_ms > kMaxUnixMillis) return Outcome::kExpired;
  const std::int64_t distance =
      now_ms >= timestamp_ms ? now_ms - timestamp_ms : timestamp_ms - now_ms;
  return distance <= request.tolerance.count() ? Outcome::kValid : Outcome::kExpired;
}

bool DecodeSignature(std::string_view value, std::string_view prefix, Encoding encoding,
                     std::size_t size, crypto::ShortBytes& out, crypto::HexCase hex_case) {
  if (!value.starts_with(prefix) || size > crypto::ShortBytes::kCapacity) return false;
  value.remove_prefix(prefix.size());
  const std::span<std::uint8_t> bytes(out.bytes.data(), size);
  const bool decoded = encoding == Encoding::kHex ? crypto::DecodeHexInto(value, bytes, hex_case)
                                                  : crypto::DecodeBase64Into(value, bytes);
  out.size = decoded ? size : 0;  // a failed decode leaves no candidate bytes
  return decoded;
}

std::string EncodeSignature(std::span<const std::uint8_t> mac, Encoding encoding) {
  return encoding == Encoding::kHex ? crypto::EncodeHex(mac) : crypto::EncodeBase64(mac);
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> out;
  while (true) {
    const std::size_t at = text.find(separator);
    out.push_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return out;
}

std::variant<Outcome, std::string> ReplayKeyOf(const Request& request, std::string_view id_header,
                                               std::string_view id) {
  if (!request.replay_cache) return std::string();
  if (id.empty() || id.size() > kMaxDeliveryIdBytes) return Outcome::kMalformed;
  std::string key;
  key.reserve(id_header.size() + 1 + id.size());
  for (char c : id_header) key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
  key.push_back(':');
  key.append(id);
  return key;
}

std::variant<Outcome, std::string> ReplayKey(const Request& request, std::string_view id_header) {
  if (!request.replay_cache) return std::string();
  auto id = SingleValue(request.head.headers, id_header);
  if (const Outcome* failed = std::get_if<Outcome>(&id)) return *failed;
  return ReplayKeyOf(request, id_header, std::get<std::string_view>(id));
}

std::string SignedUrl(std::string_view public_url, std::string_view path, std::string_view query) {
  std::string url(public_url);
  if (!path.empty() && path != "/") {
    while (!url.empty() && url.back() == '/') url.pop_back();
    url.append(path);
  }
  if (!query.empty()) {
    url.push_back('?');
    url.append(query);
  }
  return url;
}

bool UsesSharedHeader(std::string_view scheme) {
  return scheme == "faas-cli" || scheme == "generic";
}

std::string SignatureHeader(const config::SignatureOptions& options, std::string_view scheme,
                            std::string_view own) {
  std::string key(scheme);
  std::replace(key.begin(), key.end(), '-', '_');
  if (auto found = options.scheme_headers.find(key); found != options.scheme_headers.end()) {
    return found->second;
  }
  if (UsesSharedHeader(scheme) && !options.header.empty()) return options.header;
  return std::string(own);
}

}  // namespace hw::signature
