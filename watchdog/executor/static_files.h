// static mode: serves files under static_path. Paths are resolved strictly inside the
// folder (no "..", no symlink that leads out), a folder answers with its index.html, and the
// Content-Type follows the file's extension. GET and HEAD only.
#pragma once

#include <string>

#include "executor/executor.h"

namespace hw::executor {

class StaticExecutor final : public Executor {
 public:
  explicit StaticExecutor(std::string static_path);
  Status Start() override;
  FunctionResponse Invoke(const FunctionRequest& request) override;

 private:
  std::string root_;  // realpath of static_path
  const std::string static_path_;
};

// "index.html" -> "text/html; charset=utf-8"; unknown -> application/octet-stream.
std::string ContentTypeFor(std::string_view path);

}  // namespace hw::executor
