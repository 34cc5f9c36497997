// Your function. hmac-watchdog has already verified the webhook signature when this process
// starts: it is never forked for a forged or unsigned request.
//   event.body               the raw body, exactly as the sender signed it
//   event.Header("X-...")    any request header (X-GitHub-Event, X-Patreon-Event, ...)
//   event.verified_by        the scheme that verified the signature (X-Webhook-Verified)
// Return the response body; throw for a 500. stderr goes to the function's log.
#include <iostream>
#include <string>

#include "event.h"

namespace handler {

std::string Handle(const Event& event) {
  std::string kind = event.Header("X-GitHub-Event");
  if (kind.empty()) kind = event.Header("X-Patreon-Event");
  if (kind.empty()) kind = "unknown";
  std::cerr << "handler: event=" << kind << " verified=" << event.verified_by
            << " bytes=" << event.body.size() << std::endl;
  return "event=" + kind + " verified=" + event.verified_by + "\n" + event.body + "\n";
}

}  // namespace handler
