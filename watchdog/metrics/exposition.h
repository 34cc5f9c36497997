// The Prometheus text exposition format 0.0.4: the snapshot types every metric is collected
// into, and the one function that turns them into the text a scraper reads.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace hw::metrics {

// The Content-Type to send with RenderText's output.
inline constexpr std::string_view kTextContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge, kHistogram };

// "counter", "gauge" or "histogram", as written on a # TYPE line.
std::string_view TypeName(MetricType type);

struct Label {
  std::string name;
  std::string value;  // any bytes; escaped when rendered
};

// Integers, and doubles holding whole numbers up to 2^53, render as integers; other doubles in
// the shortest form that parses back to the same value; +Inf, -Inf and NaN as Prometheus
// spells them.
using SampleValue = std::variant<std::uint64_t, std::int64_t, double>;

struct Sample {
  std::string suffix;  // appended to the family name: "", "_bucket", "_sum", "_count"
  std::vector<Label> labels;
  SampleValue value;
};

// One metric family as seen at one scrape.
struct FamilySnapshot {
  std::string name;
  std::string help;
  MetricType type = MetricType::kGauge;
  std::vector<Sample> samples;
};

// The exposition text: for each family with at least one sample, one # HELP line, one # TYPE
// line, then its samples, in the order given. A family without samples renders nothing (as the
// Go client does for a vector no one has used yet). Names are written as given: callers pass
// names that IsValidMetricName / IsValidLabelName accept.
std::string RenderText(std::span<const FamilySnapshot> families);

// Appends a sample value as RenderText writes it.
void AppendValue(std::string& out, SampleValue value);

// Label value escaping: backslash, double quote and newline become \\, \" and \n.
std::string EscapeLabelValue(std::string_view value);
// HELP text escaping: backslash and newline become \\ and \n.
std::string EscapeHelp(std::string_view help);

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidMetricName(std::string_view name);
// [a-zA-Z_][a-zA-Z0-9_]*, and not starting with "__" (reserved by Prometheus).
bool IsValidLabelName(std::string_view name);

}  // namespace hw::metrics
