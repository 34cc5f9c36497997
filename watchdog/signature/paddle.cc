// The paddle scheme (Paddle Billing): Paddle-Signature "ts=<unix>;h1=<hex>[;h1=<hex>...]",
// HMAC-SHA256 of ts ‖ ":" ‖ body. Every h1 is a candidate (secret rotation). Paddle's SDKs
// allow only 5 seconds of skew; hmac_tolerance applies here.
#include "signature/timestamped_list.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakePaddle(const config::SignatureOptions& options) {
  return MakeTimestampedList({"paddle", "Paddle-Signature", ';', "ts", "h1", ':'}, options);
}

}  // namespace hw::signature
