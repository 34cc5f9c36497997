// Serializing mode: fork fprocess per request, whole body to stdin, whole stdout as the
// response; 500 on a non-zero exit (stdout discarded), 504 when exec_timeout kills the group.
#pragma once

#include "executor/function_process.h"

namespace hw::executor {

class SerializingExecutor final : public Executor {
 public:
  SerializingExecutor(const config::ProcessOptions& options, metrics::Metrics* metrics)
      : launcher_(options, metrics) {}
  FunctionResponse Invoke(const FunctionRequest& request) override;

 private:
  FunctionLauncher launcher_;
};

}  // namespace hw::executor
