// A strict parser of the Prometheus text format 0.0.4 for the metrics tests: it reads back
// what hw::metrics renders and lists every way the text departs from the format, so tests
// check the output as a scraper would see it rather than by string matching.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace hw::metrics::testing {

using LabelMap = std::map<std::string, std::string>;

struct ParsedSample {
  std::string name;
  LabelMap labels;
  double value = 0;
};

struct ParsedFamily {
  std::string name;
  std::string help;
  std::string type;
  int help_lines = 0;
  int type_lines = 0;
  std::vector<ParsedSample> samples;
};

struct ParsedExposition {
  std::vector<ParsedFamily> families;  // in the order they appear
  std::vector<std::string> errors;     // empty when the text is well-formed

  const ParsedFamily* Find(std::string_view name) const {
    for (const ParsedFamily& family : families) {
      if (family.name == name) return &family;
    }
    return nullptr;
  }
  // The value of the sample with exactly this name and these labels.
  std::optional<double> Value(std::string_view sample_name, const LabelMap& labels = {}) const {
    for (const ParsedFamily& family : families) {
      for (const ParsedSample& sample : family.samples) {
        if (sample.name == sample_name && sample.labels == labels) return sample.value;
      }
    }
    return std::nullopt;
  }
};

namespace internal {

inline bool IsNameStart(char c, bool colon_ok) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon_ok && c == ':');
}
inline bool IsNameChar(char c, bool colon_ok) {
  return IsNameStart(c, colon_ok) || (c >= '0' && c <= '9');
}

// Reads a name at `pos`; empty when there is none.
inline std::string ReadName(std::string_view line, std::size_t& pos, bool colon_ok) {
  const std::size_t start = pos;
  if (pos >= line.size() || !IsNameStart(line[pos], colon_ok)) return {};
  while (pos < line.size() && IsNameChar(line[pos], colon_ok)) ++pos;
  return std::string(line.substr(start, pos - start));
}

inline std::optional<double> ParseValue(std::string_view text) {
  if (text == "+Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return std::nan("");
  if (text.empty()) return std::nullopt;
  for (char c : text) {
    const bool allowed =
        (c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-';
    if (!allowed) return std::nullopt;
  }
  const std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return value;
}

// Undoes the escapes the format allows: in HELP \\ and \n, in label values also \".
inline std::optional<std::string> Unescape(std::string_view text, bool quote_allowed) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out += text[i];
      continue;
    }
    if (++i == text.size()) return std::nullopt;
    switch (text[i]) {
      case '\\':
        out += '\\';
        break;
      case 'n':
        out += '\n';
        break;
      case '"':
        if (!quote_allowed) return std::nullopt;
        out += '"';
        break;
      default:
        return std::nullopt;
    }
  }
  return out;
}

// The family a sample name belongs to, given the family currently open.
inline bool BelongsTo(const std::string& sample_name, const ParsedFamily& family) {
  if (sample_name == family.name) return family.type != "histogram";
  if (family.type != "histogram") return false;
  for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (sample_name == family.name + std::string(suffix)) return true;
  }
  return false;
}

}  // namespace internal

inline ParsedExposition ParseExposition(std::string_view text) {
  using internal::ReadName;
  ParsedExposition result;
  auto error = [&](std::size_t line_number, const std::string& what) {
    result.errors.push_back("line " + std::to_string(line_number) + ": " + what);
  };
  if (!text.empty() && text.back() != '\n') error(0, "text does not end with a newline");

  std::set<std::string> closed;  // families whose lines have ended
  ParsedFamily* current = nullptr;
  auto open_family = [&](const std::string& name) -> ParsedFamily& {
    if (current != nullptr && current->name == name) return *current;
    if (current != nullptr) closed.insert(current->name);
    if (closed.count(name) != 0) {
      result.errors.push_back("family " + name + " appears in two separate places");
    }
    result.families.push_back(ParsedFamily{name, "", "", 0, 0, {}});
    current = &result.families.back();
    return *current;
  };

  std::size_t line_number = 0;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    ++line_number;
    if (line.empty()) continue;

    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      const bool is_help = line[2] == 'H';
      std::size_t pos = 7;
      const std::string name = ReadName(line, pos, true);
      if (name.empty() || pos >= line.size() || line[pos] != ' ') {
        error(line_number, "bad metric name in: " + std::string(line));
        continue;
      }
      const std::string_view rest = line.substr(pos + 1);
      ParsedFamily& family = open_family(name);
      if (is_help) {
        ++family.help_lines;
        const auto help = internal::Unescape(rest, /*quote_allowed=*/false);
        if (!help) error(line_number, "bad escape in HELP");
        family.help = help.value_or("");
      } else {
        ++family.type_lines;
        if (!family.samples.empty()) error(line_number, "TYPE after samples of " + name);
        static const std::set<std::string_view> kTypes = {"counter", "gauge", "histogram",
                                                          "summary", "untyped"};
        if (kTypes.count(rest) == 0) error(line_number, "unknown type " + std::string(rest));
        family.type = std::string(rest);
      }
      continue;
    }
    if (line.front() == '#') {
      error(line_number, "unexpected comment: " + std::string(line));
      continue;
    }

    ParsedSample sample;
    std::size_t pos = 0;
    sample.name = ReadName(line, pos, true);
    if (sample.name.empty()) {
      error(line_number, "bad sample name in: " + std::string(line));
      continue;
    }
    bool ok = true;
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      while (ok && pos < line.size() && line[pos] != '}') {
        const std::string label = ReadName(line, pos, false);
        if (label.empty() || line.substr(pos, 2) != "=\"") {
          ok = false;
          break;
        }
        pos += 2;
        const std::size_t value_start = pos;
        while (pos < line.size() && line[pos] != '"') pos += line[pos] == '\\' ? 2 : 1;
        if (pos >= line.size()) {
          ok = false;
          break;
        }
        const auto value = internal::Unescape(line.substr(value_start, pos - value_start), true);
        ++pos;  // closing quote
        if (!value || !sample.labels.emplace(label, *value).second) {
          ok = false;
          break;
        }
        if (pos < line.size() && line[pos] == ',') ++pos;
      }
      if (pos >= line.size() || line[pos] != '}') ok = false;
      ++pos;
    }
    if (!ok || pos >= line.size() || line[pos] != ' ') {
      error(line_number, "bad labels in: " + std::string(line));
      continue;
    }
    const auto value = internal::ParseValue(line.substr(pos + 1));
    if (!value) {
      error(line_number, "bad value in: " + std::string(line));
      continue;
    }
    sample.value = *value;
    if (current == nullptr || !internal::BelongsTo(sample.name, *current)) {
      error(line_number, "sample " + sample.name + " outside its family's HELP/TYPE block");
      continue;
    }
    current->samples.push_back(std::move(sample));
  }

  for (const ParsedFamily& family : result.families) {
    if (family.help_lines != 1 || family.type_lines != 1) {
      result.errors.push_back(family.name + ": " + std::to_string(family.help_lines) +
                              " HELP and " + std::to_string(family.type_lines) + " TYPE lines");
    }
  }
  return result;
}

// For every histogram family: per label set, le values ascending and ending in +Inf, counts
// cumulative, the +Inf bucket equal to _count, and _sum present. Returns the violations.
inline std::vector<std::string> CheckHistograms(const ParsedExposition& exposition) {
  std::vector<std::string> errors;
  for (const ParsedFamily& family : exposition.families) {
    if (family.type != "histogram") continue;
    struct Series {
      std::vector<std::pair<double, double>> buckets;  // (le, count) in text order
      std::optional<double> sum;
      std::optional<double> count;
    };
    std::map<LabelMap, Series> series;
    for (const ParsedSample& sample : family.samples) {
      LabelMap labels = sample.labels;
      if (sample.name == family.name + "_bucket") {
        const auto le = labels.find("le");
        if (le == labels.end()) {
          errors.push_back(family.name + ": bucket without le");
          continue;
        }
        const std::string le_text = le->second;
        labels.erase(le);
        const auto bound = internal::ParseValue(le_text);
        if (!bound) {
          errors.push_back(family.name + ": bad le " + le_text);
          continue;
        }
        series[labels].buckets.emplace_back(*bound, sample.value);
      } else if (sample.name == family.name + "_sum") {
        series[labels].sum = sample.value;
      } else if (sample.name == family.name + "_count") {
        series[labels].count = sample.value;
      }
    }
    for (const auto& [labels, s] : series) {
      const std::string where =
          family.name + " series of " + std::to_string(labels.size()) + " labels";
      if (s.buckets.empty() || !std::isinf(s.buckets.back().first)) {
        errors.push_back(where + ": no +Inf bucket last");
      }
      for (std::size_t i = 1; i < s.buckets.size(); ++i) {
        if (!(s.buckets[i - 1].first < s.buckets[i].first)) {
          errors.push_back(where + ": le not ascending");
        }
        if (s.buckets[i - 1].second > s.buckets[i].second) {
          errors.push_back(where + ": counts not cumulative");
        }
      }
      if (!s.sum) errors.push_back(where + ": no _sum");
      if (!s.count) {
        errors.push_back(where + ": no _count");
      } else if (!s.buckets.empty() && s.buckets.back().second != *s.count) {
        errors.push_back(where + ": +Inf bucket differs from _count");
      }
    }
  }
  return errors;
}

}  // namespace hw::metrics::testing
