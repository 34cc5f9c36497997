// A tiny function for the integration tests. argv[1] picks the behaviour:
//   echo                 copy stdin to stdout (after X-Delay-Ms milliseconds, if sent)
//   env                  print the Http_* environment, sorted, one per line
//   exit N               read stdin, print "failed", exit with code N
//   count FILE           append one line to FILE (spawn counter), then echo
//   stderr               print two lines to stderr, then "ok" to stdout
//   sleep MS             sleep, then echo
//   big BYTES            write BYTES bytes of 'x' to stdout in 64 KiB writes
//   fail-after-output    print "partial", then exit 3
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

std::string ReadAll() {
  std::string in;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(0, buf, sizeof buf)) > 0) in.append(buf, static_cast<std::size_t>(n));
  return in;
}

void WriteAll(const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(1, s.data() + off, s.size() - off);
    if (n <= 0) std::exit(9);
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "echo";
  if (mode == "echo") {
    if (const char* delay = std::getenv("Http_X_Delay_Ms")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(delay)));
    }
    WriteAll(ReadAll());
  } else if (mode == "env") {
    ReadAll();
    std::vector<std::string> vars;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "Http_", 5) == 0) vars.emplace_back(*e);
    }
    std::sort(vars.begin(), vars.end());
    std::string out;
    for (auto& v : vars) out += v + "\n";
    WriteAll(out);
  } else if (mode == "exit" && argc > 2) {
    ReadAll();
    WriteAll("failed\n");
    return std::atoi(argv[2]);
  } else if (mode == "count" && argc > 2) {
    FILE* f = std::fopen(argv[2], "a");
    if (f != nullptr) {
      std::fputs("spawn\n", f);
      std::fclose(f);
    }
    WriteAll(ReadAll());
  } else if (mode == "stderr") {
    ReadAll();
    std::fputs("first error line\nsecond error line\n", stderr);
    WriteAll("ok\n");
  } else if (mode == "sleep" && argc > 2) {
    std::this_thread::sleep_for(std::chrono::milliseconds(std::atoi(argv[2])));
    WriteAll(ReadAll());
  } else if (mode == "big" && argc > 2) {
    ReadAll();
    long long left = std::atoll(argv[2]);
    std::string chunk(65536, 'x');
    while (left > 0) {
      std::size_t n = static_cast<std::size_t>(std::min<long long>(left, 65536));
      WriteAll(chunk.substr(0, n));
      left -= static_cast<long long>(n);
    }
  } else if (mode == "fail-after-output") {
    ReadAll();
    WriteAll("partial");
    return 3;
  } else {
    std::fprintf(stderr, "fn: unknown mode %s\n", mode.c_str());
    return 64;
  }
  return 0;
}
