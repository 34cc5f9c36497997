// The scheme table (registry.cc): every row is self-consistent, documented in the README's
// scheme table and accepted by the configuration.
#include "signature/registry.h"

#include <catch2/catch.hpp>

#include <set>

#include "config/config.h"
#include "support/signature_support.h"

namespace hw::signature {
namespace {

bool Contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

TEST_CASE("every row of the scheme table is consistent") {
  std::set<std::string_view> names;
  for (const SchemeEntry& entry : Registry()) {
    INFO("scheme " << entry.name);
    CHECK(names.insert(entry.name).second);
    if (entry.custom != nullptr) continue;
    const MacFormat& f = entry.format;
    CHECK_FALSE(f.headers.signature.empty());
    // A timestamp is signed exactly when the row has one; a signed id has a header.
    const bool has_timestamp = !f.headers.timestamp.empty() || !f.list.timestamp_key.empty();
    CHECK(Contains(f.signed_prefix, "{ts}") == has_timestamp);
    if (Contains(f.signed_prefix, "{id}")) CHECK_FALSE(f.headers.id.empty());
    // A list names the items that carry MACs; a one-value header has no item keys.
    if (f.list.separator != 0) {
      CHECK_FALSE(f.list.mac_key.empty());
      CHECK(f.prefix.empty());
    } else {
      CHECK(f.list.mac_key.empty());
      CHECK(f.list.timestamp_key.empty());
    }
    if (!f.fallback.signature.empty()) {
      CHECK(f.fallback.timestamp.empty() == f.headers.timestamp.empty());
      CHECK(f.fallback.id.empty() == f.headers.id.empty());
    }
  }
}

TEST_CASE("every scheme is in the README's scheme table") {
  const std::string section = test::ReadmeSection("### Schemes");
  REQUIRE_FALSE(section.empty());
  for (const SchemeEntry& entry : Registry()) {
    INFO("scheme " << entry.name);
    CHECK(Contains(section, "\n| `" + std::string(entry.name) + "` |"));
  }
}

TEST_CASE("the configuration accepts every scheme name") {
  for (const SchemeEntry& entry : Registry()) {
    const std::string name(entry.name);
    INFO("scheme " << name);
    config::Environment env{{"fprocess", "cat"},
                            {"hmac_scheme", name},
                            {"hmac_public_url", "https://example.com/hook"}};
    if (name == "generic") env["hmac_header"] = "X-Signature";
    const Expected<config::Config> loaded = config::Load(env, {});
    REQUIRE(loaded.ok());
    CHECK(loaded->signature.schemes == std::vector<std::string>{name});
    CHECK(FindScheme(loaded->signature.schemes.front()) == &entry);
    CHECK(entry.make(loaded->signature).ok());
  }
}

}  // namespace
}  // namespace hw::signature
