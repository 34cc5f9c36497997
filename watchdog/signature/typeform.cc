// The typeform scheme: HMAC-SHA256 of the body in Typeform-Signature as sha256=<base64>.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeTypeform(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "typeform",
                            .header = "Typeform-Signature",
                            .forms = {{"sha256=", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kBase64,
                            .id_header = {}},
                           options);
}

}  // namespace hw::signature
