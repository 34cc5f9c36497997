// The vercel scheme: HMAC-SHA1 of the body in x-vercel-signature as bare lower hex.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeVercel(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "vercel",
                            .header = "x-vercel-signature",
                            .forms = {{"", crypto::Algorithm::kSha1}},
                            .encoding = Encoding::kHex,
                            .id_header = {}},
                           options);
}

}  // namespace hw::signature
