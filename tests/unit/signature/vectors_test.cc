// Every vector in vectors.json (tests/data, a copy of ../shared/spec/vectors.json) whose
// provider has a scheme here, run through the Verifier with the vector's "now". Each vector
// notes its source: published by the provider, or computed with the provider's library.
//
// Vector scheme names map to ours: github-sha256 → github, meta-sha256 → meta, gitlab-token →
// gitlab, gitlab-signing-token → standard-webhooks (GitLab's signing tokens follow it),
// hubspot-v3 → hubspot, twitch-eventsub → twitch, discord-ed25519 → discord,
// openfaas-faas-cli-sha256 → faas-cli, openfaas-workshop-sha1 → faas-cli with
// hmac_allow_sha1, twilio-json → twilio (bodySHA256 in the URL); every other name is ours
// already. A vector's "url" becomes hmac_public_url (scheme and host) plus the request's path
// and query.
//
// Skipped, and why:
//   trello, mailgun       not in the scheme table (mailgun signs fields inside the body)
//   hubspot-v1            a plain SHA-256 of secret ‖ body, not HMAC; only v3 is supported
//   gitea-form            the signature covers the decoded form field, not the wire bytes;
//                         we only ever verify the bytes received (gitea-form-naive-rawbody
//                         pins that such a request is refused)
//   zoom-url-validation   a response the function computes, not a request signature
//   linear-expired        freshness lives in the body's webhookTimestamp, which is not parsed
#include <catch2/catch.hpp>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "signature/registry.h"
#include "support/json_reader.h"
#include "support/signature_support.h"

namespace hw::signature {
namespace {

const std::set<std::string> kSkippedSchemes = {"trello", "mailgun", "hubspot-v1", "gitea-form",
                                               "zoom-url-validation"};
const std::set<std::string> kSkippedIds = {"linear-expired"};

// The precise outcome each negative vector must produce.
const std::map<std::string, Outcome> kExpectedFailures = {
    {"github-sha256-tampered-body", Outcome::kMismatch},
    {"twilio-wrong-url", Outcome::kMismatch},
    {"twilio-json-tampered", Outcome::kMismatch},
    {"github-sha256-wrong-secret", Outcome::kMismatch},
    {"github-sha256-missing-header", Outcome::kMissing},
    {"github-sha256-uppercase-hex", Outcome::kMalformed},
    {"github-sha256-malformed-prefix", Outcome::kMalformed},
    {"patreon-md5-tampered", Outcome::kMismatch},
    {"stripe-expired", Outcome::kExpired},
    {"stripe-v0-only", Outcome::kMalformed},
    {"stripe-future", Outcome::kExpired},
    {"stripe-malformed", Outcome::kMalformed},
    {"slack-future", Outcome::kExpired},
    {"slack-expired", Outcome::kExpired},
    {"shopify-hex-instead-of-base64", Outcome::kMalformed},
    {"standard-webhooks-expired", Outcome::kExpired},
    {"standard-webhooks-future", Outcome::kExpired},
    {"standard-webhooks-id-swapped", Outcome::kMismatch},
    {"standard-webhooks-raw-secret-misuse", Outcome::kMismatch},
    {"standard-webhooks-timestamp-garbage", Outcome::kMalformed},
    {"standard-webhooks-missing-id", Outcome::kMissing},
    {"svix-expired", Outcome::kExpired},
    {"gitea-form-naive-rawbody", Outcome::kMismatch},
    {"gitlab-token-wrong", Outcome::kMismatch},
    {"bitbucket-as-github-sha1", Outcome::kMalformed},
    {"twitch-eventsub-expired", Outcome::kExpired},
    {"paddle-expired", Outcome::kExpired},
    {"hubspot-v3-expired", Outcome::kExpired},
    {"hubspot-v3-future", Outcome::kExpired},
    {"discord-ed25519-tampered", Outcome::kMismatch},
    {"openfaas-workshop-wrong-key", Outcome::kMismatch},
};

test::JsonValue LoadVectors() {
  std::ifstream in(std::string(HW_TEST_DATA_DIR) + "/vectors.json", std::ios::binary);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return test::JsonReader::Parse(text.str());
}

// The providers' own windows where the vector assumes one and says so only in its reason.
std::int64_t ToleranceSeconds(const test::JsonValue& v, const std::string& scheme) {
  const test::JsonValue& extra = v["extra"];
  if (extra.Has("tolerance_s")) return extra["tolerance_s"].Integer();
  if (scheme == "paddle") return 5;    // Paddle SDKs
  if (scheme == "twitch") return 600;  // Twitch: 10 minutes
  return 300;
}

TEST_CASE("every vector of an implemented scheme gives its expected outcome") {
  const test::JsonValue vectors = LoadVectors();
  std::size_t run = 0;
  for (const test::JsonValue& v : vectors.items) {
    const std::string id = v["id"].text;
    const std::string vector_scheme = v["scheme"].text;
    if (kSkippedSchemes.count(vector_scheme) != 0 || kSkippedIds.count(id) != 0) continue;
    const std::string scheme = test::SchemeOfVector(vector_scheme);
    const test::JsonValue& extra = v["extra"];
    INFO("vector " << id << " (" << v["source"].text << ") as scheme " << scheme);

    test::TempDir dir;
    dir.Write("webhook-secret", v["secret"].text);
    config::SignatureOptions options = test::OptionsFor(scheme, dir);
    options.tolerance = std::chrono::seconds(ToleranceSeconds(v, scheme));
    if (extra.Has("header")) options.header = extra["header"].text;
    if (vector_scheme == "openfaas-workshop-sha1") options.allow_sha1 = true;
    if (extra.Has("uri")) options.public_url = extra["uri"].text;
    if (extra.Has("notification_url")) options.public_url = extra["notification_url"].text;
    const std::int64_t now = extra.Has("now") ? extra["now"].Integer() : 1767225630;
    test::Sent sent;
    if (extra.Has("url")) {
      // https://host/path?query → hmac_public_url https://host, path /path, query query.
      const std::string url = extra["url"].text;
      const std::size_t host = url.find("://");
      REQUIRE(host != std::string::npos);
      const std::size_t path = url.find('/', host + 3);
      const std::size_t question = url.find('?');
      options.public_url = url.substr(0, path);
      sent.path = url.substr(path, question == std::string::npos ? question : question - path);
      if (question != std::string::npos) sent.query = url.substr(question + 1);
    }
    auto verifier = Verifier::Create(options, std::make_shared<FixedClock>(now * 1000));
    REQUIRE(verifier.ok());

    for (const auto& [name, value] : v["headers"].members)
      sent.headers.emplace_back(name, value.text);
    sent.body = v["body"].text;
    if (extra.Has("method")) sent.method = extra["method"].text;

    for (std::size_t chunk : {std::size_t{1}, std::size_t{13}, sent.body.size() + 1}) {
      const Decision decision = test::Run(**verifier, sent, chunk);
      INFO("outcome " << OutcomeName(decision.outcome) << ", chunk " << chunk);
      if (v["expected"].text == "valid") {
        CHECK(decision.outcome == Outcome::kValid);
        CHECK(decision.scheme == scheme);
      } else {
        CHECK_FALSE(Admits(decision.outcome));
        if (auto expected = kExpectedFailures.find(id); expected != kExpectedFailures.end()) {
          CHECK(OutcomeName(decision.outcome) == OutcomeName(expected->second));
        }
      }
    }
    ++run;
  }
  CHECK(run >= 66);
}

// Adding a provider of the common kind is one row in registry.cc plus its vectors: a row
// without a valid vector would be a format nobody checked against the provider.
TEST_CASE("every row of the scheme table has a valid vector") {
  const test::JsonValue vectors = LoadVectors();
  for (const SchemeEntry& entry : Registry()) {
    if (entry.custom != nullptr) continue;  // schemes with a file of their own
    INFO("scheme " << entry.name);
    bool found = false;
    for (const test::JsonValue& v : vectors.items) {
      if (test::SchemeOfVector(v["scheme"].text) == entry.name && v["expected"].text == "valid" &&
          kSkippedSchemes.count(v["scheme"].text) == 0 && kSkippedIds.count(v["id"].text) == 0) {
        found = true;
      }
    }
    CHECK(found);
  }
}

}  // namespace
}  // namespace hw::signature
