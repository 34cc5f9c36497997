// What the signature check sees of a request: its method, path, query and headers, as views
// into the server's own parsed request (HeaderList is a standalone one for the verify
// command, tests and fuzzing).
#pragma once

#include <string_view>
#include <vector>

namespace hw::signature {

// Request headers as the server parsed them. Lookup is case-insensitive.
class HeaderSource {
 public:
  virtual ~HeaderSource() = default;
  // Every value of header `name`, in arrival order (empty if absent).
  virtual std::vector<std::string_view> Values(std::string_view name) const = 0;
  // How many values header `name` has; `first` (when given and there is one) receives the
  // first. Allocates nothing: what the checks made on every request use.
  virtual std::size_t Count(std::string_view name, std::string_view* first = nullptr) const = 0;
};

struct RequestHead {
  std::string_view method;  // "POST"
  std::string_view path;    // "/hook" (no query)
  std::string_view query;   // raw query without '?', may be empty
  const HeaderSource& headers;
};

}  // namespace hw::signature
