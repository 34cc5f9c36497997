#include "common/environment.h"

extern char** environ;

namespace hw {

std::vector<std::string> OwnEnvironment() {
  std::vector<std::string> entries;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) entries.emplace_back(*e);
  return entries;
}

}  // namespace hw
