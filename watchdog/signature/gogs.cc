// The gogs scheme: HMAC-SHA256 of the body in X-Gogs-Signature as bare lower hex.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeGogs(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "gogs",
                            .header = "X-Gogs-Signature",
                            .forms = {{"", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kHex,
                            .id_header = "X-Gogs-Delivery"},
                           options);
}

}  // namespace hw::signature
