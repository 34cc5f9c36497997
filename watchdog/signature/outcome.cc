#include "signature/outcome.h"

namespace hw::signature {

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kValid:
      return "valid";
    case Outcome::kUnsignedAllowed:
      return "unsigned_allowed";
    case Outcome::kDisabled:
      return "disabled";
    case Outcome::kMissing:
      return "missing";
    case Outcome::kMalformed:
      return "malformed";
    case Outcome::kMismatch:
      return "mismatch";
    case Outcome::kExpired:
      return "expired";
    case Outcome::kReplayed:
      return "replayed";
    case Outcome::kTooLarge:
      return "too_large";
    case Outcome::kDuplicate:
      return "duplicate";
    case Outcome::kInFlight:
      return "in_flight";
    case Outcome::kReplayFull:
      return "replay_full";
    case Outcome::kReplayUnavailable:
      return "replay_unavailable";
  }
  return "mismatch";
}

bool Admits(Outcome outcome) {
  return outcome == Outcome::kValid || outcome == Outcome::kUnsignedAllowed ||
         outcome == Outcome::kDisabled;
}

int HttpStatusFor(Outcome outcome) {
  switch (outcome) {
    case Outcome::kValid:
    case Outcome::kUnsignedAllowed:
    case Outcome::kDisabled:
      return 0;
    case Outcome::kMissing:
    case Outcome::kMalformed:
    case Outcome::kMismatch:
    case Outcome::kExpired:
    case Outcome::kReplayed:
      return 401;
    case Outcome::kTooLarge:
      return 413;
    case Outcome::kDuplicate:
      return 200;
    case Outcome::kInFlight:
      return 409;
    case Outcome::kReplayFull:
    case Outcome::kReplayUnavailable:
      return 503;
  }
  return 401;  // fail closed
}

}  // namespace hw::signature
