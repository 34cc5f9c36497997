#include "metrics/exposition.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "exposition_parser.h"

namespace hw::metrics {
namespace {

using testing::ParseExposition;

FamilySnapshot OneSample(std::string name, SampleValue value, std::vector<Label> labels = {}) {
  return FamilySnapshot{
      std::move(name), "help", MetricType::kGauge, {Sample{"", std::move(labels), value}}};
}

std::string RenderOne(const FamilySnapshot& family) {
  return RenderText(std::vector<FamilySnapshot>{family});
}

TEST_CASE("label values escape backslash, double quote and newline") {
  const std::string nasty = "a\"b\\c\nd";
  const std::string text = RenderOne(OneSample("m", std::uint64_t{1}, {{"v", nasty}}));
  CHECK(text.find("m{v=\"a\\\"b\\\\c\\nd\"} 1\n") != std::string::npos);

  const auto parsed = ParseExposition(text);
  REQUIRE(parsed.errors.empty());
  CHECK(parsed.Value("m", {{"v", nasty}}) == 1.0);
}

TEST_CASE("label values with only backslashes and quotes survive a round trip") {
  for (const std::string value : {"\\", "\"", "\\\"", "\n\n", "\\n", "", "plain"}) {
    const auto parsed =
        ParseExposition(RenderOne(OneSample("m", std::uint64_t{7}, {{"v", value}})));
    INFO("value: " << value);
    REQUIRE(parsed.errors.empty());
    CHECK(parsed.Value("m", {{"v", value}}) == 7.0);
  }
}

TEST_CASE("help text escapes backslash and newline and keeps double quotes") {
  FamilySnapshot family = OneSample("m", std::uint64_t{1});
  family.help = "say \"hi\"\\\nbye";
  const std::string text = RenderOne(family);
  CHECK(text.starts_with("# HELP m say \"hi\"\\\\\\nbye\n# TYPE m gauge\n"));

  const auto parsed = ParseExposition(text);
  REQUIRE(parsed.errors.empty());
  REQUIRE(parsed.Find("m") != nullptr);
  CHECK(parsed.Find("m")->help == family.help);
}

TEST_CASE("integer values render as integers") {
  std::string out;
  AppendValue(out, std::numeric_limits<std::uint64_t>::max());
  CHECK(out == "18446744073709551615");
  out.clear();
  AppendValue(out, std::int64_t{-5});
  CHECK(out == "-5");
  out.clear();
  AppendValue(out, 10.0);
  CHECK(out == "10");
  out.clear();
  AppendValue(out, 0.0);
  CHECK(out == "0");
  out.clear();
  AppendValue(out, 1e9);  // a whole-second start time, say: not "1e+09"
  CHECK(out == "1000000000");
  out.clear();
  AppendValue(out, 9007199254740992.0);  // 2^53, the largest exact whole number
  CHECK(out == "9007199254740992");
}

TEST_CASE("float values render in a form Prometheus parses back to the same double") {
  const double values[] = {0.005,      0.1,     2.5,   1e-9,
                           123456.789, 1.5e300, -0.25, std::numeric_limits<double>::min(),
                           1.0 / 3.0};
  for (double value : values) {
    std::string out;
    AppendValue(out, value);
    INFO("rendered: " << out);
    const auto parsed = testing::internal::ParseValue(out);
    REQUIRE(parsed.has_value());
    CHECK(std::memcmp(&*parsed, &value, sizeof value) == 0);
  }
}

TEST_CASE("infinities and NaN render as +Inf, -Inf and NaN") {
  std::string out;
  AppendValue(out, std::numeric_limits<double>::infinity());
  out += ' ';
  AppendValue(out, -std::numeric_limits<double>::infinity());
  out += ' ';
  AppendValue(out, std::numeric_limits<double>::quiet_NaN());
  CHECK(out == "+Inf -Inf NaN");
}

TEST_CASE("a family without samples renders nothing") {
  const std::vector<FamilySnapshot> families = {
      FamilySnapshot{"empty", "no samples", MetricType::kCounter, {}},
      OneSample("full", std::uint64_t{3})};
  const std::string text = RenderText(families);
  CHECK(text.find("empty") == std::string::npos);
  CHECK(text == "# HELP full help\n# TYPE full gauge\nfull 3\n");
}

TEST_CASE("each family gets one HELP and one TYPE line before all its samples") {
  std::vector<FamilySnapshot> families;
  families.push_back(FamilySnapshot{"requests_total", "requests", MetricType::kCounter, {}});
  families.back().samples.push_back(Sample{"", {{"code", "200"}}, std::uint64_t{4}});
  families.back().samples.push_back(Sample{"", {{"code", "500"}}, std::uint64_t{1}});
  families.push_back(OneSample("in_flight", std::int64_t{2}));

  const auto parsed = ParseExposition(RenderText(families));
  REQUIRE(parsed.errors.empty());
  REQUIRE(parsed.families.size() == 2);
  CHECK(parsed.families[0].type == "counter");
  CHECK(parsed.families[0].samples.size() == 2);
  CHECK(parsed.families[1].type == "gauge");
  CHECK(parsed.Value("requests_total", {{"code", "500"}}) == 1.0);
  CHECK(parsed.Value("in_flight") == 2.0);
}

TEST_CASE("metric and label names are checked against the Prometheus grammar") {
  CHECK(IsValidMetricName("http_requests_total"));
  CHECK(IsValidMetricName("ns:rule_total"));
  CHECK(IsValidMetricName("_x"));
  CHECK_FALSE(IsValidMetricName(""));
  CHECK_FALSE(IsValidMetricName("1abc"));
  CHECK_FALSE(IsValidMetricName("with-dash"));
  CHECK_FALSE(IsValidMetricName("with space"));

  CHECK(IsValidLabelName("code"));
  CHECK(IsValidLabelName("_x1"));
  CHECK_FALSE(IsValidLabelName("__reserved"));
  CHECK_FALSE(IsValidLabelName("has:colon"));
  CHECK_FALSE(IsValidLabelName("9"));
  CHECK_FALSE(IsValidLabelName(""));
}

// The parser the other metrics tests rely on must be able to say no.
TEST_CASE("the test parser rejects text that breaks the exposition format") {
  const auto errors_of = [](std::string_view text) { return ParseExposition(text).errors; };
  CHECK(errors_of("# HELP m h\n# TYPE m gauge\nm 1\n").empty());
  CHECK_FALSE(errors_of("# HELP m h\n# HELP m h\n# TYPE m gauge\nm 1\n").empty());
  CHECK_FALSE(errors_of("# HELP m h\nm 1\n").empty());  // no TYPE
  CHECK_FALSE(errors_of("# HELP m h\n# TYPE m gauge\nm{v=\"a\"b\"} 1\n").empty());
  CHECK_FALSE(errors_of("# HELP m h\n# TYPE m gauge\nm{v=\"a\\tb\"} 1\n").empty());
  CHECK_FALSE(errors_of("# HELP m h\n# TYPE m gauge\nm 1.2.3\n").empty());
  CHECK_FALSE(errors_of("# HELP m h\n# TYPE m gauge\nm inf\n").empty());
  CHECK_FALSE(errors_of("# HELP m h\n# TYPE m gauge\nm 1").empty());  // no newline
  CHECK_FALSE(errors_of("# HELP a h\n# TYPE a gauge\na 1\n"
                        "# HELP b h\n# TYPE b gauge\nb 1\na 2\n")
                  .empty());  // a's samples split by b

  const std::string bad_histogram =
      "# HELP h h\n# TYPE h histogram\n"
      "h_bucket{le=\"1\"} 3\nh_bucket{le=\"2\"} 2\nh_bucket{le=\"+Inf\"} 4\n"
      "h_sum 1\nh_count 5\n";
  const auto parsed = ParseExposition(bad_histogram);
  REQUIRE(parsed.errors.empty());
  CHECK(testing::CheckHistograms(parsed).size() == 2);  // not cumulative; +Inf != count
}

}  // namespace
}  // namespace hw::metrics
