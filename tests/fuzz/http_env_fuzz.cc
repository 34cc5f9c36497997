// Fuzzes the Http_* environment mapping with arbitrary header names and values: every entry
// is NAME=VALUE with a name made only of the header's characters, each name appears once,
// and the watchdog's own variables (and the base environment's Http_Method) keep their values
// whatever the headers are ("Method", "Path", "Query", "Content-Length" included).
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/body.h"
#include "executor/function_process.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<hw::executor::Header> headers;
  std::size_t pos = 0;
  while (pos < text.size() && headers.size() < 64) {
    auto eol = text.find('\n', pos);
    std::string line = text.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    auto colon = line.find(':');
    if (colon != std::string::npos && colon > 0) {
      headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
    }
    if (eol == std::string::npos) break;
    pos = eol + 1;
  }
  hw::Body body(1024, "/tmp");
  (void)body.Append("x");
  hw::executor::FunctionRequest request{"POST", "/p", "/p?q", "q", "127.0.0.1", headers, body};
  auto env = hw::executor::FunctionEnvironment({"PATH=/bin", "PATH=/usr/bin"}, request, true);
  std::set<std::string> names;
  std::map<std::string, std::string> values;
  for (const auto& entry : env) {
    auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) __builtin_trap();
    if (!names.insert(entry.substr(0, eq)).second) __builtin_trap();  // a name twice
    values[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  if (values["Http_Method"] != "POST" || values["Http_Path"] != "/p" ||
      values["Http_Query"] != "q" || values["Http_Content_Length"] != "1" ||
      values["Http_ContentLength"] != "1" || values["PATH"] != "/bin") {
    __builtin_trap();
  }
  for (const auto& h : headers) {
    std::string name = hw::executor::HeaderEnvName(h.name);
    if (name.rfind("Http_", 0) != 0) __builtin_trap();
    if (name.size() != h.name.size() + 5) __builtin_trap();
  }
  return 0;
}
