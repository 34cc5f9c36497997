// The Http_* environment of a forked function: each name once, the watchdog's own values
// always win over client headers that map to the same name (issue 10, item 2), and what
// http mode forwards for the same headers.
#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;

namespace {

// Every Http_* entry of the function's environment as printed by `fn env` (all entries of
// environ, duplicates included), as name -> values in order.
std::map<std::string, std::vector<std::string>> HttpVars(const std::string& printed) {
  std::map<std::string, std::vector<std::string>> vars;
  std::istringstream lines(printed);
  std::string line;
  while (std::getline(lines, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    vars[line.substr(0, eq)].push_back(line.substr(eq + 1));
  }
  return vars;
}

const Headers kShadowing = {{"Method", "DELETE"},       {"Path", "/admin"},
                            {"Query", "action=delete"}, {"Content-Length-X", "1"},
                            {"X-Twin", "first"},        {"x-twin", "second"},
                            {"PATH", "/tmp/evil"}};

}  // namespace

TEST_CASE("fork modes: client headers never shadow the watchdog's Http_ variables") {
  TempDir tmp;
  for (const std::string mode : {"streaming", "serializing"}) {
    INFO(mode);
    auto w = Watchdog::Start({{"mode", mode},
                              {"fprocess", ProgramPath("fn") + " env"},
                              {"hmac_scheme", "none"},
                              {"TMPDIR", tmp.path()}});
    auto r = Request(w->port(), "POST", "/hook?x=1", kShadowing, "body");
    REQUIRE(r.status == 200);
    INFO(r.body);
    auto vars = HttpVars(r.body);
    for (const auto& [name, values] : vars) {
      INFO(name);
      CHECK(values.size() == 1);  // each name exactly once
    }
    CHECK(vars["Http_Method"] == std::vector<std::string>{"POST"});
    CHECK(vars["Http_Path"] == std::vector<std::string>{"/hook"});
    CHECK(vars["Http_Query"] == std::vector<std::string>{"x=1"});
    CHECK(vars["Http_Content_Length"] == std::vector<std::string>{"4"});
    CHECK(vars["Http_ContentLength"] == std::vector<std::string>{"4"});
    CHECK(vars["Http_Content_Length_X"] == std::vector<std::string>{"1"});  // not reserved
    CHECK(vars["Http_X_Twin"].size() == 1);

    // Without a query the watchdog sets no Http_Query, and a client "Query:" cannot set it.
    auto no_query = HttpVars(Request(w->port(), "POST", "/hook", kShadowing, "").body);
    CHECK(no_query.count("Http_Query") == 0);
    CHECK(no_query["Http_Method"] == std::vector<std::string>{"POST"});
  }
}

TEST_CASE("http mode forwards Method, Path and Query headers as ordinary headers") {
  TempDir tmp;
  const int port = FreePort();
  auto w = Watchdog::Start({{"mode", "http"},
                            {"fprocess", ProgramPath("upstream") + " " + std::to_string(port)},
                            {"upstream_url", "http://127.0.0.1:" + std::to_string(port)},
                            {"hmac_scheme", "none"},
                            {"TMPDIR", tmp.path()}});
  auto r = Request(w->port(), "POST", "/echo?x=1", kShadowing, "body");
  REQUIRE(r.status == 200);
  // The request line is the real one; the headers travel as sent, each once.
  CHECK_THAT(r.body, Catch::StartsWith("method=POST\ntarget=/echo?x=1\n"));
  CHECK_THAT(r.body, Catch::Contains("Method: DELETE\r\n"));
  CHECK_THAT(r.body, Catch::Contains("Query: action=delete\r\n"));
  CHECK_THAT(r.body, Catch::Contains("Content-Length: 4"));
}
