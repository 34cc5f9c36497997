// The watchdog's own environment, the one place that reads `environ`: the configuration reads
// its keys from it, and the function's process inherits it.
#pragma once

#include <string>
#include <vector>

namespace hw {

// Every "NAME=value" entry of this process's environment, in order.
std::vector<std::string> OwnEnvironment();

}  // namespace hw
