// The meta scheme: Meta (Facebook, Instagram, WhatsApp): HMAC-SHA256 of the body in
// X-Hub-Signature-256 as sha256=<lower hex>.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeMeta(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "meta",
                            .header = "X-Hub-Signature-256",
                            .forms = {{"sha256=", crypto::Algorithm::kSha256}},
                            .encoding = Encoding::kHex,
                            .id_header = {}},
                           options);
}

}  // namespace hw::signature
