#include "signature/header_list.h"

namespace hw::signature {

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    char y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

void HeaderList::Add(std::string name, std::string value) {
  headers_.emplace_back(std::move(name), std::move(value));
}

Status HeaderList::AddLine(std::string_view line) {
  const std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Error{"header \"" + std::string(line) + "\" is not in the form \"Name: value\""};
  }
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  Add(std::string(line.substr(0, colon)), std::string(value));
  return Ok{};
}

std::vector<std::string_view> HeaderList::Values(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : headers_) {
    if (EqualsIgnoringCase(n, name)) out.push_back(v);
  }
  return out;
}

}  // namespace hw::signature
