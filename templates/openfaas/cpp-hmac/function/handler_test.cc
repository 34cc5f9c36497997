// Runs at image build time: calls Handle() as main.cc would, with the environment the
// watchdog sets for a verified GitHub ping.
#include <cstdlib>
#include <iostream>
#include <string>

#include "event.h"

int main() {
  setenv("Http_X_Github_Event", "ping", 1);
  handler::Event event;
  event.body = R"({"zen":"hi"})";
  event.verified_by = "github";
  const std::string got = handler::Handle(event);
  const std::string expected = "event=ping verified=github\n{\"zen\":\"hi\"}\n";
  if (got != expected) {
    std::cerr << "handler_test: FAIL\nexpected:\n" << expected << "got:\n" << got;
    return 1;
  }
  std::cout << "handler_test: ok\n";
  return 0;
}
