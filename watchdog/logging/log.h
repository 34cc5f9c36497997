// The watchdog's log: plain text or one JSON object per line (log_format), on stderr.
// Thread-safe. Callers format the message themselves (fmt::format); nothing here may be
// handed a secret.
#pragma once

#include <chrono>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hw::log {

enum class Format { kText, kJson };
enum class Level { kDebug, kInfo, kWarn, kError };

// Sets up the logger; call once from main before anything logs. Safe to skip in tests
// (a default text logger is created on first use).
void Init(Format format);

void Write(Level level, std::string_view message);
// Writes out lines still batched in memory (they go out every 50 ms anyway; warnings and
// errors at once). Call before exiting.
void Flush();
inline void Debug(std::string_view m) { Write(Level::kDebug, m); }
inline void Info(std::string_view m) { Write(Level::kInfo, m); }
inline void Warn(std::string_view m) { Write(Level::kWarn, m); }
inline void Error(std::string_view m) { Write(Level::kError, m); }

// A line with named fields: in text format "message key=value ...", in JSON format
// {"level":..,"msg":..,"key":"value",...}. Used for the access log.
using Field = std::pair<std::string_view, std::string_view>;  // name, value
void WriteFields(Level level, std::string_view message, std::span<const Field> fields);
// "S.uuuuuu": seconds with six decimals, rounded to the microsecond (what fmt's "{:.6f}"
// writes), without formatting a double on every request; a negative time reads as 0. The
// access log's duration.
std::string SecondsText(std::chrono::nanoseconds elapsed);

// Lines a function wrote to stdout/stderr, already split; `stream` is "stdout" or "stderr".
// With prefix=true the line carries a timestamp and the stream name, as of-watchdog does.
void FunctionOutput(std::string_view stream, std::string_view line, bool prefix);

// Appends `text` as the inside of a JSON string: quotes, backslashes and control characters
// escaped; each byte that is not part of well-formed UTF-8 replaced by \ufffd.
void AppendJsonEscaped(std::string& out, std::string_view text);

}  // namespace hw::log
