// The stripe scheme: Stripe-Signature "t=<unix>,v1=<hex>[,v1=<hex>...]", HMAC-SHA256 of
// "<t>." ‖ body. Every v1 is a candidate (secret rotation); v0 and unknown schemes are
// ignored; the whsec_... secret is used as-is.
#include "signature/timestamped_list.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeStripe(const config::SignatureOptions& options) {
  return MakeTimestampedList({"stripe", "Stripe-Signature", ',', "t", "v1", '.'}, options);
}

}  // namespace hw::signature
