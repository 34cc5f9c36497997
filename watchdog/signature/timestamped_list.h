// Schemes whose one header carries a timestamp and hex HMAC-SHA256 signatures as a list of
// key=value items (Stripe's "t=..,v1=..", Paddle's "ts=..;h1=.."), signing
// timestamp ‖ separator ‖ body. Each provider file supplies its Format.
#pragma once

#include <memory>
#include <string_view>

#include "signature/hmac_scheme.h"

namespace hw::signature {

struct TimestampedListFormat {
  std::string_view name;           // scheme name
  std::string_view header;         // default header
  char item_separator;             // between key=value items
  std::string_view timestamp_key;  // e.g. "t"
  std::string_view mac_key;        // e.g. "v1"; every one is a candidate, other keys ignored
  char signed_separator;           // between the timestamp and the body in the signed bytes
};

std::unique_ptr<Scheme> MakeTimestampedList(const TimestampedListFormat& format,
                                            const config::SignatureOptions& options);

}  // namespace hw::signature
