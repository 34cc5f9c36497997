// The github scheme: HMAC-SHA256 of the body in X-Hub-Signature-256 as sha256=<lower hex>. The
// legacy X-Hub-Signature is never looked at (no downgrade to SHA-1).
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeGithub(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "github",
                            .header = "X-Hub-Signature-256",
                            .forms = {{"sha256=", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kHex,
                            .id_header = "X-GitHub-Delivery"},
                           options);
}

}  // namespace hw::signature
