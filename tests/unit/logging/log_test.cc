// JSON escaping of log values: every line must stay JSON whatever bytes a client sends in a
// path or header (issue 10: invalid UTF-8 passed raw into log_format=json lines).
#include "logging/log.h"

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <chrono>
#include <string>

#include "support/json_reader.h"

namespace hw::log {
namespace {

std::string Escaped(std::string_view text) {
  std::string out;
  AppendJsonEscaped(out, text);
  return out;
}

// True when `text` is well-formed UTF-8 (checked here independently of log.cc: decode every
// sequence to a code point and refuse overlongs, surrogates and values above U+10FFFF).
bool WellFormedUtf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = b(i);
    std::size_t n = lead < 0x80         ? 1
                    : (lead >> 5) == 6  ? 2
                    : (lead >> 4) == 14 ? 3
                    : (lead >> 3) == 30 ? 4
                                        : 0;
    if (n == 0 || i + n > text.size()) return false;
    std::uint32_t cp = n == 1 ? lead : lead & (0x7f >> n);
    for (std::size_t k = 1; k < n; ++k) {
      if ((b(i + k) & 0xC0) != 0x80) return false;
      cp = cp << 6 | (b(i + k) & 0x3F);
    }
    const std::uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

TEST_CASE("invalid UTF-8 becomes \\ufffd per byte and valid UTF-8 passes unchanged") {
  CHECK(Escaped("/caf\xc3\xa9") == "/caf\xc3\xa9");
  CHECK(Escaped("\xe2\x82\xac \xf0\x9f\x98\x80") == "\xe2\x82\xac \xf0\x9f\x98\x80");
  CHECK(Escaped("/\xff\xfe") == "/\\ufffd\\ufffd");
  CHECK(Escaped("\xc3") == "\\ufffd");                                   // truncated sequence
  CHECK(Escaped("\xc0\xaf") == "\\ufffd\\ufffd");                        // overlong '/'
  CHECK(Escaped("\xed\xa0\x80") == "\\ufffd\\ufffd\\ufffd");             // surrogate U+D800
  CHECK(Escaped("\xf4\x90\x80\x80") == "\\ufffd\\ufffd\\ufffd\\ufffd");  // above U+10FFFF
  CHECK(Escaped("a\xe2\x82z") == "a\\ufffd\\ufffdz");
}

TEST_CASE("control characters, quotes and backslashes are escaped") {
  CHECK(Escaped("a\"b\\c") == "a\\\"b\\\\c");
  CHECK(Escaped("\n\r\t") == "\\n\\r\\t");
  CHECK(Escaped(std::string_view("\x00\x01\x1f\x7f", 4)) == "\\u0000\\u0001\\u001f\\u007f");
}

TEST_CASE("every byte string escapes to a JSON string of well-formed UTF-8") {
  // All single bytes and all byte pairs: the result parses as JSON and is valid UTF-8.
  for (int a = 0; a < 256; ++a) {
    for (int b = 0; b < 256; ++b) {
      const char raw[2] = {static_cast<char>(a), static_cast<char>(b)};
      const std::string json = "\"" + Escaped(std::string_view(raw, 2)) + "\"";
      INFO(a << "," << b);
      REQUIRE(WellFormedUtf8(json));
      for (unsigned char c : json) REQUIRE(c >= 0x20);
      REQUIRE_NOTHROW(test::JsonReader::Parse(json));
    }
  }
}

}  // namespace
}  // namespace hw::log

namespace hw::log {
namespace {

TEST_CASE("the access log's duration: seconds with six decimals, rounded to the microsecond") {
  using std::chrono::nanoseconds;
  CHECK(SecondsText(nanoseconds(0)) == "0.000000");
  CHECK(SecondsText(nanoseconds(499)) == "0.000000");
  CHECK(SecondsText(nanoseconds(500)) == "0.000001");
  CHECK(SecondsText(nanoseconds(999)) == "0.000001");
  CHECK(SecondsText(nanoseconds(123456789)) == "0.123457");
  CHECK(SecondsText(nanoseconds(1999999499)) == "1.999999");
  CHECK(SecondsText(nanoseconds(1999999500)) == "2.000000");
  CHECK(SecondsText(nanoseconds(1000000)) == "0.001000");
  CHECK(SecondsText(nanoseconds(86400LL * 1000000000 + 7000)) == "86400.000007");
  CHECK(SecondsText(nanoseconds(-5)) == "0.000000");
  // Against fmt's "{:.6f}" of the same time in seconds, away from rounding ties.
  for (long long ns = 1; ns < 100000000000LL; ns = ns * 7 + 13) {
    if (ns % 1000 == 500) continue;
    const double seconds = static_cast<double>(ns) / 1e9;
    INFO(ns << " ns");
    CHECK(SecondsText(nanoseconds(ns)) == fmt::format("{:.6f}", seconds));
  }
}

}  // namespace
}  // namespace hw::log
