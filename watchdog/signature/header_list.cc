#include "signature/header_list.h"

#include "common/strings.h"

namespace hw::signature {

void HeaderList::Add(std::string name, std::string value) {
  headers_.emplace_back(std::move(name), std::move(value));
}

Status HeaderList::AddLine(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Error{"header \"" + std::string(line) + "\" is not in the form \"Name: value\""};
  }
  Add(std::string(line.substr(0, colon)), std::string(Trim(line.substr(colon + 1), " \t")));
  return Ok{};
}

std::vector<std::string_view> HeaderList::Values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : headers_) {
    if (IEquals(n, name)) out.push_back(v);
  }
  return out;
}

std::size_t HeaderList::Count(std::string_view name, std::string_view* first) const {
  std::size_t n = 0;
  for (const auto& [header, value] : headers_) {
    if (!IEquals(header, name)) continue;
    if (n++ == 0 && first != nullptr) *first = value;
  }
  return n;
}

}  // namespace hw::signature
