#include "executor/factory.h"

#include <fmt/format.h>

#include "executor/serializing.h"
#include "executor/streaming.h"

namespace hw::executor {

Expected<std::unique_ptr<Executor>> MakeExecutor(const config::Config& config,
                                                 metrics::Metrics* metrics,
                                                 std::function<void(std::string)> on_fatal) {
  (void)on_fatal;
  switch (config.mode) {
    case config::Mode::kSerializing:
      return std::unique_ptr<Executor>(new SerializingExecutor(config, metrics));
    case config::Mode::kStreaming:
      return std::unique_ptr<Executor>(new StreamingExecutor(config, metrics));
    case config::Mode::kHttp:
    case config::Mode::kStatic:
      break;
  }
  return Error{fmt::format("mode={} is not available in this build yet", config::ModeName(config.mode))};
}

}  // namespace hw::executor
