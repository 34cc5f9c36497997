// Fuzzes the parsers of configuration values (durations, sizes, booleans, fprocess
// splitting) and Load() with one arbitrary variable: any input gives a value or an Error
// that names the variable, never a crash.
#include <cstdint>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)hw::config::ParseDuration(text);
  (void)hw::config::ParseBytes(text);
  (void)hw::config::ParseBool(text);
  auto argv = hw::config::SplitCommandLine(text);
  if (argv && argv->empty()) __builtin_trap();  // a successful split has a program
  // The first byte picks a key, the rest is its value.
  const auto& keys = hw::config::Keys();
  if (size > 0) {
    const auto& key = keys[data[0] % keys.size()];
    if (key.env.find('<') == std::string::npos) {
      hw::config::Environment env = {{"fprocess", "cat"}, {"hmac_scheme", "none"}};
      env[key.env] = text.substr(1);
      auto cfg = hw::config::Load(env, {});
      if (!cfg && cfg.error().message.empty()) __builtin_trap();
    }
  }
  return 0;
}
