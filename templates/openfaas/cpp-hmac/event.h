// The request a cpp-hmac handler receives, and the function it implements. hmac-watchdog has
// verified the webhook signature before the handler process is started; main.cc fills Event
// from stdin and the Http_* environment the watchdog sets, then calls Handle().
#pragma once

#include <cctype>
#include <cstdlib>
#include <string>
#include <string_view>

namespace handler {

// "x-github-event" -> "Http_X_Github_Event": the variable the watchdog sets for a header.
inline std::string HeaderVariable(std::string_view name) {
  std::string out = "Http_";
  bool word_start = true;
  for (char c : name) {
    if (c == '-') {
      out += '_';
      word_start = true;
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    out += static_cast<char>(word_start ? std::toupper(u) : std::tolower(u));
    word_start = false;
  }
  return out;
}

struct Event {
  std::string body;    // the raw body, exactly as the sender signed it
  std::string method;  // Http_Method
  std::string path;    // Http_Path
  std::string query;   // Http_Query, raw
  // The scheme that verified the signature (github, patreon, ...): X-Webhook-Verified.
  std::string verified_by;

  // A request header by name, any case ("X-GitHub-Event"); empty when it was not sent.
  std::string Header(std::string_view name) const {
    const char* value = std::getenv(HeaderVariable(name).c_str());
    return value == nullptr ? std::string() : std::string(value);
  }
};

// Your function: returns the response body (200). Throwing, or exiting non-zero, gives the
// client a 500 and logs the message; stdout is never sent in that case.
std::string Handle(const Event& event);

}  // namespace handler
