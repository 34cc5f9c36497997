// The closed set of answers a signature check gives, their names (logs, metrics, the verify
// command) and the HTTP status each one gets (README "Outcomes").
#pragma once

#include <string_view>

namespace hw::signature {

enum class Outcome {
  kValid,              // a configured secret produced the signature: the function runs
  kUnsignedAllowed,    // METHOD /path matched hmac_allow_unsigned: the function runs unsigned
  kDisabled,           // hmac_scheme=none: the function runs, nothing is checked
  kMissing,            // the signature (or its timestamp, or its signed id) header is absent
  kMalformed,          // present, but not in the scheme's format (or a header repeated)
  kMismatch,           // well-formed, but no configured secret produces it
  kExpired,            // the signed timestamp lies outside hmac_tolerance, past or future
  kReplayed,           // no longer produced (the replay store answers duplicate); kept so old
                       // dashboards still parse
  kTooLarge,           // a body past what the scheme can hold to check it (twilio's 1 MiB);
                       // max_body_bytes is the server's own limit, decided before any scheme
  kDuplicate,          // valid, and the function already handled this delivery: not run again
  kInFlight,           // valid, and another attempt of this delivery is running
  kReplayFull,         // valid, but the memory replay store is full of live entries
  kReplayUnavailable,  // valid, but the replay store cannot be reached (fail closed)
};

// "valid", "unsigned_allowed", "disabled", "missing", "malformed", "mismatch", "expired",
// "replayed", "too_large", "duplicate", "in_flight", "replay_full", "replay_unavailable".
std::string_view OutcomeName(Outcome outcome);

// True for the outcomes that let the request reach the function: valid, unsigned_allowed,
// disabled.
bool Admits(Outcome outcome);

// The status the watchdog answers itself for `outcome`: 401 for every refused signature
// (missing, malformed, mismatch, expired, replayed), 413 too_large, 200 duplicate (empty
// body, the function does not run), 409 in_flight, 503 replay_full and replay_unavailable;
// 0 for the outcomes that admit the request, since the function answers those.
int HttpStatusFor(Outcome outcome);

}  // namespace hw::signature
