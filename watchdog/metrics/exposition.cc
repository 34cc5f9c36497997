#include "metrics/exposition.h"

#include <charconv>
#include <cmath>

#include <fmt/format.h>

namespace hw::metrics {
namespace {

bool IsAsciiLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }

void AppendEscaped(std::string& out, std::string_view text, bool escape_quote) {
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += escape_quote ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

void AppendSample(std::string& out, const std::string& family_name, const Sample& sample) {
  out += family_name;
  out += sample.suffix;
  if (!sample.labels.empty()) {
    out += '{';
    bool first = true;
    for (const Label& label : sample.labels) {
      if (!first) out += ',';
      first = false;
      out += label.name;
      out += "=\"";
      AppendEscaped(out, label.value, /*escape_quote=*/true);
      out += '"';
    }
    out += '}';
  }
  out += ' ';
  AppendValue(out, sample.value);
  out += '\n';
}

}  // namespace

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void AppendValue(std::string& out, SampleValue value) {
  // Enough for any uint64, int64 or shortest round-trip double ("-2.2250738585072014e-308").
  char buffer[32];
  std::to_chars_result result{};
  if (const auto* u = std::get_if<std::uint64_t>(&value)) {
    result = std::to_chars(std::begin(buffer), std::end(buffer), *u);
  } else if (const auto* i = std::get_if<std::int64_t>(&value)) {
    result = std::to_chars(std::begin(buffer), std::end(buffer), *i);
  } else {
    const double d = std::get<double>(value);
    if (std::isnan(d)) {
      out += "NaN";
      return;
    }
    if (std::isinf(d)) {
      out += d > 0 ? "+Inf" : "-Inf";
      return;
    }
    // Whole numbers that a double holds exactly (|d| <= 2^53) as integers ("1000000000", not
    // the "1e+09" of the shortest form); the rest in the shortest form that round-trips, e.g.
    // "0.005", "1e-09", "1.5e+300". Go's strconv.ParseFloat, which Prometheus uses, reads both.
    constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53
    if (std::fabs(d) <= kMaxExactInteger && std::trunc(d) == d) {
      result = std::to_chars(std::begin(buffer), std::end(buffer), static_cast<std::int64_t>(d));
    } else {
      // fmt's shortest round-trip form (Dragonbox): std::to_chars(double) would link
      // libstdc++'s floating_to_chars.o (128 KB, Ryu's tables) for this one call (README, P9).
      const auto written = fmt::format_to_n(std::begin(buffer), sizeof buffer - 1, "{}", d);
      out.append(buffer, written.out);
      return;
    }
  }
  out.append(buffer, result.ptr);
}

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  AppendEscaped(out, value, /*escape_quote=*/true);
  return out;
}

std::string EscapeHelp(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  AppendEscaped(out, help, /*escape_quote=*/false);
  return out;
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty() || IsAsciiDigit(name.front())) return false;
  for (char c : name) {
    if (!IsAsciiLetter(c) && !IsAsciiDigit(c) && c != '_' && c != ':') return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || IsAsciiDigit(name.front()) || name.starts_with("__")) return false;
  for (char c : name) {
    if (!IsAsciiLetter(c) && !IsAsciiDigit(c) && c != '_') return false;
  }
  return true;
}

std::string RenderText(std::span<const FamilySnapshot> families) {
  std::string out;
  for (const FamilySnapshot& family : families) {
    if (family.samples.empty()) continue;
    out += "# HELP ";
    out += family.name;
    out += ' ';
    AppendEscaped(out, family.help, /*escape_quote=*/false);
    out += "\n# TYPE ";
    out += family.name;
    out += ' ';
    out += TypeName(family.type);
    out += '\n';
    for (const Sample& sample : family.samples) AppendSample(out, family.name, sample);
  }
  return out;
}

}  // namespace hw::metrics
