// The Verifier as the server uses it: startup errors, several schemes, unsigned pairs,
// early decisions, rotation, live reload, the replay cache and what error texts may contain.
#include "signature/verifier.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <thread>

#include "crypto/encoding.h"
#include "crypto/hmac.h"
#include "support/signature_support.h"

namespace hw::signature {
namespace {

constexpr std::int64_t kNow = 1767225630;

std::string GithubSignature(std::string_view secret, std::string_view body) {
  auto key = crypto::HmacKey::Create(crypto::Algorithm::kSha256, crypto::AsBytes(secret));
  REQUIRE(key.ok());
  return "sha256=" + crypto::EncodeHex(key->Compute(body));
}

std::string StripeSignature(std::string_view secret, std::int64_t t, std::string_view body) {
  auto key = crypto::HmacKey::Create(crypto::Algorithm::kSha256, crypto::AsBytes(secret));
  REQUIRE(key.ok());
  const std::string ts = std::to_string(t);
  return "t=" + ts + ",v1=" + crypto::EncodeHex(key->Compute(ts + "." + std::string(body)));
}

test::Sent GithubRequest(std::string_view secret, std::string body, std::string id = "d-1") {
  test::Sent sent;
  sent.headers = {{"X-Hub-Signature-256", GithubSignature(secret, body)},
                  {"X-GitHub-Delivery", std::move(id)}};
  sent.body = std::move(body);
  return sent;
}

std::unique_ptr<Verifier> Make(const config::SignatureOptions& options, std::int64_t now = kNow) {
  auto verifier = Verifier::Create(options, std::make_shared<FixedClock>(now * 1000));
  if (!verifier) FAIL(verifier.error().message);
  return std::move(verifier).value();
}

TEST_CASE("an empty scheme list is a startup error saying hmac_scheme is required") {
  test::TempDir dir;
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.schemes = {};
  auto verifier = Verifier::Create(options, std::make_shared<SystemClock>());
  REQUIRE_FALSE(verifier.ok());
  CHECK_THAT(verifier.error().message, Catch::Contains("hmac_scheme is required"));
  options.schemes = {" "};
  CHECK_FALSE(Verifier::Create(options, std::make_shared<SystemClock>()).ok());
}

TEST_CASE("an unknown scheme is a startup error listing every valid name") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  auto verifier = Verifier::Create(test::OptionsFor("githubb", dir), nullptr);
  REQUIRE_FALSE(verifier.ok());
  for (std::string_view name : SchemeNames()) {
    CHECK_THAT(verifier.error().message, Catch::Contains(std::string(name)));
  }
  CHECK_THAT(verifier.error().message, Catch::Contains("githubb"));
  CHECK_THAT(verifier.error().message, Catch::Contains("none"));
}

TEST_CASE("none alone turns verification off and admits every request") {
  test::TempDir dir;  // no secret needed
  auto verifier = Make(test::OptionsFor("none", dir));
  CHECK(verifier->Disabled());
  CHECK(verifier->SchemesText() == "none");
  const Decision d = test::Run(*verifier, test::Sent{});
  CHECK(d.outcome == Outcome::kDisabled);
  CHECK(Admits(d.outcome));
}

TEST_CASE(
    "none combined with a scheme, a scheme listed twice and a stray hmac_secret_ key are "
    "startup errors") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.schemes = {"none", "github"};
  CHECK_FALSE(Verifier::Create(options, nullptr).ok());
  options.schemes = {"github", "github"};
  CHECK_FALSE(Verifier::Create(options, nullptr).ok());
  options.schemes = {"github"};
  options.scheme_secret_names["githb"] = {"webhook-secret"};
  auto verifier = Verifier::Create(options, nullptr);
  REQUIRE_FALSE(verifier.ok());
  CHECK_THAT(verifier.error().message, Catch::Contains("hmac_secret_githb"));
}

TEST_CASE("an empty secret is a startup error naming the file, never no check") {
  test::TempDir dir;
  const std::string path = dir.Write("webhook-secret", "\n");
  auto verifier = Verifier::Create(test::OptionsFor("github", dir), nullptr);
  REQUIRE_FALSE(verifier.ok());
  CHECK_THAT(verifier.error().message, Catch::Contains(path));
}

TEST_CASE("a missing secret file is a startup error naming the file") {
  test::TempDir dir;
  auto verifier = Verifier::Create(test::OptionsFor("github", dir, {"absent"}), nullptr);
  REQUIRE_FALSE(verifier.ok());
  CHECK_THAT(verifier.error().message, Catch::Contains(dir.File("absent")));
}

TEST_CASE("a secret name with a slash or dot-dot is a startup error") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  CHECK_FALSE(
      Verifier::Create(test::OptionsFor("github", dir, {"../webhook-secret"}), nullptr).ok());
  CHECK_FALSE(Verifier::Create(test::OptionsFor("github", dir, {"a/b"}), nullptr).ok());
  CHECK_FALSE(Verifier::Create(test::OptionsFor("github", dir, {""}), nullptr).ok());
}

TEST_CASE("generic, square, hubspot and twilio refuse to start without the options they need") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  config::SignatureOptions options = test::OptionsFor("generic", dir);
  options.algorithm = "sha256";
  CHECK_FALSE(Verifier::Create(options, nullptr).ok());  // no hmac_header
  options.header = "X-Sig";
  options.algorithm = "md4";
  CHECK_FALSE(Verifier::Create(options, nullptr).ok());
  options.algorithm = "sha256";
  options.encoding = "base32";
  CHECK_FALSE(Verifier::Create(options, nullptr).ok());
  options.encoding = "base64";
  CHECK(Verifier::Create(options, nullptr).ok());
  CHECK_FALSE(Verifier::Create(test::OptionsFor("square", dir), nullptr).ok());
  CHECK_FALSE(Verifier::Create(test::OptionsFor("hubspot", dir), nullptr).ok());
  CHECK_FALSE(Verifier::Create(test::OptionsFor("twilio", dir), nullptr).ok());
}

TEST_CASE("startup errors about a secret never contain the secret") {
  test::TempDir dir;
  dir.Write("webhook-secret", "whsec_not*base64*secret-content");
  auto verifier = Verifier::Create(test::OptionsFor("standard-webhooks", dir), nullptr);
  REQUIRE_FALSE(verifier.ok());
  CHECK_THAT(verifier.error().message, Catch::Contains(dir.File("webhook-secret")));
  CHECK_THAT(verifier.error().message, !Catch::Contains("secret-content"));
  CHECK_THAT(verifier.error().message, !Catch::Contains("not*base64"));
}

TEST_CASE("github scheme accepts its signature and rejects a changed body") {
  test::TempDir dir;
  dir.Write("webhook-secret", "It's a Secret to Everybody\n");
  auto verifier = Make(test::OptionsFor("github", dir));
  CHECK(verifier->SchemesText() == "github");
  test::Sent sent = GithubRequest("It's a Secret to Everybody", "Hello, World!");
  CHECK(test::Run(*verifier, sent).outcome == Outcome::kValid);
  sent.body = "Hello, World?";
  CHECK(test::Run(*verifier, sent).outcome == Outcome::kMismatch);
}

TEST_CASE("github scheme with only the legacy X-Hub-Signature header is missing") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  auto verifier = Make(test::OptionsFor("github", dir));
  test::Sent sent;
  sent.headers = {{"X-Hub-Signature", "sha1=29b12fe858a7416d5f170cb692d84cd7683ffab6"}};
  const Decision d = test::Run(*verifier, sent);
  CHECK(d.outcome == Outcome::kMissing);
  CHECK(d.scheme == "github");
}

TEST_CASE("headers that decide the outcome need no body") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  auto verifier = Make(test::OptionsFor("stripe", dir));
  HeaderList headers;
  const RequestHead head{"POST", "/", "", headers};
  CHECK_FALSE(verifier->Begin(head)->NeedsBody());  // missing
  headers.Add("Stripe-Signature", "t=1767225630x,v1=" + std::string(64, 'a'));
  auto check = verifier->Begin(head);
  CHECK_FALSE(check->NeedsBody());  // trailing garbage in the timestamp
  check->Update("ignored");
  CHECK(check->Finish().outcome == Outcome::kMalformed);

  HeaderList fresh;
  fresh.Add("Stripe-Signature", StripeSignature("s", kNow, "body"));
  auto valid = verifier->Begin({"POST", "/", "", fresh});
  CHECK(valid->NeedsBody());
  valid->Update("body");
  CHECK(valid->Finish().outcome == Outcome::kValid);
}

// A request's candidates are kept in place up to two, then on the heap: a header with many
// v1 items must still be valid when any one of them matches, wherever it stands, and refused
// when none does or one is malformed.
TEST_CASE("stripe: any one of many v1 signatures matches, at any position") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  auto verifier = Make(test::OptionsFor("stripe", dir));
  const std::string good = StripeSignature("s", kNow, "body");
  const std::string good_mac = good.substr(good.find("v1=") + 3);
  const std::string ts = "t=" + std::to_string(kNow);
  for (std::size_t count : {1u, 2u, 3u, 5u, 9u}) {
    for (std::size_t at = 0; at <= count; ++at) {  // at == count: no matching item
      std::string header = ts;
      for (std::size_t i = 0; i < count; ++i) {
        header += ",v1=" + (i == at ? good_mac : std::string(64, static_cast<char>('a' + i % 6)));
      }
      INFO(count << " items, the valid one at " << at);
      for (CheckStorage* storage : {static_cast<CheckStorage*>(nullptr), new CheckStorage}) {
        HeaderList headers;
        headers.Add("Stripe-Signature", header);
        {
          CheckPtr check = verifier->Begin({"POST", "/", "", headers}, storage);
          REQUIRE(check->NeedsBody());
          check->Update("body");
          CHECK(check->Finish().outcome == (at < count ? Outcome::kValid : Outcome::kMismatch));
        }
        HeaderList malformed;
        malformed.Add("Stripe-Signature", header + ",v1=" + std::string(63, 'a'));
        CHECK(verifier->Begin({"POST", "/", "", malformed}, storage)->Finish().outcome ==
              Outcome::kMalformed);
        delete storage;
      }
    }
  }
}

// The server keeps one CheckStorage per request object and Begin places the check there: one
// storage reused for many checks in a row, valid and forged, gives each its own answer.
TEST_CASE("checks placed in one caller's storage one after another do not disturb each other") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  auto verifier = Make(test::OptionsFor("github", dir));
  CheckStorage storage;
  for (int i = 0; i < 200; ++i) {
    const std::string body = "body " + std::to_string(i);
    test::Sent sent = GithubRequest("s", body);
    if (i % 3 == 1) sent.headers[0].second = GithubSignature("other", body);
    HeaderList headers;
    for (const auto& [name, value] : sent.headers) headers.Add(name, value);
    CheckPtr check = verifier->Begin({"POST", "/", "", headers}, &storage);
    REQUIRE(static_cast<void*>(check.get()) == static_cast<void*>(storage.bytes));
    check->Update(body);
    CHECK(check->Finish().outcome == (i % 3 == 1 ? Outcome::kMismatch : Outcome::kValid));
  }
}

TEST_CASE("stripe scheme rejects a timestamp outside the tolerance in either direction") {
  test::TempDir dir;
  dir.Write("webhook-secret", "whsec_abc");
  auto verifier = Make(test::OptionsFor("stripe", dir));
  for (std::int64_t t : {kNow - 300, kNow + 300}) {
    test::Sent sent;
    sent.headers = {{"Stripe-Signature", StripeSignature("whsec_abc", t, "{}")}};
    sent.body = "{}";
    CHECK(test::Run(*verifier, sent).outcome == Outcome::kValid);
  }
  for (std::int64_t t : {kNow - 301, kNow + 301}) {
    test::Sent sent;
    sent.headers = {{"Stripe-Signature", StripeSignature("whsec_abc", t, "{}")}};
    sent.body = "{}";
    CHECK(test::Run(*verifier, sent).outcome == Outcome::kExpired);
  }
}

TEST_CASE("upper-case hex where the provider sends lower case is malformed") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  for (const char* scheme : {"github", "gitea", "faas-cli", "patreon"}) {
    auto verifier = Make(test::OptionsFor(scheme, dir));
    std::string header = std::string(scheme) == "gitea"     ? "X-Gitea-Signature"
                         : std::string(scheme) == "patreon" ? "X-Patreon-Signature"
                                                            : "X-Hub-Signature-256";
    test::Sent sent;
    std::string signature = GithubSignature("s", "x");
    if (std::string(scheme) == "gitea") signature = signature.substr(7);
    for (char& c : signature) c = static_cast<char>(std::toupper(c));
    if (std::string(scheme) != "gitea" && std::string(scheme) != "patreon") {
      signature.replace(0, 7, "sha256=");
    }
    sent.headers = {{header, signature}, {"X-GitHub-Delivery", "x"}};
    sent.body = "x";
    INFO(scheme);
    CHECK(test::Run(*verifier, sent).outcome == Outcome::kMalformed);
  }
}

TEST_CASE("a signature header sent twice is malformed") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  auto verifier = Make(test::OptionsFor("github", dir));
  test::Sent sent = GithubRequest("s", "x");
  sent.headers.emplace_back("x-hub-signature-256", GithubSignature("s", "x"));
  CHECK(test::Run(*verifier, sent).outcome == Outcome::kMalformed);
}

TEST_CASE("faas-cli accepts sha1= only with allow_sha1 and reads hmac_header") {
  test::TempDir dir;
  dir.Write("webhook-secret", "cookie");
  config::SignatureOptions options = test::OptionsFor("faas-cli", dir);
  options.header = "Hmac";
  test::Sent sent;
  sent.headers = {{"Hmac", "sha1=9239edfe20185eafd7a5513c303b03d207d22f64"}};
  sent.body = "The message";
  CHECK(test::Run(*Make(options), sent).outcome == Outcome::kMalformed);
  options.allow_sha1 = true;
  CHECK(test::Run(*Make(options), sent).outcome == Outcome::kValid);
  sent.headers = {{"X-Hub-Signature-256", GithubSignature("cookie", "The message")}};
  CHECK(test::Run(*Make(options), sent).outcome == Outcome::kMissing);  // header is Hmac
}

TEST_CASE("several schemes: each present one is checked and none present is missing") {
  test::TempDir dir;
  dir.Write("webhook-secret", "shared");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.schemes = {"github", "stripe"};
  auto verifier = Make(options);
  CHECK(verifier->SchemesText() == "github,stripe");

  test::Sent stripe;
  stripe.headers = {{"Stripe-Signature", StripeSignature("shared", kNow, "b")}};
  stripe.body = "b";
  Decision d = test::Run(*verifier, stripe);
  CHECK(d.outcome == Outcome::kValid);
  CHECK(d.scheme == "stripe");

  test::Sent github = GithubRequest("shared", "b");
  d = test::Run(*verifier, github);
  CHECK(d.outcome == Outcome::kValid);
  CHECK(d.scheme == "github");

  // A bad github signature next to a good stripe one: the stripe check decides.
  stripe.headers.emplace_back("X-Hub-Signature-256", "sha256=" + std::string(64, '0'));
  CHECK(test::Run(*verifier, stripe).outcome == Outcome::kValid);

  test::Sent none;
  none.body = "b";
  d = test::Run(*verifier, none);
  CHECK(d.outcome == Outcome::kMissing);
  CHECK(d.scheme.empty());
}

TEST_CASE("per-scheme secret names are used for their scheme only") {
  test::TempDir dir;
  dir.Write("webhook-secret", "for-github");
  dir.Write("stripe-secret", "for-stripe");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.schemes = {"github", "stripe"};
  options.scheme_secret_names["stripe"] = {"stripe-secret"};
  auto verifier = Make(options);
  test::Sent stripe;
  stripe.headers = {{"Stripe-Signature", StripeSignature("for-stripe", kNow, "b")}};
  stripe.body = "b";
  CHECK(test::Run(*verifier, stripe).outcome == Outcome::kValid);
  stripe.headers = {{"Stripe-Signature", StripeSignature("for-github", kNow, "b")}};
  CHECK(test::Run(*verifier, stripe).outcome == Outcome::kMismatch);
  CHECK(test::Run(*verifier, GithubRequest("for-github", "b")).outcome == Outcome::kValid);
}

TEST_CASE("hmac_allow_unsigned admits exactly the listed method and path") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.allow_unsigned = {{"GET", "/health"}};
  auto verifier = Make(options);
  test::Sent sent;
  sent.method = "GET";
  sent.path = "/health";
  CHECK(test::Run(*verifier, sent).outcome == Outcome::kUnsignedAllowed);
  sent.method = "POST";
  CHECK(test::Run(*verifier, sent).outcome == Outcome::kMissing);
  sent.method = "GET";
  sent.path = "/health/";
  CHECK(test::Run(*verifier, sent).outcome == Outcome::kMissing);
  sent.path = "/Health";
  CHECK(test::Run(*verifier, sent).outcome == Outcome::kMissing);
}

TEST_CASE("rotation: every listed secret is accepted") {
  test::TempDir dir;
  dir.Write("old", "old-secret");
  dir.Write("new", "new-secret");
  auto verifier = Make(test::OptionsFor("github", dir, {"old", "new"}));
  CHECK(test::Run(*verifier, GithubRequest("old-secret", "x")).outcome == Outcome::kValid);
  CHECK(test::Run(*verifier, GithubRequest("new-secret", "x")).outcome == Outcome::kValid);
  CHECK(test::Run(*verifier, GithubRequest("other", "x")).outcome == Outcome::kMismatch);
}

TEST_CASE("rotation: a removed file's secret is withdrawn while another secret remains") {
  test::TempDir dir;
  dir.Write("old", "old-secret");
  dir.Write("new", "new-secret");
  auto verifier = Make(test::OptionsFor("github", dir, {"old", "new"}));
  CHECK(test::Run(*verifier, GithubRequest("old-secret", "x")).outcome == Outcome::kValid);
  std::filesystem::remove(dir.File("old"));
  verifier->ReloadNow();
  CHECK(verifier->GetStats().reload_failures == 0);
  CHECK(verifier->GetStats().reloads == 1);
  CHECK(test::Run(*verifier, GithubRequest("old-secret", "x")).outcome == Outcome::kMismatch);
  CHECK(test::Run(*verifier, GithubRequest("new-secret", "x")).outcome == Outcome::kValid);
  // The last secret is never withdrawn: its removal is a failure that keeps it.
  std::filesystem::remove(dir.File("new"));
  verifier->ReloadNow();
  CHECK(verifier->GetStats().reload_failures == 1);
  CHECK(test::Run(*verifier, GithubRequest("new-secret", "x")).outcome == Outcome::kValid);
  // A file that comes back is accepted again.
  dir.Write("old", "newer-secret");
  verifier->ReloadNow();
  CHECK(test::Run(*verifier, GithubRequest("newer-secret", "x")).outcome == Outcome::kValid);
}

TEST_CASE("a changed secret is used after a reload and a broken one keeps the last good") {
  test::TempDir dir;
  dir.Write("webhook-secret", "first");
  auto verifier = Make(test::OptionsFor("github", dir));
  dir.Write("webhook-secret", "second\n");
  verifier->ReloadNow();
  CHECK(verifier->GetStats().reloads == 1);
  CHECK(test::Run(*verifier, GithubRequest("second", "x")).outcome == Outcome::kValid);
  CHECK(test::Run(*verifier, GithubRequest("first", "x")).outcome == Outcome::kMismatch);
  dir.Write("webhook-secret", "");
  verifier->ReloadNow();
  CHECK(verifier->GetStats().reload_failures == 1);
  CHECK(test::Run(*verifier, GithubRequest("second", "x")).outcome == Outcome::kValid);
}

TEST_CASE("the reload thread picks up a changed secret within the reload interval") {
  test::TempDir dir;
  dir.Write("webhook-secret", "first");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.reload_interval = std::chrono::milliseconds(20);
  auto verifier = Make(options);
  dir.Write("webhook-secret", "second");
  CHECK(test::Eventually([&] { return verifier->GetStats().reloads > 0; }));
  CHECK(test::Run(*verifier, GithubRequest("second", "x")).outcome == Outcome::kValid);
}

TEST_CASE("a request started before a reload finishes with the secret it started with") {
  test::TempDir dir;
  dir.Write("webhook-secret", "first");
  auto verifier = Make(test::OptionsFor("github", dir));
  HeaderList headers;
  headers.Add("X-Hub-Signature-256", GithubSignature("first", "body"));
  auto check = verifier->Begin({"POST", "/", "", headers});
  check->Update("bo");
  dir.Write("webhook-secret", "second");
  verifier->ReloadNow();
  check->Update("dy");
  CHECK(check->Finish().outcome == Outcome::kValid);
}

TEST_CASE("requests and reloads may run at the same time") {
  test::TempDir dir;
  dir.Write("webhook-secret", "a");
  auto verifier = Make(test::OptionsFor("github", dir));
  std::atomic<bool> stop{false};
  std::atomic<int> decided{0};
  std::vector<std::thread> workers;
  // Built here: Catch2 assertions (inside GithubRequest) are not thread-safe.
  const test::Sent sent = GithubRequest("a", "payload");
  for (int t = 0; t < 4; ++t) {
    workers.emplace_back([&] {
      while (!stop) {
        const Outcome o = test::Run(*verifier, sent).outcome;
        if (o == Outcome::kValid || o == Outcome::kMismatch) ++decided;
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    dir.Write("webhook-secret", i % 2 ? "a" : "b");
    verifier->ReloadNow();
  }
  dir.Write("webhook-secret", "a");
  verifier->ReloadNow();
  stop = true;
  for (std::thread& w : workers) w.join();
  CHECK(decided > 0);
  CHECK(test::Run(*verifier, GithubRequest("a", "payload")).outcome == Outcome::kValid);
}

// Runs `sent` and settles its claim as a function that succeeded (true) or failed (false).
Outcome RunSettled(const Verifier& verifier, const test::Sent& sent, bool success) {
  Decision d = test::Run(verifier, sent);
  if (d.claim) d.claim->Settle(success);
  return d.outcome;
}

TEST_CASE(
    "with the replay store a delivery handled successfully is a duplicate until its window ends") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.replay_cache = 100;
  options.dedupe_window = std::chrono::hours(72);
  auto clock = std::make_shared<FixedClock>(kNow * 1000);
  auto verifier = Verifier::Create(options, clock);
  REQUIRE(verifier.ok());
  CHECK(RunSettled(**verifier, GithubRequest("s", "x", "id-1"), true) == Outcome::kValid);
  CHECK(RunSettled(**verifier, GithubRequest("s", "x", "id-1"), true) == Outcome::kDuplicate);
  CHECK(RunSettled(**verifier, GithubRequest("s", "y", "id-2"), true) == Outcome::kValid);
  clock->Set(kNow * 1000 + 72 * 3600 * 1000 - 1);
  CHECK(RunSettled(**verifier, GithubRequest("s", "x", "id-1"), true) == Outcome::kDuplicate);
  clock->Set(kNow * 1000 + 72 * 3600 * 1000);
  CHECK(RunSettled(**verifier, GithubRequest("s", "x", "id-1"), true) == Outcome::kValid);
}

TEST_CASE(
    "a github body resent with a new X-GitHub-Delivery is a duplicate (the id is not signed)") {
  // Regression (issue 16): the unsigned id let the same signed body through again and again.
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.replay_cache = 100;
  auto verifier = Make(options);
  CHECK(RunSettled(*verifier, GithubRequest("s", "x", "id-1"), true) == Outcome::kValid);
  CHECK(RunSettled(*verifier, GithubRequest("s", "x", "id-2"), true) == Outcome::kDuplicate);
  test::Sent without_id = GithubRequest("s", "x");
  without_id.headers.pop_back();
  CHECK(RunSettled(*verifier, without_id, true) == Outcome::kDuplicate);
}

TEST_CASE("a retry after a function failure runs; one while the first runs is in flight") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.replay_cache = 100;
  auto verifier = Make(options);
  Decision first = test::Run(*verifier, GithubRequest("s", "x"));
  REQUIRE(first.outcome == Outcome::kValid);
  REQUIRE(first.claim);
  CHECK(test::Run(*verifier, GithubRequest("s", "x")).outcome == Outcome::kInFlight);
  first.claim->Settle(false);
  CHECK(RunSettled(*verifier, GithubRequest("s", "x"), false) == Outcome::kValid);
  // A claim dropped without settling is released too.
  CHECK(RunSettled(*verifier, GithubRequest("s", "x"), true) == Outcome::kValid);
  CHECK(RunSettled(*verifier, GithubRequest("s", "x"), true) == Outcome::kDuplicate);
}

TEST_CASE("a forged request does not poison the replay store") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.replay_cache = 100;
  auto verifier = Make(options);
  CHECK(test::Run(*verifier, GithubRequest("forger", "x", "id-1")).outcome == Outcome::kMismatch);
  CHECK(RunSettled(*verifier, GithubRequest("s", "x", "id-1"), true) == Outcome::kValid);
}

// Refusal is what the front loop asks (README "Limits"): it must decide a forged
// request without touching the replay store, and leave a matching one's claim to Finish.
TEST_CASE("Refusal decides forged requests without a claim and leaves a matching one to Finish") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.replay_cache = 1;  // one claim fills it: a claim made by Refusal would show
  auto verifier = Make(options);
  auto begin = [&](const test::Sent& sent, HeaderList& headers) {
    for (const auto& [name, value] : sent.headers) headers.Add(name, value);
    auto check = verifier->Begin(RequestHead{sent.method, sent.path, sent.query, headers});
    if (check->NeedsBody()) check->Update(sent.body);
    return check;
  };
  for (int i = 0; i < 3; ++i) {
    HeaderList headers;
    auto forged = begin(GithubRequest("forger", "x", "id-" + std::to_string(i)), headers);
    auto refusal = forged->Refusal();
    REQUIRE(refusal.has_value());
    CHECK(refusal->outcome == Outcome::kMismatch);
    CHECK_FALSE(refusal->claim);
    CHECK(forged->Finish().outcome == Outcome::kMismatch);  // Finish agrees
  }
  HeaderList missing_headers;
  test::Sent unsigned_request;
  unsigned_request.body = "x";
  auto missing = begin(unsigned_request, missing_headers);
  REQUIRE(missing->Refusal().has_value());
  CHECK(missing->Finish().outcome == Outcome::kMissing);

  HeaderList headers;
  auto real = begin(GithubRequest("s", "x"), headers);
  CHECK_FALSE(real->Refusal().has_value());  // matched: Finish claims
  Decision first = real->Finish();
  REQUIRE(first.outcome == Outcome::kValid);
  REQUIRE(first.claim);  // the store had room: nothing was claimed before Finish
  first.claim->Settle(true);
  // The same delivery again: Refusal still does not claim or refuse it; Finish says duplicate.
  HeaderList again_headers;
  auto again = begin(GithubRequest("s", "x"), again_headers);
  CHECK_FALSE(again->Refusal().has_value());
  CHECK(again->Finish().outcome == Outcome::kDuplicate);
}

TEST_CASE("a full memory replay store refuses new deliveries with replay_full") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.replay_cache = 3;
  auto verifier = Make(options);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(RunSettled(*verifier, GithubRequest("s", "b" + std::to_string(i)), true) ==
            Outcome::kValid);
  }
  CHECK(RunSettled(*verifier, GithubRequest("s", "b3"), true) == Outcome::kReplayFull);
  CHECK(RunSettled(*verifier, GithubRequest("s", "b0"), true) == Outcome::kDuplicate);
}

TEST_CASE("an unknown replay store is an error naming hmac_replay_store") {
  test::TempDir dir;
  dir.Write("webhook-secret", "s");
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.replay_store = "redis://";
  auto verifier = Verifier::Create(options, nullptr);
  REQUIRE_FALSE(verifier.ok());
  CHECK(verifier.error().message.find("hmac_replay_store") != std::string::npos);
  options.replay_store = "memory";  // without a capacity
  auto memory = Verifier::Create(options, nullptr);
  REQUIRE_FALSE(memory.ok());
  CHECK(memory.error().message.find("hmac_replay_cache") != std::string::npos);
}

TEST_CASE("outcome names are the documented ones and only three outcomes admit") {
  CHECK(OutcomeName(Outcome::kValid) == "valid");
  CHECK(OutcomeName(Outcome::kUnsignedAllowed) == "unsigned_allowed");
  CHECK(OutcomeName(Outcome::kDisabled) == "disabled");
  CHECK(OutcomeName(Outcome::kMissing) == "missing");
  CHECK(OutcomeName(Outcome::kMalformed) == "malformed");
  CHECK(OutcomeName(Outcome::kMismatch) == "mismatch");
  CHECK(OutcomeName(Outcome::kExpired) == "expired");
  CHECK(OutcomeName(Outcome::kReplayed) == "replayed");
  CHECK(OutcomeName(Outcome::kTooLarge) == "too_large");
  CHECK(OutcomeName(Outcome::kDuplicate) == "duplicate");
  CHECK(OutcomeName(Outcome::kInFlight) == "in_flight");
  CHECK(OutcomeName(Outcome::kReplayFull) == "replay_full");
  CHECK(OutcomeName(Outcome::kReplayUnavailable) == "replay_unavailable");
  CHECK(Admits(Outcome::kValid));
  CHECK(Admits(Outcome::kUnsignedAllowed));
  CHECK(Admits(Outcome::kDisabled));
  for (Outcome o : {Outcome::kMissing, Outcome::kMalformed, Outcome::kMismatch, Outcome::kExpired,
                    Outcome::kReplayed, Outcome::kTooLarge}) {
    CHECK_FALSE(Admits(o));
  }
}

}  // namespace
}  // namespace hw::signature

namespace hw::signature {
namespace {

constexpr std::string_view kDiscordPublicKey =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

// Issue 10 item 3: with the default shared secret, Discord's published public key became
// the GitHub HMAC key, so anyone could sign.
TEST_CASE("a secret file read by discord as a public key is never an HMAC key") {
  test::TempDir dir;
  dir.Write("webhook-secret", std::string(kDiscordPublicKey));
  config::SignatureOptions options = test::OptionsFor("github", dir);
  options.schemes = {"github", "discord"};
  auto shared = Verifier::Create(options, nullptr);
  REQUIRE_FALSE(shared.ok());
  const std::string& message = shared.error().message;
  CHECK_THAT(message, Catch::Contains("github"));
  CHECK_THAT(message, Catch::Contains("discord"));
  CHECK_THAT(message, Catch::Contains(dir.File("webhook-secret")));
  CHECK_THAT(message, Catch::Contains("hmac_secret_discord"));

  // The same file under another name, through a symlink, is the same file.
  std::filesystem::create_symlink(dir.File("webhook-secret"), dir.File("discord-key"));
  options.scheme_secret_names["discord"] = {"discord-key"};
  CHECK_FALSE(Verifier::Create(options, nullptr).ok());

  // One HMAC secret among several shared with discord is enough to refuse.
  dir.Write("discord-own", std::string(kDiscordPublicKey));
  options.scheme_secret_names["discord"] = {"discord-own"};
  options.scheme_secret_names["github"] = {"github-secret", "discord-own"};
  dir.Write("github-secret", "gh");
  CHECK_FALSE(Verifier::Create(options, nullptr).ok());

  // Each with its own file: accepted (order of the schemes does not matter either way).
  options.scheme_secret_names["github"] = {"github-secret"};
  CHECK(Verifier::Create(options, nullptr).ok());
  options.schemes = {"discord", "github"};
  options.scheme_secret_names.erase("github");
  options.scheme_secret_names["discord"] = {"webhook-secret"};
  CHECK(Verifier::Create(options, nullptr).ok() == false);
  options.scheme_secret_names["discord"] = {"discord-own"};
  CHECK(Verifier::Create(options, nullptr).ok());
}

}  // namespace
}  // namespace hw::signature

namespace hw::signature {
namespace {

std::string HexMac(crypto::Algorithm algorithm, std::string_view secret, std::string_view body) {
  auto key = crypto::HmacKey::Create(algorithm, crypto::AsBytes(secret));
  REQUIRE(key.ok());
  return crypto::EncodeHex(key->Compute(body));
}

// Issue 12 item 3: hmac_header overrode every scheme's header, so the suggested test set-up
// (patreon,faas-cli with hmac_header=X-Faas-Signature) refused genuine Patreon deliveries.
TEST_CASE("hmac_header applies to faas-cli and generic only, never hiding a provider's header") {
  test::TempDir dir;
  dir.Write("webhook-secret", "shared");
  config::SignatureOptions options = test::OptionsFor("patreon", dir);
  options.schemes = {"patreon", "faas-cli"};
  options.header = "X-Faas-Signature";
  auto made = Verifier::Create(options, nullptr);
  REQUIRE(made.ok());
  const std::string body = R"({"data":{}})";
  test::Sent patreon;
  patreon.headers = {{"X-Patreon-Signature", HexMac(crypto::Algorithm::kMd5, "shared", body)}};
  patreon.body = body;
  CHECK(test::Run(**made, patreon).outcome == Outcome::kValid);
  CHECK(test::Run(**made, patreon).scheme == "patreon");
  test::Sent faas;
  faas.headers = {
      {"X-Faas-Signature", "sha256=" + HexMac(crypto::Algorithm::kSha256, "shared", body)}};
  faas.body = body;
  CHECK(test::Run(**made, faas).outcome == Outcome::kValid);
  CHECK(test::Run(**made, faas).scheme == "faas-cli");

  // hmac_header with only provider schemes would hide their headers: a startup error.
  options.schemes = {"patreon"};
  auto refused = Verifier::Create(options, nullptr);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message, Catch::Contains("hmac_header=X-Faas-Signature"));
  CHECK_THAT(refused.error().message, Catch::Contains("X-Patreon-Signature"));
  CHECK_THAT(refused.error().message, Catch::Contains("hmac_header_patreon"));

  // hmac_header_<scheme> renames one scheme's header on purpose.
  options.header.clear();
  options.scheme_headers["patreon"] = "X-Relayed-Signature";
  auto renamed = Verifier::Create(options, nullptr);
  REQUIRE(renamed.ok());
  test::Sent relayed = patreon;
  relayed.headers = {{"X-Relayed-Signature", patreon.headers[0].second}};
  CHECK(test::Run(**renamed, relayed).outcome == Outcome::kValid);
  CHECK(test::Run(**renamed, patreon).outcome == Outcome::kMissing);
  options.scheme_headers = {{"github", "X-Other"}};
  auto stray = Verifier::Create(options, nullptr);
  REQUIRE_FALSE(stray.ok());
  CHECK_THAT(stray.error().message, Catch::Contains("hmac_header_github"));
}

}  // namespace
}  // namespace hw::signature
