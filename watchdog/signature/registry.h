// The list of provider schemes hmac_scheme may name, one entry each: a MacFormat row for a
// provider of the common kind (table_scheme.h), or the factory of a scheme with logic of its
// own (one file each: gitlab, discord, twilio, hubspot, square, generic).
#pragma once

#include <span>
#include <string_view>

#include "signature/scheme.h"
#include "signature/table_scheme.h"

namespace hw::signature {

struct SchemeEntry {
  std::string_view name{};
  MacFormat format{};              // the common kind: what the provider signs and sends
  SchemeFactory custom = nullptr;  // set for a scheme with its own file (format unused)

  // Makes the scheme; Error (naming the variable) if an option it needs is missing or bad.
  Expected<std::unique_ptr<Scheme>> make(const config::SignatureOptions& options) const;
};

// Every scheme, in the order --help and errors list them.
std::span<const SchemeEntry> Registry();
// The entry named `name` (exact match), or null.
const SchemeEntry* FindScheme(std::string_view name);

}  // namespace hw::signature
