// Strict decoders and encoders for the text forms signatures travel in: hex and standard
// base64. Strict means one accepted spelling per value: exact length, no whitespace, no
// missing or extra padding, no stray bits, and (for hex) the case the sender uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "crypto/bytes.h"

namespace hw::crypto {

// Which hex digits a decoder accepts for a-f.
enum class HexCase { kLower, kUpper, kAny };

// Decodes exactly `size` bytes written as 2*size hex digits of the given case. Returns nullopt
// for any other length, any non-hex character or a letter of the wrong case.
std::optional<Bytes> DecodeHex(std::string_view text, std::size_t size, HexCase hex_case);
// As above, into `out` (exactly out.size() bytes); false, with `out` unspecified, otherwise.
bool DecodeHexInto(std::string_view text, std::span<std::uint8_t> out, HexCase hex_case);
// Decodes hex of any even length (used for keys read from files).
std::optional<Bytes> DecodeHex(std::string_view text, HexCase hex_case);
// Lower-case hex.
std::string EncodeHex(std::span<const std::uint8_t> bytes);

// Decodes RFC 4648 standard base64 ('+' and '/'): the length must be a multiple of 4, '='
// padding must be present exactly where needed, and the unused bits of the last character
// must be zero (so every byte string has exactly one accepted spelling). nullopt otherwise.
std::optional<Bytes> DecodeBase64(std::string_view text);
// As above, and the decoded value must be exactly `size` bytes.
std::optional<Bytes> DecodeBase64(std::string_view text, std::size_t size);
// As above, into `out` (exactly out.size() bytes); false, with `out` unspecified, otherwise.
bool DecodeBase64Into(std::string_view text, std::span<std::uint8_t> out);
// Standard base64 with padding.
std::string EncodeBase64(std::span<const std::uint8_t> bytes);

}  // namespace hw::crypto
