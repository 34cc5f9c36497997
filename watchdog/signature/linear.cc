// The linear scheme: HMAC-SHA256 of the body in Linear-Signature as bare lower hex. The
// webhookTimestamp inside the body is not checked.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeLinear(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "linear",
                            .header = "Linear-Signature",
                            .forms = {{"", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kHex,
                            .id_header = {}},
                           options);
}

}  // namespace hw::signature
