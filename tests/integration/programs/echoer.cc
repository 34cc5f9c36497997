// Echo functions with different ways of interleaving reads of stdin and writes of stdout, for
// the output-integrity stress test. Each copies stdin to stdout unchanged and exits 0 (exit 9
// if a write fails). argv[1] picks the pattern:
//   bytewise   read one byte, write it, repeat (what `dd bs=1` does)
//   trickle    reads of 1 to 4093 bytes (a fixed pseudo-random sequence), each written at once
//              in two writes
//   burst      reads until 1 MiB is held (or end of input), then writes it in one write: output
//              far larger than a pipe before the next read
//   stderr     trickle, plus a stderr line of about 120 bytes for every 4 KiB echoed, and a
//              stderr line with no newline at the end
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

void WriteAll(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n <= 0) std::exit(9);
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

// Reads up to cap bytes; 0 at the end of input.
std::size_t ReadSome(char* buf, std::size_t cap) {
  for (;;) {
    const ssize_t n = ::read(0, buf, cap);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) std::exit(8);
  }
}

int Bytewise() {
  char c = 0;
  while (ReadSome(&c, 1) == 1) WriteAll(1, &c, 1);
  return 0;
}

int Trickle(bool with_stderr) {
  static char buf[4096];
  unsigned state = 12345;
  std::size_t since_line = 0;
  unsigned long long total = 0;
  for (;;) {
    state = state * 1103515245u + 12345u;
    const std::size_t want = 1 + (state >> 8) % 4093;
    const std::size_t n = ReadSome(buf, want);
    if (n == 0) break;
    const std::size_t half = n / 2;
    WriteAll(1, buf, half);
    WriteAll(1, buf + half, n - half);
    total += n;
    since_line += n;
    if (with_stderr && since_line >= 4096) {
      since_line = 0;
      char line[160];
      const int len = std::snprintf(line, sizeof line,
                                    "echoed %llu bytes so far; this line is padding to make "
                                    "stderr as busy as stdout ..........................\n",
                                    total);
      WriteAll(2, line, static_cast<std::size_t>(len));
    }
  }
  if (with_stderr) WriteAll(2, "done without a newline", 22);
  return 0;
}

int Burst() {
  const std::size_t cap = 1024 * 1024;
  std::string held(cap, '\0');
  for (;;) {
    std::size_t size = 0;
    while (size < cap) {
      const std::size_t n = ReadSome(held.data() + size, cap - size);
      if (n == 0) break;
      size += n;
    }
    if (size == 0) return 0;
    WriteAll(1, held.data(), size);
    if (size < cap) return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "bytewise") return Bytewise();
  if (mode == "trickle") return Trickle(false);
  if (mode == "burst") return Burst();
  if (mode == "stderr") return Trickle(true);
  std::fprintf(stderr, "echoer: unknown mode %s\n", mode.c_str());
  return 64;
}
