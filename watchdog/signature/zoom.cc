// The zoom scheme: x-zm-signature "v0=<hex>" over "v0:" ‖ x-zm-request-timestamp ‖ ":" ‖
// body, the same construction as Slack's.
#include "signature/slack.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeZoom(const config::SignatureOptions& options) {
  return std::unique_ptr<Scheme>(std::make_unique<SlackStyleScheme>(
      "zoom", "x-zm-signature", "x-zm-request-timestamp", options));
}

}  // namespace hw::signature
