// The github-sha1 scheme: GitHub's legacy HMAC-SHA1 of the body in X-Hub-Signature as sha1=<lower
// hex>.
#include "signature/hmac_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeGithubSha1(const config::SignatureOptions& options) {
  return MakeBodyMacScheme({.name = "github-sha1",
                            .header = "X-Hub-Signature",
                            .forms = {{"sha1=", crypto::Algorithm::kSha1}},
                            .encoding = Encoding::kHex,
                            .id_header = "X-GitHub-Delivery"},
                           options);
}

}  // namespace hw::signature
