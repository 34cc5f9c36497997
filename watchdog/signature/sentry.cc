// The sentry scheme: HMAC-SHA256 of the body in Sentry-Hook-Signature as bare lower hex.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeSentry(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "sentry",
                            .header = "Sentry-Hook-Signature",
                            .forms = {{"", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kHex,
                            .id_header = {}},
                           options);
}

}  // namespace hw::signature
