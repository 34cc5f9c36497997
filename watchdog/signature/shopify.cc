// The shopify scheme: HMAC-SHA256 of the body in X-Shopify-Hmac-Sha256 as base64.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeShopify(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "shopify",
                            .header = "X-Shopify-Hmac-Sha256",
                            .forms = {{"", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kBase64,
                            .id_header = "X-Shopify-Webhook-Id"},
                           options);
}

}  // namespace hw::signature
