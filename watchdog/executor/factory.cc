#include "executor/factory.h"

#include <fmt/format.h>

#include "executor/http_mode.h"
#include "executor/serializing.h"
#include "executor/static_files.h"
#include "executor/streaming.h"

namespace hw::executor {

Expected<std::unique_ptr<Executor>> MakeExecutor(const config::Config& config,
                                                 metrics::Metrics* metrics,
                                                 std::function<void(std::string)> on_fatal) {
  switch (config.mode) {
    case config::Mode::kSerializing:
      return std::unique_ptr<Executor>(new SerializingExecutor(config, metrics));
    case config::Mode::kStreaming:
      return std::unique_ptr<Executor>(new StreamingExecutor(config, metrics));
    case config::Mode::kHttp: {
      auto upstream = ParseUpstreamUrl(config.upstream_url);
      if (!upstream) return upstream.error();
      return std::unique_ptr<Executor>(
          new HttpExecutor(config, std::move(*upstream), metrics, std::move(on_fatal)));
    }
    case config::Mode::kStatic:
      return std::unique_ptr<Executor>(new StaticExecutor(config));
  }
  return Error{fmt::format("unknown mode {}", static_cast<int>(config.mode))};
}

}  // namespace hw::executor
