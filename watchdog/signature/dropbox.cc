// The dropbox scheme: HMAC-SHA256 of the body in X-Dropbox-Signature as bare lower hex.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeDropbox(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "dropbox",
                            .header = "X-Dropbox-Signature",
                            .forms = {{"", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kHex,
                            .id_header = {}},
                           options);
}

}  // namespace hw::signature
