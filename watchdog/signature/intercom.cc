// The intercom scheme: HMAC-SHA1 of the body in X-Hub-Signature as sha1=<lower hex>.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeIntercom(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "intercom",
                            .header = "X-Hub-Signature",
                            .forms = {{"sha1=", crypto::Algorithm::kSha1}},
                            .encoding = Encoding::kHex,
                            .id_header = {}},
                           options);
}

}  // namespace hw::signature
