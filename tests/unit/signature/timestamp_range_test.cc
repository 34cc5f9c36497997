// Regression tests for issue 10 item 7: a signed timestamp chosen so that seconds x 1000
// wraps past 2^64 onto "now" (Stripe-Signature: t=18446745870236163,...) was fresh. Each
// scheme with a timestamp gets a correctly signed request carrying such a value (the MAC is
// right: only the timestamp check can refuse it), with the clock set to where it wraps.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <memory>

#include "common/clock.h"
#include "secrets/secret.h"
#include "signature/header_values.h"
#include "signature/registry.h"
#include "signature/scheme.h"
#include "support/signature_support.h"

namespace hw::signature {
namespace {

// Seconds whose x1000 passes 2^64 (the value from issue 10), and the instant it wraps onto.
constexpr std::uint64_t kWrappingSeconds = 18'446'745'870'236'163ull;
const std::int64_t kWrappedNowMs = static_cast<std::int64_t>(kWrappingSeconds * 1000ull);

std::string SecretFor(std::string_view scheme) {
  if (scheme == "standard-webhooks" || scheme == "svix") {
    return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  }
  return "overflow-secret";
}

// Signs `body` as a sender of `scheme` would at `seconds`, and checks it at `now_ms`.
Outcome SignAndCheck(const std::string& scheme, std::int64_t seconds, std::int64_t now_ms) {
  test::TempDir dir;
  dir.Write("webhook-secret", SecretFor(scheme));
  config::SignatureOptions options = test::OptionsFor(scheme, dir);
  options.public_url = "https://example.com";
  auto verifier = Verifier::Create(options, std::make_shared<FixedClock>(now_ms));
  REQUIRE(verifier.ok());
  auto made = FindScheme(scheme)->make(options);
  REQUIRE(made.ok());
  const secrets::Secret secret(SecretFor(scheme));
  SignInput input;
  input.body = "{\"amount\":1}";
  input.timestamp = seconds;
  input.id = "msg_1";
  auto lines = (*made)->Sign(secret, input);
  REQUIRE(lines.ok());
  test::Sent sent;
  sent.headers = *lines;
  sent.body = std::string(input.body);
  return test::Run(**verifier, sent).outcome;
}

TEST_CASE("the wrapping timestamp is 2^64 ms past a plausible now") {
  CHECK(kWrappedNowMs > 1'700'000'000'000);  // 2023
  CHECK(kWrappedNowMs < 1'900'000'000'000);  // 2030
}

TEST_CASE(
    "a Unix-seconds timestamp whose milliseconds wrap past 2^64 is malformed in every scheme") {
  for (const char* scheme : {"stripe", "paddle", "slack", "zoom", "standard-webhooks", "svix"}) {
    INFO("scheme " << scheme);
    // Control: the same request signed at "now" is valid, so only the timestamp decides.
    CHECK(SignAndCheck(scheme, kWrappedNowMs / 1000, kWrappedNowMs) == Outcome::kValid);
    CHECK(SignAndCheck(scheme, static_cast<std::int64_t>(kWrappingSeconds), kWrappedNowMs) ==
          Outcome::kMalformed);
    // The largest accepted value (year 9999) is only expired; one more second is malformed.
    CHECK(SignAndCheck(scheme, kMaxUnixSeconds, kWrappedNowMs) == Outcome::kExpired);
    CHECK(SignAndCheck(scheme, kMaxUnixSeconds + 1, kWrappedNowMs) == Outcome::kMalformed);
  }
}

TEST_CASE("hubspot: a millisecond timestamp past year 9999 is malformed, not merely expired") {
  // hubspot signs milliseconds: Sign multiplies the seconds it is given by 1000.
  CHECK(SignAndCheck("hubspot", kWrappedNowMs / 1000, kWrappedNowMs) == Outcome::kValid);
  CHECK(SignAndCheck("hubspot", kMaxUnixSeconds, kWrappedNowMs) == Outcome::kExpired);
  CHECK(SignAndCheck("hubspot", kMaxUnixSeconds + 1, kWrappedNowMs) == Outcome::kMalformed);
  CHECK(SignAndCheck("hubspot", 999'999'999'999'999, kWrappedNowMs) == Outcome::kMalformed);
}

TEST_CASE("timestamp parsers refuse values outside 1970..9999 instead of wrapping") {
  CHECK(ParseUnixSecondsAsMillis("18446745870236163") == std::nullopt);
  CHECK(ParseUnixSecondsAsMillis("253402300799") == 253'402'300'799'000);
  CHECK(ParseUnixSecondsAsMillis("253402300800") == std::nullopt);
  CHECK(ParseUnixSecondsAsMillis("0") == 0);
  CHECK(ParseUnixMillis("253402300799999") == 253'402'300'799'999);
  CHECK(ParseUnixMillis("253402300800000") == std::nullopt);
  CHECK(ParseUnixMillis("999999999999999999") == std::nullopt);
  // twitch (RFC 3339): before 1970 is outside the range.
  CHECK(ParseRfc3339Millis("0000-01-01T00:00:00Z") == std::nullopt);
  CHECK(ParseRfc3339Millis("1969-12-31T23:59:59Z") == std::nullopt);
  CHECK(ParseRfc3339Millis("9999-12-31T23:59:59.999Z") == kMaxUnixMillis);
  CHECK(ParseRfc3339Millis("9999-12-31T23:59:59-01:00") == std::nullopt);
}

TEST_CASE("freshness refuses timestamps outside the range whatever the caller passes") {
  HeaderList headers;
  const RequestHead head{"POST", "/", "", headers};
  const FixedClock clock(1'800'000'000'000);
  const Request request{head, clock, std::chrono::minutes(5), false};
  CHECK(CheckFreshness(-1, request) == Outcome::kMalformed);
  CHECK(CheckFreshness(std::numeric_limits<std::int64_t>::min(), request) == Outcome::kMalformed);
  CHECK(CheckFreshness(std::numeric_limits<std::int64_t>::max(), request) == Outcome::kMalformed);
  CHECK(CheckFreshness(1'800'000'000'000, request) == Outcome::kValid);
}

}  // namespace
}  // namespace hw::signature

namespace hw::signature {
namespace {

// discord does not check freshness, but its timestamp is parsed with the same range.
TEST_CASE("discord: a timestamp past year 9999 is malformed even with a valid signature") {
  const std::string seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
  const std::string public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
  test::TempDir dir;
  dir.Write("webhook-secret", public_key);
  auto verifier = Verifier::Create(test::OptionsFor("discord", dir),
                                   std::make_shared<FixedClock>(kWrappedNowMs));
  REQUIRE(verifier.ok());
  auto scheme = FindScheme("discord")->make(config::SignatureOptions{});
  REQUIRE(scheme.ok());
  for (const auto& [seconds, expected] : std::vector<std::pair<std::int64_t, Outcome>>{
           {kWrappedNowMs / 1000, Outcome::kValid},
           {static_cast<std::int64_t>(kWrappingSeconds), Outcome::kMalformed}}) {
    SignInput input;
    input.body = "{\"type\":1}";
    input.timestamp = seconds;
    auto lines = (*scheme)->Sign(secrets::Secret(seed), input);
    REQUIRE(lines.ok());
    test::Sent sent;
    sent.headers = *lines;
    sent.body = std::string(input.body);
    INFO(seconds);
    CHECK(test::Run(**verifier, sent).outcome == expected);
  }
}

}  // namespace
}  // namespace hw::signature
