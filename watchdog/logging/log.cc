// spdlog-backed implementation of the watchdog's log (the only file that includes spdlog).
#include "logging/log.h"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace hw::log {

namespace {
// Length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF), or 0 if it does not start with one.
std::size_t Utf8SequenceLength(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) low = 0xA0;   // overlong
    if (lead == 0xED) high = 0x9F;  // surrogates
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) low = 0x90;   // overlong
    if (lead == 0xF4) high = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (text.size() < length) return 0;
  if (byte(1) < low || byte(1) > high) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
}
}  // namespace

// Appends `text` as the inside of a JSON string. Control characters become escapes; each
// byte that is not part of well-formed UTF-8 (a client can put any byte in a path or header)
// becomes \ufffd, so every line stays valid JSON.
void AppendJsonEscaped(std::string& out, std::string_view text) {
  static const char* kHex = "0123456789abcdef";
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      const std::size_t length = Utf8SequenceLength(text.substr(i));
      if (length == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(text.substr(i, length));
        i += length;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

namespace {

struct Loggers {
  Format format = Format::kText;
  std::shared_ptr<spdlog::logger> main;  // timestamped lines
  std::shared_ptr<spdlog::logger> raw;   // function output without prefix (text format)
};

spdlog::level::level_enum ToSpd(Level level);

// ".uuuuuu": the six decimals of a time's fraction of a second, from its microseconds
// (0-999999): the log's timestamps and SecondsText.
struct MicrosFraction {
  explicit MicrosFraction(std::int64_t micros) {
    for (std::size_t i = sizeof text - 1; i >= 1; --i, micros /= 10) {
      text[i] = static_cast<char>('0' + micros % 10);
    }
  }
  char text[7] = {'.', '0', '0', '0', '0', '0', '0'};
};

// stderr, written in batches: lines collect in a buffer that a background thread writes out
// every 50 ms (or at once past 64 KiB, and for every warning and error), so the access log
// costs one write() per batch instead of one per request. Flush() empties it (shutdown).
class BatchedStderr {
 public:
  static BatchedStderr& Instance() {
    static BatchedStderr* instance = new BatchedStderr();  // never destroyed: used at exit
    return *instance;
  }

  void Append(const char* data, std::size_t size, bool urgent) {
    std::unique_lock lock(mutex_);
    pending_.append(data, size);
    if (urgent || pending_.size() >= kLimit) WriteLocked();
  }

  void Flush() {
    std::lock_guard lock(mutex_);
    WriteLocked();
  }

  // One line of the watchdog's own, formatted as the main logger's pattern would (Build):
  // the time and level, then what `body` appends, then the line's end, straight into the
  // batch under its one lock. No line is built first and nothing is allocated: through
  // spdlog's logger, sink and pattern formatter an access-log line cost 1,800 instructions
  // more, and an allocation.
  template <typename Body>
  void AppendLine(Format format, Level level, Body&& body) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now);
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(now - seconds);
    std::unique_lock lock(mutex_);
    if (seconds.count() != cached_second_) CacheSecond(seconds.count());
    const MicrosFraction fraction(micros.count());
    if (format == Format::kJson) {
      pending_.append(R"({"time":")").append(cached_json_, kDateSize);
      pending_.append(fraction.text, sizeof fraction.text).append(R"(Z","level":")");
      const auto name = spdlog::level::to_string_view(ToSpd(level));
      pending_.append(name.data(), name.size()).append("\",");
      body(pending_);
      pending_.append("}\n");
    } else {
      pending_.append(cached_text_, kDateSize).append(fraction.text, sizeof fraction.text);
      pending_ += ' ';
      body(pending_);
      pending_ += '\n';
    }
    if (level >= Level::kWarn || pending_.size() >= kLimit) WriteLocked();
  }

 private:
  static constexpr std::size_t kLimit = 64 * 1024;

  // The date and time of `second` (UTC) in both formats' patterns, once a second.
  void CacheSecond(std::int64_t second) {
    const auto t = static_cast<std::time_t>(second);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    std::strftime(cached_text_, sizeof cached_text_, "%Y/%m/%d %H:%M:%S", &tm);
    std::strftime(cached_json_, sizeof cached_json_, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_second_ = second;
  }

  BatchedStderr() {
    std::thread([this] {
      while (true) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        Flush();
      }
    }).detach();
  }

  void WriteLocked() {
    std::size_t off = 0;
    while (off < pending_.size()) {
      ssize_t n = ::write(STDERR_FILENO, pending_.data() + off, pending_.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // stderr gone: drop rather than block the watchdog
      off += static_cast<std::size_t>(n);
    }
    pending_.clear();
  }

  std::mutex mutex_;
  std::string pending_;
  static constexpr std::size_t kDateSize = 19;
  std::int64_t cached_second_ = -1;
  char cached_text_[kDateSize + 1] = {};  // "2026/12/07 22:50:01" (and strftime's NUL)
  char cached_json_[kDateSize + 1] = {};  // "2026-12-07T22:50:01"
};

class BatchedSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    BatchedStderr::Instance().Append(formatted.data(), formatted.size(),
                                     msg.level >= spdlog::level::warn);
  }
  void flush_() override { BatchedStderr::Instance().Flush(); }
};

std::shared_ptr<spdlog::logger> MakeLogger(const std::string& name, const std::string& pattern) {
  auto sink = std::make_shared<BatchedSink>();
  auto logger = std::make_shared<spdlog::logger>(name, sink);
  logger->set_pattern(pattern, spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::debug);
  return logger;
}

Loggers Build(Format format) {
  Loggers l;
  l.format = format;
  if (format == Format::kJson) {
    l.main = MakeLogger("json", R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l",%v})");
  } else {
    l.main = MakeLogger("text", "%Y/%m/%d %H:%M:%S.%f %v");
  }
  l.raw = MakeLogger("raw", "%v");
  return l;
}

std::mutex& InitMutex() {
  static std::mutex m;
  return m;
}

Loggers*& Current() {
  static Loggers* current = nullptr;
  return current;
}

const Loggers& Get() {
  Loggers* l = __atomic_load_n(&Current(), __ATOMIC_ACQUIRE);
  if (l != nullptr) return *l;
  std::lock_guard lock(InitMutex());
  if (Current() == nullptr)
    __atomic_store_n(&Current(), new Loggers(Build(Format::kText)), __ATOMIC_RELEASE);
  return *Current();
}

spdlog::level::level_enum ToSpd(Level level) {
  switch (level) {
    case Level::kDebug:
      return spdlog::level::debug;
    case Level::kInfo:
      return spdlog::level::info;
    case Level::kWarn:
      return spdlog::level::warn;
    case Level::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

std::string_view LevelWord(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

// Text values with spaces, quotes or control characters are quoted, so a line stays one line
// and parses as key=value pairs.
void AppendTextValue(std::string& out, std::string_view value) {
  bool plain = !value.empty();
  for (unsigned char c : value) {
    if (c <= ' ' || c == '"' || c == '=' || c == 0x7f) plain = false;
  }
  if (plain) {
    out += value;
    return;
  }
  out += '"';
  AppendJsonEscaped(out, value);
  out += '"';
}

}  // namespace

void Init(Format format) {
  std::lock_guard lock(InitMutex());
  // The previous loggers are kept alive: another thread may still hold a reference.
  __atomic_store_n(&Current(), new Loggers(Build(format)), __ATOMIC_RELEASE);
}

void Write(Level level, std::string_view message) { WriteFields(level, message, {}); }

void Flush() { BatchedStderr::Instance().Flush(); }

void WriteFields(Level level, std::string_view message, std::span<const Field> fields) {
  const Format format = Get().format;
  BatchedStderr::Instance().AppendLine(format, level, [&](std::string& line) {
    if (format == Format::kJson) {
      line += "\"msg\":\"";
      AppendJsonEscaped(line, message);
      line += '"';
      for (const auto& [key, value] : fields) {
        line += ",\"";
        AppendJsonEscaped(line, key);
        line += "\":\"";
        AppendJsonEscaped(line, value);
        line += '"';
      }
      return;
    }
    line.append("[").append(LevelWord(level)).append("] ");
    const std::size_t start = line.size();
    line.append(message);
    for (std::size_t i = start; i < line.size(); ++i) {
      const auto c = static_cast<unsigned char>(line[i]);
      if (c < 0x20 || c == 0x7f) line[i] = ' ';
    }
    for (const auto& [key, value] : fields) {
      line.append(" ").append(key).append("=");
      AppendTextValue(line, value);
    }
  });
}

std::string SecondsText(std::chrono::nanoseconds elapsed) {
  const std::int64_t micros = (std::max<std::int64_t>(0, elapsed.count()) + 500) / 1000;
  std::string text = std::to_string(micros / 1000000);
  const MicrosFraction fraction(micros % 1000000);
  text.append(fraction.text, sizeof fraction.text);
  return text;
}

void FunctionOutput(std::string_view stream, std::string_view line, bool prefix) {
  const Loggers& l = Get();
  if (l.format == Format::kJson) {
    const Field fields[] = {{"stream", stream}};
    WriteFields(Level::kInfo, line, fields);
  } else if (prefix) {
    std::string text;
    text.reserve(stream.size() + line.size() + 2);
    text += stream;
    text += ": ";
    text += line;
    l.main->info(std::string_view(text));
  } else {
    l.raw->info(line);
  }
}

}  // namespace hw::log
