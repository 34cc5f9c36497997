// The patreon scheme: HMAC-MD5 of the body in X-Patreon-Signature as bare lower hex.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakePatreon(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "patreon",
                            .header = "X-Patreon-Signature",
                            .forms = {{"", crypto::Algorithm::kMd5}},
                            .encoding = Encoding::kHex,
                            .id_header = {}},
                           options);
}

}  // namespace hw::signature
