#include "crypto/encoding.h"

#include <array>
#include <cstdint>

#include "common/strings.h"

namespace hw::crypto {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
constexpr char kBase64Alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The value of each byte as a hex digit of the given case (-1: not one). A table, as the
// signature of every request is decoded with it.
constexpr std::array<std::int8_t, 256> MakeHexTable(HexCase hex_case) {
  std::array<std::int8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const bool lower = c >= 'a' && c <= 'f';
    const bool upper = c >= 'A' && c <= 'F';
    const bool allowed =
        (!lower || hex_case != HexCase::kUpper) && (!upper || hex_case != HexCase::kLower);
    table[static_cast<std::size_t>(c)] =
        static_cast<std::int8_t>(allowed ? HexDigitValue(static_cast<char>(c)) : -1);
  }
  return table;
}
constexpr std::array<std::int8_t, 256> kHexLower = MakeHexTable(HexCase::kLower);
constexpr std::array<std::int8_t, 256> kHexUpper = MakeHexTable(HexCase::kUpper);
constexpr std::array<std::int8_t, 256> kHexAny = MakeHexTable(HexCase::kAny);

const std::array<std::int8_t, 256>& HexTable(HexCase hex_case) {
  switch (hex_case) {
    case HexCase::kLower:
      return kHexLower;
    case HexCase::kUpper:
      return kHexUpper;
    case HexCase::kAny:
      break;
  }
  return kHexAny;
}

constexpr std::array<int, 256> MakeBase64Table() {
  std::array<int, 256> table{};
  for (int& v : table) v = -1;
  for (int i = 0; i < 64; ++i) table[static_cast<unsigned char>(kBase64Alphabet[i])] = i;
  return table;
}
constexpr std::array<int, 256> kBase64Values = MakeBase64Table();

}  // namespace

std::optional<Bytes> DecodeHex(std::string_view text, HexCase hex_case) {
  if (text.size() % 2 != 0) return std::nullopt;
  return DecodeHex(text, text.size() / 2, hex_case);
}

std::optional<Bytes> DecodeHex(std::string_view text, std::size_t size, HexCase hex_case) {
  if (text.size() != size * 2) return std::nullopt;
  const std::array<std::int8_t, 256>& table = HexTable(hex_case);
  Bytes out(size);
  int bad = 0;  // any digit's -1 sets the sign bit
  for (std::size_t i = 0; i < size; ++i) {
    const int high = table[static_cast<unsigned char>(text[2 * i])];
    const int low = table[static_cast<unsigned char>(text[2 * i + 1])];
    bad |= high | low;
    out[i] =
        static_cast<std::uint8_t>(static_cast<unsigned>(high) << 4 | static_cast<unsigned>(low));
  }
  if (bad < 0) return std::nullopt;
  return out;
}

std::string EncodeHex(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0x0f]);
  }
  return out;
}

std::optional<Bytes> DecodeBase64(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  Bytes out;
  out.reserve(text.size() / 4 * 3);
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const std::size_t data_chars = last ? 4 - padding : 4;
    std::uint32_t group = 0;
    for (std::size_t j = 0; j < 4; ++j) {
      const char c = text[i + j];
      int value = 0;
      if (j < data_chars) {
        value = kBase64Values[static_cast<unsigned char>(c)];
        if (value < 0) return std::nullopt;
      } else if (c != '=') {
        return std::nullopt;
      }
      group = group << 6 | static_cast<std::uint32_t>(value);
    }
    out.push_back(static_cast<std::uint8_t>(group >> 16));
    if (data_chars >= 3) out.push_back(static_cast<std::uint8_t>(group >> 8));
    if (data_chars == 4) out.push_back(static_cast<std::uint8_t>(group));
    // Bits of the last data character that fall into the padding must be zero.
    if (data_chars == 2 && (group & 0xffff) != 0) return std::nullopt;
    if (data_chars == 3 && (group & 0xff) != 0) return std::nullopt;
  }
  return out;
}

std::optional<Bytes> DecodeBase64(std::string_view text, std::size_t size) {
  // Reject by length first: the encoded length of `size` bytes is fixed.
  if (text.size() != (size + 2) / 3 * 4) return std::nullopt;
  std::optional<Bytes> out = DecodeBase64(text);
  if (!out || out->size() != size) return std::nullopt;
  return out;
}

std::string EncodeBase64(std::span<const std::uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t group = bytes[i] << 16 | bytes[i + 1] << 8 | bytes[i + 2];
    out.push_back(kBase64Alphabet[group >> 18 & 63]);
    out.push_back(kBase64Alphabet[group >> 12 & 63]);
    out.push_back(kBase64Alphabet[group >> 6 & 63]);
    out.push_back(kBase64Alphabet[group & 63]);
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t group = bytes[i] << 16;
    if (rest == 2) group |= bytes[i + 1] << 8;
    out.push_back(kBase64Alphabet[group >> 18 & 63]);
    out.push_back(kBase64Alphabet[group >> 12 & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[group >> 6 & 63] : '=');
    out.push_back('=');
  }
  return out;
}

}  // namespace hw::crypto
