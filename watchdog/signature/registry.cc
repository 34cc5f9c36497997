#include "signature/registry.h"

namespace hw::signature {

// The schemes with a file of their own define these.
Expected<std::unique_ptr<Scheme>> MakeGitlab(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeGeneric(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeSquare(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeHubSpot(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeDiscord(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeTwilio(const config::SignatureOptions&);

namespace {

using crypto::Algorithm;
using Enc = Encoding;

constexpr HeaderNames kStandardWebhooksHeaders{"webhook-signature", "webhook-timestamp",
                                               "webhook-id"};

// One row per scheme, in the order --help lists them. README "Schemes" documents each.
// clang-format off
constexpr SchemeEntry kRegistry[] = {
    {"github", {.headers = {"X-Hub-Signature-256", "", "X-GitHub-Delivery"}, .prefix = "sha256="}},
    {"github-sha1", {.headers = {"X-Hub-Signature", "", "X-GitHub-Delivery"},
                     .algorithm = Algorithm::kSha1, .prefix = "sha1="}},
    // The header is hmac_header (UsesSharedHeader); sha1= from faas-cli < 0.17.1.
    {"faas-cli", {.headers = {"X-Hub-Signature-256"}, .prefix = "sha256=", .sha1_prefix = "sha1="}},
    {"patreon", {.headers = {"X-Patreon-Signature"}, .algorithm = Algorithm::kMd5}},
    // v0 and unknown keys ignored; every v1 a candidate (secret rotation).
    {"stripe", {.headers = {"Stripe-Signature"}, .list = {',', '=', "v1", "t"},
                .signed_prefix = "{ts}."}},
    {"slack", {.headers = {"X-Slack-Signature", "X-Slack-Request-Timestamp"}, .prefix = "v0=",
               .signed_prefix = "v0:{ts}:"}},
    {"shopify", {.headers = {"X-Shopify-Hmac-Sha256", "", "X-Shopify-Webhook-Id"},
                 .encoding = Enc::kBase64}},
    // v1a (asymmetric) and future versions are ignored.
    {"standard-webhooks", {.headers = kStandardWebhooksHeaders, .encoding = Enc::kBase64,
                           .list = {' ', ',', "v1", ""}, .signed_prefix = "{id}.{ts}.",
                           .key = KeyForm::kWhsecBase64}},
    // Standard Webhooks under Svix's names; the webhook-* names too, as Svix sends both.
    {"svix", {.headers = {"svix-signature", "svix-timestamp", "svix-id"}, .encoding = Enc::kBase64,
              .list = {' ', ',', "v1", ""}, .signed_prefix = "{id}.{ts}.",
              .key = KeyForm::kWhsecBase64, .fallback = kStandardWebhooksHeaders}},
    {"gitlab", {}, &MakeGitlab},
    {"gitea", {.headers = {"X-Gitea-Signature", "", "X-Gitea-Delivery"}}},
    // Forgejo also sends the X-Gitea-* names.
    {"forgejo", {.headers = {"X-Forgejo-Signature", "", "X-Gitea-Delivery"}}},
    {"gogs", {.headers = {"X-Gogs-Signature", "", "X-Gogs-Delivery"}}},
    // X-Hub-Signature is the header GitHub uses for SHA-1.
    {"bitbucket", {.headers = {"X-Hub-Signature"}, .prefix = "sha256="}},
    // Meta: Facebook, Instagram, WhatsApp.
    {"meta", {.headers = {"X-Hub-Signature-256"}, .prefix = "sha256="}},
    {"generic", {}, &MakeGeneric},
    // Twitch EventSub; its own advice for the tolerance is 10 minutes.
    {"twitch", {.headers = {"Twitch-Eventsub-Message-Signature",
                            "Twitch-Eventsub-Message-Timestamp", "Twitch-Eventsub-Message-Id"},
                .prefix = "sha256=", .timestamp_form = TimestampForm::kRfc3339,
                .signed_prefix = "{id}{ts}"}},
    // The webhookTimestamp inside the body is not checked.
    {"linear", {.headers = {"Linear-Signature"}}},
    {"typeform", {.headers = {"Typeform-Signature"}, .prefix = "sha256=", .encoding = Enc::kBase64}},
    {"intercom", {.headers = {"X-Hub-Signature"}, .algorithm = Algorithm::kSha1, .prefix = "sha1="}},
    {"dropbox", {.headers = {"X-Dropbox-Signature"}}},
    // Slack's construction under Zoom's names.
    {"zoom", {.headers = {"x-zm-signature", "x-zm-request-timestamp"}, .prefix = "v0=",
              .signed_prefix = "v0:{ts}:"}},
    // Paddle Billing; its SDKs allow only 5 seconds of skew, hmac_tolerance applies here.
    {"paddle", {.headers = {"Paddle-Signature"}, .list = {';', '=', "h1", "ts"},
                .signed_prefix = "{ts}:"}},
    // Webhooks v3: one v1 per signing secret during rotation.
    {"pagerduty", {.headers = {"X-PagerDuty-Signature"}, .list = {',', '=', "v1", ""}}},
    {"sentry", {.headers = {"Sentry-Hook-Signature"}}},
    {"vercel", {.headers = {"x-vercel-signature"}, .algorithm = Algorithm::kSha1}},
    {"square", {}, &MakeSquare},
    {"hubspot", {}, &MakeHubSpot},
    {"discord", {}, &MakeDiscord},
    {"twilio", {}, &MakeTwilio},
};
// clang-format on

}  // namespace

Expected<std::unique_ptr<Scheme>> SchemeEntry::make(const config::SignatureOptions& options) const {
  if (custom != nullptr) return custom(options);
  return MakeTableScheme(name, format, options);
}

std::span<const SchemeEntry> Registry() { return kRegistry; }

const SchemeEntry* FindScheme(std::string_view name) {
  for (const SchemeEntry& entry : kRegistry) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

}  // namespace hw::signature
