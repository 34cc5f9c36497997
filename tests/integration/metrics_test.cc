// /metrics on its own port: Prometheus text that parses, and counters that move.
#include <regex>
#include <sstream>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

// Value of the first sample whose line starts with `series` (name plus labels), or -1.
double Sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

}  // namespace

TEST_CASE("metrics are served on metrics_port in Prometheus text format and move") {
  TempDir tmp;
  auto w = Watchdog::Start({{"fprocess", ProgramPath("fn") + " echo"},
                            {"mode", "serializing"},
                            {"hmac_scheme", "none"},
                            {"TMPDIR", tmp.path()}});
  REQUIRE(w->metrics_port() > 0);
  auto before = Get(w->metrics_port(), "/metrics");
  REQUIRE(before.status == 200);
  CHECK_THAT(*before.Header("Content-Type"), Catch::StartsWith("text/plain; version=0.0.4"));
  for (int i = 0; i < 3; ++i) REQUIRE(Request(w->port(), "POST", "/", {}, "x").status == 200);
  auto after = Get(w->metrics_port(), "/metrics");
  const std::string& t = after.body;
  CHECK_THAT(t, Catch::Contains("# TYPE http_requests_total counter"));
  CHECK_THAT(t, Catch::Contains("# TYPE http_request_duration_seconds histogram"));
  CHECK_THAT(t, Catch::Contains("# TYPE http_requests_in_flight gauge"));
  CHECK(Sample(t, "http_requests_total{code=\"200\",method=\"post\"}") == 3);
  CHECK(Sample(t, "http_request_duration_seconds_count{code=\"200\",method=\"post\"}") == 3);
  CHECK(
      Sample(t, "http_request_duration_seconds_bucket{code=\"200\",method=\"post\",le=\"+Inf\"}") ==
      3);
  CHECK(Sample(t, "http_requests_in_flight") == 0);
  CHECK(Sample(t, "hmac_function_spawns_total") == 3);
  CHECK(Sample(t, "process_resident_memory_bytes") > 0);
  CHECK(Sample(t, "process_open_fds") > 0);
  CHECK(Sample(t, "process_start_time_seconds") > 1.6e9);
  CHECK(Sample(t, "process_cpu_seconds_total") >= 0);
  // Every sample line is name{labels} value.
  std::istringstream lines(t);
  std::string line;
  std::regex sample(R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfa]+$)");
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    CHECK(std::regex_match(line, sample));
  }
}

TEST_CASE("metrics_port=0 turns the metrics listener off") {
  TempDir tmp;
  auto w = Watchdog::Start({{"fprocess", "cat"},
                            {"metrics_port", "0"},
                            {"mode", "serializing"},
                            {"hmac_scheme", "none"},
                            {"TMPDIR", tmp.path()}});
  CHECK(w->metrics_port() == 0);
}
