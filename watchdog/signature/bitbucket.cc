// The bitbucket scheme: HMAC-SHA256 of the body in X-Hub-Signature (the header GitHub uses for
// SHA-1) as sha256=<lower hex>.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeBitbucket(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "bitbucket",
                            .header = "X-Hub-Signature",
                            .forms = {{"sha256=", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kHex,
                            .id_header = {}},
                           options);
}

}  // namespace hw::signature
