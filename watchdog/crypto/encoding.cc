#include "crypto/encoding.h"

#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
  Bytes out(size);
  if (!DecodeHexInto(text, out, hex_case)) return std::nullopt;
  return out;
}

namespace {

using swar::InRange;
using swar::kHighBits;
using swar::kOnes;

// Eight hex digits (text[0..8)) as four bytes, eight at a time instead of one table lookup per
// digit (a signature is decoded on every request). False if any is not a digit of `hex_case`.
bool DecodeHexWord(const char* text, std::uint8_t* out, HexCase hex_case) {
  std::uint64_t x = 0;
  std::memcpy(&x, text, 8);  // little-endian: text[k] is byte k
  if ((x & kHighBits) != 0) return false;
  const std::uint64_t digit = InRange(x, '0', '9');
  std::uint64_t letter = 0;
  if (hex_case != HexCase::kUpper) letter |= InRange(x, 'a', 'f');
  if (hex_case != HexCase::kLower) letter |= InRange(x, 'A', 'F');
  if ((digit | letter) != kHighBits) return false;
  // '0'-'9' are 0x30-0x39 and 'a'-'f' / 'A'-'F' 0x61-0x66 / 0x41-0x46: the low nibble, plus 9
  // for a letter.
  const std::uint64_t value = (x & 0x0f * kOnes) + (letter >> 7) * 9;
  // Byte 2i is the high nibble of out[i], byte 2i+1 the low one: each 16-bit lane holds one
  // output byte, then the lanes are packed.
  std::uint64_t packed = ((value & 0x000f000f000f000f) << 4) | ((value >> 8) & 0x000f000f000f000f);
  packed = (packed | (packed >> 8)) & 0x0000ffff0000ffff;
  packed = (packed | (packed >> 16)) & 0x00000000ffffffff;
  const auto word = static_cast<std::uint32_t>(packed);
  std::memcpy(out, &word, 4);
  return true;
}

#if defined(__SSE2__)
// Sixteen hex digits (text[0..16)) as eight bytes, with SSE2 (every x86-64 has it): the same
// steps as DecodeHexWord, on twice the digits at once.
bool DecodeHexBlock16(const char* text, std::uint8_t* out, HexCase hex_case) {
  const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(text));
  // Signed compares: bytes above 0x7f are negative, so they fall in no range.
  auto in_range = [&x](char lo, char hi) {
    return _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(static_cast<char>(lo - 1))),
                         _mm_cmplt_epi8(x, _mm_set1_epi8(static_cast<char>(hi + 1))));
  };
  const __m128i digit = in_range('0', '9');
  __m128i letter = _mm_setzero_si128();
  if (hex_case != HexCase::kUpper) letter = _mm_or_si128(letter, in_range('a', 'f'));
  if (hex_case != HexCase::kLower) letter = _mm_or_si128(letter, in_range('A', 'F'));
  if (_mm_movemask_epi8(_mm_or_si128(digit, letter)) != 0xffff) return false;
  // The low nibble, plus 9 for a letter.
  const __m128i value =
      _mm_add_epi8(_mm_and_si128(x, _mm_set1_epi8(0x0f)), _mm_and_si128(letter, _mm_set1_epi8(9)));
  // Each 16-bit lane holds text[2i] (the high nibble) in its low byte and text[2i+1] above.
  const __m128i high = _mm_slli_epi16(_mm_and_si128(value, _mm_set1_epi16(0x00ff)), 4);
  const __m128i low = _mm_srli_epi16(value, 8);
  const __m128i bytes = _mm_or_si128(high, low);  // one output byte per lane, below 0x100
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm_packus_epi16(bytes, bytes));
  return true;
}
#endif

}  // namespace

bool DecodeHexInto(std::string_view text, std::span<std::uint8_t> out, HexCase hex_case) {
  if (text.size() != out.size() * 2) return false;
  std::size_t done = 0;
#if defined(__SSE2__)
  for (; done + 8 <= out.size(); done += 8) {
    if (!DecodeHexBlock16(text.data() + 2 * done, out.data() + done, hex_case)) return false;
  }
#endif
  if constexpr (std::endian::native == std::endian::little) {
    for (; done + 4 <= out.size(); done += 4) {
      if (!DecodeHexWord(text.data() + 2 * done, out.data() + done, hex_case)) return false;
    }
  }
  const std::array<std::int8_t, 256>& table = HexTable(hex_case);
  int bad = 0;  // any digit's -1 sets the sign bit
  for (std::size_t i = done; i < out.size(); ++i) {
    const int high = table[static_cast<unsigned char>(text[2 * i])];
    const int low = table[static_cast<unsigned char>(text[2 * i + 1])];
    bad |= high | low;
    out[i] =
        static_cast<std::uint8_t>(static_cast<unsigned>(high) << 4 | static_cast<unsigned>(low));
  }
  return bad >= 0;
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

namespace {

// Decodes `text` (strict, see encoding.h) into `out`: the number of bytes written, or nullopt
// when the text is not strict base64 or decodes to more than out.size() bytes.
std::optional<std::size_t> DecodeBase64To(std::string_view text, std::span<std::uint8_t> out) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  if (!text.empty() && text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  std::size_t written = 0;
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
    const std::size_t bytes = data_chars - 1;  // 4 characters: 3 bytes; 3: 2; 2: 1
    if (written + bytes > out.size()) return std::nullopt;
    out[written++] = static_cast<std::uint8_t>(group >> 16);
    if (bytes >= 2) out[written++] = static_cast<std::uint8_t>(group >> 8);
    if (bytes == 3) out[written++] = static_cast<std::uint8_t>(group);
    // Bits of the last data character that fall into the padding must be zero.
    if (data_chars == 2 && (group & 0xffff) != 0) return std::nullopt;
    if (data_chars == 3 && (group & 0xff) != 0) return std::nullopt;
  }
  return written;
}

}  // namespace

std::optional<Bytes> DecodeBase64(std::string_view text) {
  Bytes out(text.size() / 4 * 3);
  const std::optional<std::size_t> written = DecodeBase64To(text, out);
  if (!written) return std::nullopt;
  out.resize(*written);
  return out;
}

std::optional<Bytes> DecodeBase64(std::string_view text, std::size_t size) {
  Bytes out(size);
  if (!DecodeBase64Into(text, out)) return std::nullopt;
  return out;
}

bool DecodeBase64Into(std::string_view text, std::span<std::uint8_t> out) {
  // Reject by length first: the encoded length of `size` bytes is fixed.
  if (text.size() != (out.size() + 2) / 3 * 4) return false;
  const std::optional<std::size_t> written = DecodeBase64To(text, out);
  return written && *written == out.size();
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
