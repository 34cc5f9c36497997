// Fuzzes the strict value decoders signatures rely on: hex, base64, decimal and RFC 3339
// timestamps (which must stay within 1970..9999). Besides not crashing, a decoder that accepts a
// value must accept only its one canonical spelling (re-encoding gives back the input).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "crypto/encoding.h"
#include "signature/header_values.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  using hw::crypto::HexCase;
  if (auto bytes = hw::crypto::DecodeBase64(text)) {
    if (hw::crypto::EncodeBase64(*bytes) != text) std::abort();
  }
  if (auto bytes = hw::crypto::DecodeBase64(text, 32)) {
    if (bytes->size() != 32) std::abort();
  }
  if (auto bytes = hw::crypto::DecodeHex(text, HexCase::kLower)) {
    if (hw::crypto::EncodeHex(*bytes) != text) std::abort();
  }
  if (auto bytes = hw::crypto::DecodeHex(text, 32, HexCase::kAny)) {
    if (bytes->size() != 32) std::abort();
  }
  if (auto value = hw::signature::ParseDecimal(text)) {
    if (std::to_string(*value).size() > text.size()) std::abort();
  }
  // Timestamps: whatever is accepted lies in 1970..9999, so no caller's arithmetic can wrap.
  for (auto millis :
       {hw::signature::ParseUnixSecondsAsMillis(text), hw::signature::ParseUnixMillis(text),
        hw::signature::ParseRfc3339Millis(text)}) {
    if (millis && (*millis < 0 || *millis > hw::signature::kMaxUnixMillis)) std::abort();
  }
  hw::crypto::ShortBytes mac;
  (void)hw::signature::DecodeSignature(text, "sha256=", hw::signature::Encoding::kHex, 32, mac);
  (void)hw::signature::DecodeSignature(text, "v1,", hw::signature::Encoding::kBase64, 32, mac);
  return 0;
}
