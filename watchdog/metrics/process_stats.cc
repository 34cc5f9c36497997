#include "metrics/process_stats.h"

#include <dirent.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

namespace hw::metrics {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::optional<std::string> ReadWholeFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return std::move(contents).str();
}

std::optional<std::uint64_t> ParseUint(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Whitespace-separated fields of `text`.
std::vector<std::string_view> Fields(std::string_view text) {
  std::vector<std::string_view> fields;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ' ' || text[i] == '\n' || text[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ' && text[i] != '\n' && text[i] != '\t') ++i;
    if (i > start) fields.push_back(text.substr(start, i - start));
  }
  return fields;
}

// /proc/self/stat field N (1-based, as in proc(5)) counted after the command name, which is
// in parentheses and may itself hold spaces and parentheses.
class StatFields {
 public:
  explicit StatFields(std::string_view stat) {
    const std::size_t close = stat.rfind(')');
    if (close != std::string_view::npos) fields_ = Fields(stat.substr(close + 1));
  }
  std::optional<std::uint64_t> Get(std::size_t field_number) const {
    constexpr std::size_t kFirstAfterComm = 3;  // "state"
    if (field_number < kFirstAfterComm) return std::nullopt;
    const std::size_t index = field_number - kFirstAfterComm;
    if (index >= fields_.size()) return std::nullopt;
    return ParseUint(fields_[index]);
  }

 private:
  std::vector<std::string_view> fields_;
};

std::optional<std::uint64_t> BootTimeSeconds() {
  const std::optional<std::string> stat = ReadWholeFile("/proc/stat");
  if (!stat) return std::nullopt;
  std::istringstream lines(*stat);
  for (std::string line; std::getline(lines, line);) {
    const std::vector<std::string_view> fields = Fields(line);
    if (fields.size() == 2 && fields[0] == "btime") return ParseUint(fields[1]);
  }
  return std::nullopt;
}

double MaxOpenFiles() {
  const std::optional<std::string> limits = ReadWholeFile("/proc/self/limits");
  if (!limits) return kNaN;
  constexpr std::string_view kPrefix = "Max open files";
  std::istringstream lines(*limits);
  for (std::string line; std::getline(lines, line);) {
    if (!std::string_view(line).starts_with(kPrefix)) continue;
    const std::vector<std::string_view> fields =
        Fields(std::string_view(line).substr(kPrefix.size()));
    if (fields.empty()) return kNaN;
    if (fields[0] == "unlimited") return std::numeric_limits<double>::infinity();
    const std::optional<std::uint64_t> soft = ParseUint(fields[0]);
    return soft ? static_cast<double>(*soft) : kNaN;
  }
  return kNaN;
}

double OpenFds() {
  const std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir("/proc/self/fd"), &closedir);
  if (!dir) return kNaN;
  const std::string own_fd = std::to_string(dirfd(dir.get()));
  double count = 0;
  while (const dirent* entry = readdir(dir.get())) {
    const std::string_view name = entry->d_name;
    if (name == "." || name == ".." || name == own_fd) continue;
    count += 1;
  }
  return count;
}

double ToDouble(std::optional<std::uint64_t> value) {
  return value ? static_cast<double>(*value) : kNaN;
}

FamilySnapshot Single(std::string name, std::string help, MetricType type, double value) {
  FamilySnapshot family{std::move(name), std::move(help), type, {}};
  if (!std::isnan(value)) family.samples.push_back(Sample{"", {}, value});
  return family;
}

}  // namespace

ProcessStats ReadProcessStats() {
  ProcessStats stats{kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  const long page_size = sysconf(_SC_PAGESIZE);

  if (const std::optional<std::string> stat = ReadWholeFile("/proc/self/stat")) {
    const StatFields fields(*stat);
    const std::optional<std::uint64_t> utime = fields.Get(14);
    const std::optional<std::uint64_t> stime = fields.Get(15);
    if (utime && stime && ticks_per_second > 0) {
      stats.cpu_seconds = static_cast<double>(*utime + *stime) / ticks_per_second;
    }
    stats.virtual_memory_bytes = ToDouble(fields.Get(23));
    const std::optional<std::uint64_t> rss_pages = fields.Get(24);
    if (rss_pages && page_size > 0) {
      stats.resident_memory_bytes = static_cast<double>(*rss_pages) * page_size;
    }
    const std::optional<std::uint64_t> start_ticks = fields.Get(22);
    const std::optional<std::uint64_t> boot_time = BootTimeSeconds();
    if (start_ticks && boot_time && ticks_per_second > 0) {
      stats.start_time_seconds =
          static_cast<double>(*boot_time) + static_cast<double>(*start_ticks) / ticks_per_second;
    }
  }
  stats.open_fds = OpenFds();
  stats.max_fds = MaxOpenFiles();
  return stats;
}

std::vector<FamilySnapshot> ProcessFamilies(const ProcessStats& stats) {
  // Help texts as the Go client writes them.
  std::vector<FamilySnapshot> families;
  families.push_back(Single("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.",
                            MetricType::kCounter, stats.cpu_seconds));
  families.push_back(Single("process_open_fds", "Number of open file descriptors.",
                            MetricType::kGauge, stats.open_fds));
  families.push_back(Single("process_max_fds", "Maximum number of open file descriptors.",
                            MetricType::kGauge, stats.max_fds));
  families.push_back(Single("process_resident_memory_bytes", "Resident memory size in bytes.",
                            MetricType::kGauge, stats.resident_memory_bytes));
  families.push_back(Single("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                            MetricType::kGauge, stats.virtual_memory_bytes));
  families.push_back(Single("process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.",
                            MetricType::kGauge, stats.start_time_seconds));
  return families;
}

}  // namespace hw::metrics
