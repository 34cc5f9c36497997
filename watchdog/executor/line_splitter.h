// LineSplitter: cuts a function's output stream into log lines while holding at most one line
// (log_buffer_size bytes) in memory, so a child that never writes a newline cannot make the
// watchdog grow or stop reading.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace hw::executor {

class LineSplitter {
 public:
  using LineFn = std::function<void(std::string_view line)>;

  // on_line receives each line without its '\n' (and without a '\r' right before it); a line
  // longer than max_line bytes arrives as several pieces of max_line bytes, the last one
  // shorter. max_line 0 is treated as 1. on_line runs synchronously inside Append/Flush;
  // a null on_line discards the lines.
  LineSplitter(std::size_t max_line, LineFn on_line);

  // Feeds the next bytes of the stream; emits every line they complete. Never blocks.
  void Append(std::string_view bytes);

  // End of stream: emits the unterminated rest, if any.
  void Flush();

  std::size_t max_line() const { return max_line_; }

 private:
  // Adds bytes that belong to the current line, emitting full pieces when it grows too long.
  void AddToLine(std::string_view part);
  void EndLine(std::string_view tail);
  void EmitPartial();

  std::size_t max_line_;
  LineFn on_line_;
  std::string partial_;    // the current line so far, never more than max_line_ bytes
  bool line_cut_ = false;  // pieces of the current line were emitted already
};

}  // namespace hw::executor
