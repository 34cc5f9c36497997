// The gitea scheme: HMAC-SHA256 of the body in X-Gitea-Signature as bare lower hex.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeGitea(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "gitea",
                            .header = "X-Gitea-Signature",
                            .forms = {{"", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kHex,
                            .id_header = "X-Gitea-Delivery"},
                           options);
}

}  // namespace hw::signature
