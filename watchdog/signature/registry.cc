#include "signature/registry.h"

#include <array>

namespace hw::signature {

// Each provider file defines one factory.
Expected<std::unique_ptr<Scheme>> MakeGithub(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeGithubSha1(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeFaasCli(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakePatreon(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeStripe(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeSlack(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeShopify(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeStandardWebhooks(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeSvix(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeGitlab(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeGitea(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeForgejo(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeGogs(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeBitbucket(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeMeta(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeGeneric(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeTwitch(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeLinear(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeTypeform(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeIntercom(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeDropbox(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeZoom(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakePaddle(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakePagerDuty(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeSentry(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeVercel(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeSquare(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeHubSpot(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeDiscord(const config::SignatureOptions&);
Expected<std::unique_ptr<Scheme>> MakeTwilio(const config::SignatureOptions&);

namespace {

// One line per provider, in the order --help lists them.
// clang-format off
constexpr std::array kRegistry = {
    SchemeEntry{"github", &MakeGithub},
    SchemeEntry{"github-sha1", &MakeGithubSha1},
    SchemeEntry{"faas-cli", &MakeFaasCli},
    SchemeEntry{"patreon", &MakePatreon},
    SchemeEntry{"stripe", &MakeStripe},
    SchemeEntry{"slack", &MakeSlack},
    SchemeEntry{"shopify", &MakeShopify},
    SchemeEntry{"standard-webhooks", &MakeStandardWebhooks},
    SchemeEntry{"svix", &MakeSvix},
    SchemeEntry{"gitlab", &MakeGitlab},
    SchemeEntry{"gitea", &MakeGitea},
    SchemeEntry{"forgejo", &MakeForgejo},
    SchemeEntry{"gogs", &MakeGogs},
    SchemeEntry{"bitbucket", &MakeBitbucket},
    SchemeEntry{"meta", &MakeMeta},
    SchemeEntry{"generic", &MakeGeneric},
    SchemeEntry{"twitch", &MakeTwitch},
    SchemeEntry{"linear", &MakeLinear},
    SchemeEntry{"typeform", &MakeTypeform},
    SchemeEntry{"intercom", &MakeIntercom},
    SchemeEntry{"dropbox", &MakeDropbox},
    SchemeEntry{"zoom", &MakeZoom},
    SchemeEntry{"paddle", &MakePaddle},
    SchemeEntry{"pagerduty", &MakePagerDuty},
    SchemeEntry{"sentry", &MakeSentry},
    SchemeEntry{"vercel", &MakeVercel},
    SchemeEntry{"square", &MakeSquare},
    SchemeEntry{"hubspot", &MakeHubSpot},
    SchemeEntry{"discord", &MakeDiscord},
    SchemeEntry{"twilio", &MakeTwilio},
};
// clang-format on

}  // namespace

std::span<const SchemeEntry> Registry() { return kRegistry; }

const SchemeEntry* FindScheme(std::string_view name) {
  for (const SchemeEntry& entry : kRegistry) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

}  // namespace hw::signature
