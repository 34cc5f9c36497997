// The svix scheme: Standard Webhooks under Svix's svix-id, svix-timestamp and svix-signature
// headers (the webhook-* names are accepted too, as Svix sends both).
#include "signature/standard_webhooks.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeSvix(const config::SignatureOptions& options) {
  return std::unique_ptr<Scheme>(std::make_unique<StandardWebhooksScheme>(
      "svix",
      std::vector<StandardWebhooksScheme::HeaderNames>{
          {"svix-id", "svix-timestamp", "svix-signature"},
          {"webhook-id", "webhook-timestamp", "webhook-signature"}},
      options));
}

}  // namespace hw::signature
