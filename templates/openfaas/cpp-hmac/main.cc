// The process hmac-watchdog forks per verified request in serializing mode: reads the whole
// body from stdin, builds a handler::Event from the Http_* environment, calls Handle() and
// writes its answer to stdout. A handler exception becomes exit 1 (the watchdog answers 500).
#include <exception>
#include <iostream>
#include <iterator>
#include <string>

#include "event.h"

int main() {
  std::ios::sync_with_stdio(false);
  handler::Event event;
  event.body.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  event.method = event.Header("Method");  // Http_Method, Http_Path, Http_Query
  event.path = event.Header("Path");
  event.query = event.Header("Query");
  event.verified_by = event.Header("X-Webhook-Verified");
  try {
    std::cout << handler::Handle(event);
    std::cout.flush();
  } catch (const std::exception& e) {
    std::cerr << "handler failed: " << e.what() << '\n';
    return 1;
  }
  return std::cout ? 0 : 1;
}
