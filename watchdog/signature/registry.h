// The list of provider schemes hmac_scheme may name. Adding a provider is one file that
// defines its factory and one line in registry.cc.
#pragma once

#include <span>
#include <string_view>

#include "signature/scheme.h"

namespace hw::signature {

struct SchemeEntry {
  std::string_view name;
  SchemeFactory make;
};

// Every scheme, in the order --help and errors list them.
std::span<const SchemeEntry> Registry();
// The entry named `name` (exact match), or null.
const SchemeEntry* FindScheme(std::string_view name);

}  // namespace hw::signature
