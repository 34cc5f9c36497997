// The forgejo scheme: HMAC-SHA256 of the body in X-Forgejo-Signature as bare lower hex (Forgejo
// also sends the X-Gitea-* names).
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeForgejo(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "forgejo",
                            .header = "X-Forgejo-Signature",
                            .forms = {{"", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kHex,
                            .id_header = "X-Gitea-Delivery"},
                           options);
}

}  // namespace hw::signature
