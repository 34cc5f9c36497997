// Fuzzes every scheme's header parsing through the Verifier, as the server drives it.
// Input: header lines, then an empty line, then the body. The first byte of a header line
// picks the header name from kNames (so the fuzzer reaches every scheme's headers); the
// rest of the line is the value.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/bytes.h"
#include "crypto/encoding.h"
#include "signature/verifier.h"
#include "support/signature_support.h"

namespace {

constexpr std::string_view kNames[] = {"X-Hub-Signature-256",
                                       "X-Hub-Signature",
                                       "X-GitHub-Delivery",
                                       "X-Patreon-Signature",
                                       "Stripe-Signature",
                                       "X-Slack-Signature",
                                       "X-Slack-Request-Timestamp",
                                       "X-Shopify-Hmac-Sha256",
                                       "X-Shopify-Webhook-Id",
                                       "webhook-id",
                                       "webhook-timestamp",
                                       "webhook-signature",
                                       "svix-id",
                                       "svix-timestamp",
                                       "svix-signature",
                                       "X-Gitlab-Token",
                                       "X-Gitea-Signature",
                                       "X-Gitea-Delivery",
                                       "X-Forgejo-Signature",
                                       "X-Gogs-Signature",
                                       "X-Gogs-Delivery",
                                       "Twitch-Eventsub-Message-Signature",
                                       "Twitch-Eventsub-Message-Id",
                                       "Twitch-Eventsub-Message-Timestamp",
                                       "Linear-Signature",
                                       "Typeform-Signature",
                                       "X-Dropbox-Signature",
                                       "x-zm-signature",
                                       "x-zm-request-timestamp",
                                       "Paddle-Signature",
                                       "X-HubSpot-Signature-v3",
                                       "X-HubSpot-Request-Timestamp",
                                       "x-square-hmacsha256-signature",
                                       "X-PagerDuty-Signature",
                                       "Sentry-Hook-Signature",
                                       "x-vercel-signature",
                                       "X-Signature-Ed25519",
                                       "X-Signature-Timestamp",
                                       "X-Twilio-Signature"};
constexpr std::size_t kNameCount = sizeof(kNames) / sizeof(kNames[0]);

struct Fixture {
  hw::test::TempDir dir;
  std::unique_ptr<hw::signature::Verifier> verifier;

  Fixture() {
    // Random, so no fixed input can carry the gitlab token.
    dir.Write("webhook-secret", hw::crypto::EncodeHex(hw::crypto::RandomBytes(16)));
    dir.Write("whsec", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    dir.Write("public", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    hw::config::SignatureOptions options;
    options.secrets_path = dir.path();
    options.secret_names = {"webhook-secret"};
    options.scheme_secret_names["standard_webhooks"] = {"whsec"};
    options.scheme_secret_names["svix"] = {"whsec"};
    options.scheme_secret_names["discord"] = {"public"};
    options.public_url = "https://example.com/hook";
    options.replay_cache = 64;
    options.reload_interval = std::chrono::hours(1);
    for (std::string_view name : hw::signature::SchemeNames()) {
      if (name != "generic") options.schemes.emplace_back(name);  // generic needs hmac_header
    }
    auto made =
        hw::signature::Verifier::Create(options, std::make_shared<hw::FixedClock>(1767225630000));
    if (!made) std::abort();
    verifier = std::move(made).value();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture fixture;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  hw::signature::HeaderList headers;
  while (!input.empty()) {
    const std::size_t end = input.find('\n');
    const std::string_view line = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view() : input.substr(end + 1);
    if (line.empty()) break;
    const std::size_t which = static_cast<unsigned char>(line[0]) % kNameCount;
    headers.Add(std::string(kNames[which]), std::string(line.substr(1)));
  }
  const hw::signature::RequestHead head{"POST", "/hook", "a=1", headers};
  hw::signature::CheckPtr check = fixture.verifier->Begin(head);
  if (check->NeedsBody()) {
    check->Update(input.substr(0, input.size() / 2));
    check->Update(input.substr(input.size() / 2));
  }
  const hw::signature::Decision decision = check->Finish();
  // A fuzzer cannot forge a signature: it must never be admitted.
  if (hw::signature::Admits(decision.outcome)) std::abort();
  return 0;
}
