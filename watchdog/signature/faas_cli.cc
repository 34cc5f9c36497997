// The faas-cli scheme: what `faas-cli invoke --sign HEADER --key KEY` sends. HMAC-SHA256 of
// the body as sha256=<lower hex> (faas-cli >= 0.17.1); sha1=<hex> from older versions only
// with hmac_allow_sha1. The header is hmac_header, X-Hub-Signature-256 by default.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeFaasCli(const config::SignatureOptions& options) {
  std::vector<MacForm> forms{{"sha256=", crypto::Algorithm::kSha256}};
  if (options.allow_sha1) forms.push_back({"sha1=", crypto::Algorithm::kSha1});
  return MakeBodyMacScheme({.name = "faas-cli",
                            .header = "X-Hub-Signature-256",
                            .forms = std::move(forms),
                            .encoding = Encoding::kHex,
                            .id_header = {}},
                           options);
}

}  // namespace hw::signature
