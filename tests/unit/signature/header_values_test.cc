// The shared header parsers: strict timestamps, the freshness window in both directions,
// signed URLs and delivery ids.
#include "signature/header_values.h"

#include <catch2/catch.hpp>

#include "signature/header_list.h"

namespace hw::signature {
namespace {

TEST_CASE("decimal timestamps are digits only with nothing around them") {
  CHECK(ParseDecimal("1767225600") == 1767225600);
  CHECK(ParseDecimal("0") == 0);
  CHECK_FALSE(ParseDecimal("").has_value());
  CHECK_FALSE(ParseDecimal("1767225600x").has_value());
  CHECK_FALSE(ParseDecimal(" 1767225600").has_value());
  CHECK_FALSE(ParseDecimal("1767225600 ").has_value());
  CHECK_FALSE(ParseDecimal("+1767225600").has_value());
  CHECK_FALSE(ParseDecimal("-1").has_value());
  CHECK_FALSE(ParseDecimal("1.5").has_value());
  CHECK_FALSE(ParseDecimal("1e9").has_value());
  CHECK_FALSE(ParseDecimal("1234567890123456789").has_value());  // 19 digits: could overflow
}

TEST_CASE("RFC 3339 timestamps parse to Unix milliseconds") {
  CHECK(ParseRfc3339Millis("2026-01-01T00:00:00Z") == 1767225600000);
  CHECK(ParseRfc3339Millis("2026-01-01T00:00:00.123456789Z") == 1767225600123);
  CHECK(ParseRfc3339Millis("2026-01-01T01:00:00+01:00") == 1767225600000);
  CHECK(ParseRfc3339Millis("2025-12-31T23:30:00-00:30") == 1767225600000);
  CHECK(ParseRfc3339Millis("2024-02-29T00:00:00Z").has_value());
  CHECK_FALSE(ParseRfc3339Millis("2026-02-29T00:00:00Z").has_value());
  CHECK_FALSE(ParseRfc3339Millis("2026-01-01T00:00:00").has_value());
  CHECK_FALSE(ParseRfc3339Millis("2026-01-01T00:00:00Zjunk").has_value());
  CHECK_FALSE(ParseRfc3339Millis("2026-01-01 00:00:00Z").has_value());
  CHECK_FALSE(ParseRfc3339Millis("2026-01-01T24:00:00Z").has_value());
  CHECK_FALSE(ParseRfc3339Millis("2026-01-01T00:00:00.Z").has_value());
  CHECK_FALSE(ParseRfc3339Millis("2026-13-01T00:00:00Z").has_value());
}

TEST_CASE("freshness allows the tolerance in both directions and nothing more") {
  HeaderList headers;
  const RequestHead head{"POST", "/", "", headers};
  const FixedClock clock(1'000'000'000);
  const Request request{head, clock, std::chrono::seconds(300), false};
  CHECK(CheckFreshness(1'000'000'000, request) == Outcome::kValid);
  CHECK(CheckFreshness(1'000'000'000 - 300'000, request) == Outcome::kValid);
  CHECK(CheckFreshness(1'000'000'000 + 300'000, request) == Outcome::kValid);
  CHECK(CheckFreshness(1'000'000'000 - 300'001, request) == Outcome::kExpired);
  CHECK(CheckFreshness(1'000'000'000 + 300'001, request) == Outcome::kExpired);
}

TEST_CASE("a header sent twice is malformed and an absent one is missing") {
  HeaderList headers;
  headers.Add("X-One", "a");
  headers.Add("x-two", "b");
  headers.Add("X-TWO", "c");
  CHECK(std::get<std::string_view>(SingleValue(headers, "x-one")) == "a");
  CHECK(std::get<Outcome>(SingleValue(headers, "X-Two")) == Outcome::kMalformed);
  CHECK(std::get<Outcome>(SingleValue(headers, "X-Three")) == Outcome::kMissing);
}

TEST_CASE("signed URLs join the public URL, the path and the query") {
  CHECK(SignedUrl("https://x.example/hook", "/", "") == "https://x.example/hook");
  CHECK(SignedUrl("https://x.example/", "/hook", "") == "https://x.example/hook");
  CHECK(SignedUrl("https://x.example", "/hook", "a=1&b=2") == "https://x.example/hook?a=1&b=2");
}

TEST_CASE("delivery ids are required, bounded and namespaced only when the cache is on") {
  HeaderList headers;
  headers.Add("X-GitHub-Delivery", "abc");
  const RequestHead head{"POST", "/", "", headers};
  const FixedClock clock(0);
  const Request off{head, clock, std::chrono::seconds(300), false};
  const Request on{head, clock, std::chrono::seconds(300), true};
  CHECK(std::get<std::string>(ReplayKey(off, "X-Missing")).empty());
  CHECK(std::get<std::string>(ReplayKey(on, "X-GitHub-Delivery")) == "x-github-delivery:abc");
  CHECK(std::get<Outcome>(ReplayKey(on, "X-Missing")) == Outcome::kMissing);
  CHECK(std::get<Outcome>(ReplayKeyOf(on, "X-Id", std::string(kMaxDeliveryIdBytes + 1, 'a'))) ==
        Outcome::kMalformed);
}

TEST_CASE("split keeps empty pieces") {
  CHECK(Split("a,,b", ',') == std::vector<std::string_view>{"a", "", "b"});
  CHECK(Split("", ',') == std::vector<std::string_view>{""});
}

}  // namespace
}  // namespace hw::signature
