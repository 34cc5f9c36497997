#include "executor/line_splitter.h"

#include <random>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace hw::executor {
namespace {

// Feeds `input` in the given chunk sizes (cycled), then flushes; returns the lines.
std::vector<std::string> Split(std::size_t max_line, std::string_view input,
                               std::vector<std::size_t> chunks = {}) {
  std::vector<std::string> lines;
  LineSplitter splitter(max_line, [&](std::string_view line) { lines.emplace_back(line); });
  if (chunks.empty()) chunks.push_back(input.size() + 1);
  for (std::size_t i = 0; !input.empty(); ++i) {
    const std::size_t n = std::min(chunks[i % chunks.size()], input.size());
    splitter.Append(input.substr(0, n));
    input.remove_prefix(n);
  }
  splitter.Flush();
  return lines;
}

using Lines = std::vector<std::string>;

TEST_CASE("line splitter emits complete lines without their newline") {
  CHECK(Split(64, "one\ntwo\n") == Lines{"one", "two"});
  CHECK(Split(64, "\n\nx\n") == Lines{"", "", "x"});
}

TEST_CASE("line splitter joins a line that arrives across several appends") {
  CHECK(Split(64, "hello world\nbye\n", {3}) == Lines{"hello world", "bye"});
  CHECK(Split(64, "hello world\nbye\n", {1}) == Lines{"hello world", "bye"});
}

TEST_CASE("line splitter cuts a line longer than max_line into pieces of max_line bytes") {
  CHECK(Split(8, "short\n0123456789abcdefXY\nlast") ==
        Lines{"short", "01234567", "89abcdef", "XY", "last"});
  CHECK(Split(8, "short\n0123456789abcdefXY\nlast", {1}) ==
        Lines{"short", "01234567", "89abcdef", "XY", "last"});
}

TEST_CASE("line splitter keeps a line of exactly max_line bytes whole") {
  CHECK(Split(4, "abcd\nefgh\n") == Lines{"abcd", "efgh"});
  CHECK(Split(4, "abcd\nefgh\n", {2}) == Lines{"abcd", "efgh"});
  CHECK(Split(4, "abcdefgh\n", {3}) == Lines{"abcd", "efgh"});
}

TEST_CASE("line splitter flush emits the unterminated rest once") {
  std::vector<std::string> lines;
  LineSplitter splitter(64, [&](std::string_view line) { lines.emplace_back(line); });
  splitter.Append("done\npartial");
  CHECK(lines == Lines{"done"});
  splitter.Flush();
  splitter.Flush();
  CHECK(lines == Lines{"done", "partial"});
}

TEST_CASE("line splitter drops the carriage return of a CRLF line ending") {
  CHECK(Split(64, "a\r\nb\r\n") == Lines{"a", "b"});
  CHECK(Split(64, "a\r\nb\r\n", {2}) == Lines{"a", "b"});  // "\r" and "\n" in different appends
  CHECK(Split(64, "a\rb\n") == Lines{"a\rb"});             // a lone '\r' is content
}

TEST_CASE("line splitter emits pieces of an endless line before it ever ends") {
  std::size_t pieces = 0;
  std::size_t longest = 0;
  LineSplitter splitter(1000, [&](std::string_view line) {
    ++pieces;
    longest = std::max(longest, line.size());
  });
  const std::string chunk(4096, 'x');
  for (int i = 0; i < 256; ++i) splitter.Append(chunk);  // 1 MiB, no newline
  CHECK(pieces == 1048);                                 // floor(1 MiB / 1000), last held back
  CHECK(longest == 1000);
}

TEST_CASE("line splitter gives the same lines however the stream is chunked") {
  std::mt19937 random(42);
  std::string input;
  for (int i = 0; i < 2000; ++i) {
    const int kind = static_cast<int>(random() % 10);
    input += kind == 0 ? '\n' : kind == 1 ? '\r' : static_cast<char>('a' + random() % 26);
  }
  const Lines whole = Split(7, input);
  for (std::size_t chunk : {1u, 2u, 3u, 7u, 8u, 13u, 100u}) {
    INFO("chunk size " << chunk);
    CHECK(Split(7, input, {chunk}) == whole);
  }
  for (const std::string& line : whole) CHECK(line.size() <= 7);
}

TEST_CASE("line splitter treats max_line 0 as 1") { CHECK(Split(0, "ab\n") == Lines{"a", "b"}); }

TEST_CASE("line splitter with no callback discards lines") {
  LineSplitter splitter(4, nullptr);
  splitter.Append("abcdefgh\nij");
  splitter.Flush();
  SUCCEED("no crash");
}

}  // namespace
}  // namespace hw::executor
