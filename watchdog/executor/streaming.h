// Streaming mode (the default): fork fprocess per request, the verified body on stdin, stdout
// streamed to the client as it is produced. The status waits for the first output byte or the
// exit, so a process that fails before writing anything gets 500 (of-watchdog answers 200).
// The body keeps flowing to stdin while output streams out: what was not yet written when the
// headers go out is copied first (the request's Body ends with Invoke). The stream reports
// success only when the function exited 0 and its whole stdout was sent.
#pragma once

#include "executor/function_process.h"

namespace hw::executor {

class StreamingExecutor final : public Executor {
 public:
  // `spool`: where the part of a body the function has not read yet is kept while the
  // response streams (as the server keeps bodies).
  StreamingExecutor(const config::ProcessOptions& options, const config::SpoolOptions& spool,
                    metrics::Metrics* metrics)
      : launcher_(options, metrics), spool_(spool) {}
  FunctionResponse Invoke(const FunctionRequest& request) override;

 private:
  FunctionLauncher launcher_;
  const config::SpoolOptions& spool_;
};

}  // namespace hw::executor
