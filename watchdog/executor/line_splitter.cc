#include "executor/line_splitter.h"

#include <algorithm>
#include <utility>

namespace hw::executor {

LineSplitter::LineSplitter(std::size_t max_line, LineFn on_line)
    : max_line_(std::max<std::size_t>(max_line, 1)), on_line_(std::move(on_line)) {
  if (!on_line_) on_line_ = [](std::string_view) {};
}

void LineSplitter::Append(std::string_view bytes) {
  while (!bytes.empty()) {
    const std::size_t newline = bytes.find('\n');
    if (newline == std::string_view::npos) {
      AddToLine(bytes);
      return;
    }
    EndLine(bytes.substr(0, newline));
    bytes.remove_prefix(newline + 1);
  }
}

void LineSplitter::Flush() {
  line_cut_ = false;
  if (!partial_.empty()) EmitPartial();
}

void LineSplitter::AddToLine(std::string_view part) {
  while (!part.empty()) {
    // A full piece goes out only when more bytes of the same line arrive, so a line of exactly
    // max_line bytes followed by '\n' is one line, not a piece and an empty line.
    if (partial_.size() == max_line_) {
      EmitPartial();
      line_cut_ = true;
    }
    if (partial_.empty() && part.size() > max_line_) {
      line_cut_ = true;
      on_line_(part.substr(0, max_line_));
      part.remove_prefix(max_line_);
      continue;
    }
    const std::size_t take = std::min(part.size(), max_line_ - partial_.size());
    partial_.append(part.substr(0, take));
    part.remove_prefix(take);
  }
}

void LineSplitter::EndLine(std::string_view tail) {
  // "\r\n" ends a line too; the '\r' may have come in an earlier Append.
  if (!tail.empty()) {
    if (tail.back() == '\r') tail.remove_suffix(1);
  } else if (!partial_.empty() && partial_.back() == '\r') {
    partial_.pop_back();
  }
  const bool was_cut = std::exchange(line_cut_, false);
  if (partial_.empty() && tail.empty() && was_cut) {
    // Only the '\r' of "\r\n" followed the last full piece: the line is complete already.
    return;
  }
  if (partial_.empty() && tail.size() <= max_line_) {
    on_line_(tail);  // the common case: a whole line inside one read, no copy
    return;
  }
  AddToLine(tail);
  line_cut_ = false;
  EmitPartial();
}

void LineSplitter::EmitPartial() {
  on_line_(partial_);
  partial_.clear();  // keeps its capacity: one allocation for the life of the stream
}

}  // namespace hw::executor
