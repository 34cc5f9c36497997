// HeaderList: a plain, case-insensitive list of request headers implementing HeaderSource,
// for the verify command, tests and fuzzing (the server adapts its own parsed headers).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/expected.h"
#include "signature/request_view.h"

namespace hw::signature {

class HeaderList final : public HeaderSource {
 public:
  void Add(std::string name, std::string value);
  // Adds a "Name: value" line; spaces and tabs around the value are dropped. Error if there
  // is no ':' or the name is empty.
  Status AddLine(std::string_view line);
  std::vector<std::string_view> Values(std::string_view name) const override;
  std::size_t Count(std::string_view name, std::string_view* first = nullptr) const override;

 private:
  std::vector<std::pair<std::string, std::string>> headers_;
};

}  // namespace hw::signature
