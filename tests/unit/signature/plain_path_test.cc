// The Verifier checks a plain scheme configured alone (PlainMac, hmac_scheme.h: GitHub's,
// Shopify's, Patreon's...) by its description instead of the general way. Held here to the
// general way's outcomes over random requests: for every plain scheme (and generic with other
// algorithms, encodings and prefixes, and a renamed header), the same request gets the same
// refusal and decision, called as the server calls them, from verifiers that take the plain
// path (one secret, or two while a secret rotates, either of them signing) and from verifiers
// with the same keys that cannot (a second scheme configured; a third secret), and a body the
// sender did not sign is never valid.
#include <catch2/catch.hpp>

#include <functional>
#include <random>

#include "crypto/encoding.h"
#include "signature/hmac_scheme.h"
#include "signature/registry.h"
#include "support/signature_support.h"

namespace hw::signature {
namespace {

constexpr std::string_view kSecret = "plain-path-secret";

std::unique_ptr<Verifier> Make(const config::SignatureOptions& options) {
  auto verifier = Verifier::Create(options, std::make_shared<FixedClock>(1767225630000));
  if (!verifier) FAIL(verifier.error().message);
  return std::move(verifier).value();
}

// The options `scheme` is tried with: generic needs the header it reads.
config::SignatureOptions OptionsOf(const std::string& scheme, const test::TempDir& dir) {
  config::SignatureOptions options = test::OptionsFor(scheme, dir);
  if (scheme == "generic") options.header = "X-Signature";
  return options;
}

// The schemes of the plain form, as the registry makes them.
std::vector<std::string> PlainSchemes() {
  config::SignatureOptions options;
  options.header = "X-Signature";  // generic's; the providers' schemes read their own
  std::vector<std::string> names;
  for (const SchemeEntry& entry : Registry()) {
    auto scheme = entry.make(options);
    if (scheme && (*scheme)->Plain() != nullptr) names.emplace_back(entry.name);
  }
  return names;
}

std::string RandomBytes(std::mt19937& rng, std::size_t max) {
  std::string out(std::uniform_int_distribution<std::size_t>(0, max)(rng), '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

// `name` with each letter's case chosen at random (header names are case-insensitive).
std::string RandomCase(std::mt19937& rng, std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (rng() % 2 != 0)
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    else
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// A value for the signature header: the right one, or one of the ways it goes wrong.
std::string RandomValue(std::mt19937& rng, const std::string& right, const std::string& prefix) {
  std::string v = right;
  switch (rng() % 12) {
    case 0:
    case 1:
    case 2:
      return v;
    case 3:  // one character changed
      if (!v.empty()) v[rng() % v.size()] ^= static_cast<char>(1 + rng() % 0x7f);
      return v;
    case 4:  // cut short, or one character more
      return rng() % 2 != 0 && !v.empty() ? v.substr(0, v.size() - 1 - rng() % 2) : v + "0";
    case 5:  // without its prefix, or with another one
      return rng() % 2 != 0 ? v.substr(prefix.size()) : "sha1=" + v.substr(prefix.size());
    case 6:  // the other hex case
      for (char& c : v) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return v;
    case 7:
      return "";
    case 8:  // spaces around it
      return " " + v + " ";
    case 9:  // the prefix and random bytes
      return prefix + RandomBytes(rng, 90);
    case 10: {  // a well-formed MAC of something else
      std::string other = v;
      for (std::size_t i = prefix.size(); i < other.size(); ++i) {
        if (std::isxdigit(static_cast<unsigned char>(other[i])) && rng() % 3 == 0) {
          other[i] = other[i] == '0' ? '1' : '0';
        }
      }
      return other;
    }
    default:
      return RandomBytes(rng, 100);
  }
}

// What the server sees of one request's check: Refusal first (the outcome when it refuses),
// then Finish.
struct Seen {
  std::optional<Outcome> refused;
  Decision finished;
};

Seen RunAsServer(const Verifier& verifier, const test::Sent& sent, std::size_t chunk) {
  HeaderList headers;
  for (const auto& [name, value] : sent.headers) headers.Add(name, value);
  const RequestHead head{sent.method, sent.path, sent.query, headers};
  CheckStorage storage;
  CheckPtr check = verifier.Begin(head, &storage);
  if (check->NeedsBody()) {
    for (std::size_t at = 0; at < sent.body.size(); at += chunk) {
      check->Update(std::string_view(sent.body).substr(at, chunk));
    }
  }
  Seen seen{std::nullopt, {}};
  if (const std::optional<Decision> refusal = check->Refusal()) seen.refused = refusal->outcome;
  seen.finished = check->Finish();
  return seen;
}

// One configuration a plain scheme is tried in.
struct Variant {
  std::string scheme;
  std::function<void(config::SignatureOptions&)> adjust = [](config::SignatureOptions&) {};
};

std::vector<Variant> Variants() {
  std::vector<Variant> variants;
  for (const std::string& scheme : PlainSchemes()) variants.push_back({scheme});
  variants.push_back({"generic", [](config::SignatureOptions& o) {
                        o.algorithm = "sha512";
                        o.encoding = "base64";
                        o.prefix = "v1=";
                      }});
  variants.push_back({"generic", [](config::SignatureOptions& o) {
                        o.algorithm = "sha1";
                        o.prefix = "sha1=";
                      }});
  variants.push_back(
      {"github", [](config::SignatureOptions& o) { o.scheme_headers["github"] = "X-Renamed"; }});
  return variants;
}

TEST_CASE("a plain scheme alone gets the general way's outcomes over random requests") {
  const std::vector<std::string> schemes = PlainSchemes();
  // The registry's plain ones, at least these (the list changes only with the registry).
  for (const char* expected : {"github", "github-sha1", "faas-cli", "patreon", "shopify", "gitea",
                               "bitbucket", "meta", "generic"}) {
    CHECK(std::find(schemes.begin(), schemes.end(), expected) != schemes.end());
  }
  std::mt19937 rng(Catch::rngSeed());
  for (const Variant& variant : Variants()) {
    const std::string& scheme = variant.scheme;
    test::TempDir dir;
    dir.Write("webhook-secret", std::string(kSecret));
    dir.Write("old", "an-old-secret");
    dir.Write("older", "an-older-secret");
    dir.Write("slack-secret", "a-slack-secret");
    config::SignatureOptions alone = OptionsOf(scheme, dir);
    variant.adjust(alone);
    auto with_slack = [&](config::SignatureOptions o) {
      o.schemes = {scheme, "slack"};
      o.scheme_secret_names["slack"] = {"slack-secret"};
      return o;
    };
    config::SignatureOptions rotating = alone;
    rotating.secret_names = {"old", "webhook-secret"};
    config::SignatureOptions three = alone;
    three.secret_names = {"old", "webhook-secret", "older"};

    // Two sets of keys, each checked the plain way and the general way (a second scheme
    // configured; three secrets where the third never signs).
    const auto plain = Make(alone);
    const auto general = Make(with_slack(alone));
    const auto plain_rotating = Make(rotating);
    const auto general_rotating = Make(with_slack(rotating));
    const auto general_three = Make(three);
    REQUIRE(plain->ChecksPlainly());
    REQUIRE(plain_rotating->ChecksPlainly());
    REQUIRE_FALSE(general->ChecksPlainly());
    REQUIRE_FALSE(general_rotating->ChecksPlainly());
    REQUIRE_FALSE(general_three->ChecksPlainly());

    // How the sender signs: the header's name and a right value for any body and key.
    auto maker = FindScheme(scheme)->make(alone);
    REQUIRE(maker.ok());
    const Scheme& signer = **maker;
    const std::string header = signer.SignatureHeaderName();
    const std::string prefix(signer.Plain()->prefix);
    auto sign = [&](std::string_view secret, std::string_view body) {
      SignInput input;
      input.body = body;
      auto lines = signer.Sign(secrets::Secret(crypto::AsBytes(secret)), input);
      REQUIRE(lines.ok());
      for (const auto& [name, value] : *lines) {
        if (name == header) return value;
      }
      FAIL("Sign sent no " << header);
      return std::string();
    };

    std::map<Outcome, int> seen;
    for (int round = 0; round < 300; ++round) {
      test::Sent sent;
      sent.body = RandomBytes(rng, 400);
      const std::string signed_body = rng() % 4 == 0 ? RandomBytes(rng, 400) : sent.body;
      const bool old_key = rng() % 4 == 0;  // the rotating sets' first secret signs
      const std::string right = sign(old_key ? "an-old-secret" : kSecret, signed_body);
      const int copies = static_cast<int>(rng() % 7 == 0 ? 2 : rng() % 9 == 0 ? 0 : 1);
      if (rng() % 3 == 0) sent.headers.emplace_back("X-Other", RandomBytes(rng, 20));
      for (int c = 0; c < copies; ++c) {
        sent.headers.emplace_back(RandomCase(rng, header), RandomValue(rng, right, prefix));
      }
      if (rng() % 3 == 0) sent.headers.emplace_back("Content-Type", "application/json");
      const std::size_t chunk = 1 + rng() % 64;

      std::string request = "scheme " + scheme + " (" + header + "), round " +
                            std::to_string(round) + ", body " + std::to_string(sent.body.size()) +
                            " bytes, headers in hex:";
      for (const auto& [name, value] : sent.headers) {
        request += " " + name + "=" + crypto::EncodeHex(crypto::AsBytes(value));
      }
      INFO(request);
      const Seen one = RunAsServer(*general, sent, chunk);
      const Seen two = RunAsServer(*general_three, sent, chunk);
      for (const auto& [expected, verifier] :
           {std::pair{one, plain.get()}, std::pair{two, plain_rotating.get()},
            std::pair{two, general_rotating.get()}}) {
        const Seen got = RunAsServer(*verifier, sent, chunk);
        CHECK(got.refused == expected.refused);
        CHECK(got.finished.outcome == expected.finished.outcome);
      }
      // The plain check names its scheme whatever it decides, as the general way does with the
      // scheme configured alone.
      CHECK(RunAsServer(*plain, sent, chunk).finished.scheme == two.finished.scheme);
      CHECK(RunAsServer(*plain_rotating, sent, chunk).finished.scheme == two.finished.scheme);
      if (signed_body != sent.body) CHECK(two.finished.outcome != Outcome::kValid);
      if (old_key) CHECK(one.finished.outcome != Outcome::kValid);
      ++seen[two.finished.outcome];
    }
    // The random requests reached every outcome the plain form has.
    INFO("scheme " << scheme << " (" << header << ")");
    for (Outcome o :
         {Outcome::kValid, Outcome::kMismatch, Outcome::kMalformed, Outcome::kMissing}) {
      CHECK(seen[o] > 0);
    }
  }
}

TEST_CASE("a plain check decides from its headers without the body, and only once") {
  test::TempDir dir;
  dir.Write("webhook-secret", std::string(kSecret));
  const auto verifier = Make(test::OptionsFor("github", dir));
  REQUIRE(verifier->ChecksPlainly());
  HeaderList headers;
  headers.Add("X-Hub-Signature-256", "sha256=zz");
  const RequestHead head{"POST", "/", "", headers};
  CheckStorage storage;
  CheckPtr check = verifier->Begin(head, &storage);
  CHECK_FALSE(check->NeedsBody());
  CHECK(check->HasDecision());
  const std::optional<Decision> refused = check->Refusal();
  REQUIRE(refused.has_value());
  CHECK(refused->outcome == Outcome::kMalformed);
  CHECK(refused->scheme == "github");
  CHECK(check->Finish().outcome == Outcome::kMalformed);

  // A right signature: Refusal admits it, and Finish says valid (twice the same).
  HeaderList good;
  auto key = crypto::HmacKey::Create(crypto::Algorithm::kSha256, crypto::AsBytes(kSecret));
  REQUIRE(key.ok());
  good.Add("x-hub-signature-256", "sha256=" + crypto::EncodeHex(key->Compute("{}")));
  const RequestHead good_head{"POST", "/", "", good};
  check.reset();  // the storage holds one check at a time
  check = verifier->Begin(good_head, &storage);
  REQUIRE(check->NeedsBody());
  CHECK_FALSE(check->HasDecision());
  check->Update("{");
  check->Update("}");
  CHECK_FALSE(check->Refusal().has_value());
  CHECK(check->HasDecision());
  CHECK(check->Finish().outcome == Outcome::kValid);
  CHECK(check->Finish().outcome == Outcome::kValid);
}

TEST_CASE("the plain path is not taken where the general way is needed") {
  test::TempDir dir;
  dir.Write("webhook-secret", "whsec_cGxhaW4tcGF0aC1zZWNyZXQ=");  // Standard Webhooks' form too
  // Schemes that sign more than the body, or read a timestamp or a list.
  for (const char* scheme : {"stripe", "slack", "standard-webhooks", "svix", "twitch"}) {
    INFO(scheme);
    CHECK_FALSE(Make(test::OptionsFor(scheme, dir))->ChecksPlainly());
  }
  // faas-cli with sha1= allowed reads two forms.
  config::SignatureOptions sha1 = test::OptionsFor("faas-cli", dir);
  sha1.allow_sha1 = true;
  CHECK_FALSE(Make(sha1)->ChecksPlainly());
  // A replay store keys deliveries on the signature.
  config::SignatureOptions replay = test::OptionsFor("github", dir);
  replay.replay_cache = 100;
  CHECK_FALSE(Make(replay)->ChecksPlainly());
  CHECK(Make(test::OptionsFor("github", dir))->ChecksPlainly());
}

}  // namespace
}  // namespace hw::signature
