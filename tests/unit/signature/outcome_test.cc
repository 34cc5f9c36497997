// The outcome vocabulary: every outcome's name and status are the README's ("Outcomes").
#include "signature/outcome.h"

#include <catch2/catch.hpp>

#include <map>
#include <sstream>
#include <string>

#include "support/signature_support.h"

namespace hw::signature {
namespace {

// outcome name -> status column of the README's Outcomes table.
std::map<std::string, std::string> ReadmeOutcomes() {
  const std::string text = test::ReadmeSection("### Outcomes");
  REQUIRE_FALSE(text.empty());
  std::istringstream section(text);
  std::map<std::string, std::string> rows;
  for (std::string line; std::getline(section, line);) {
    if (!line.starts_with("| `")) continue;
    const std::size_t name_end = line.find('`', 3);
    const std::size_t status_start = line.find("| ", name_end) + 2;
    rows[line.substr(3, name_end - 3)] =
        line.substr(status_start, line.find(" |", status_start) - status_start);
  }
  return rows;
}

TEST_CASE("every outcome has the name and status the README gives it") {
  const std::map<std::string, std::string> readme = ReadmeOutcomes();
  const auto last = static_cast<int>(Outcome::kReplayUnavailable);
  CHECK(readme.size() == static_cast<std::size_t>(last + 1));
  for (int i = 0; i <= last; ++i) {
    const auto outcome = static_cast<Outcome>(i);
    const std::string name(OutcomeName(outcome));
    INFO("outcome " << name);
    const auto row = readme.find(name);
    REQUIRE(row != readme.end());
    if (Admits(outcome)) {
      CHECK(HttpStatusFor(outcome) == 0);
      CHECK(row->second == "the function runs");
    } else {
      CHECK(row->second.starts_with(std::to_string(HttpStatusFor(outcome))));
    }
  }
}

}  // namespace
}  // namespace hw::signature
