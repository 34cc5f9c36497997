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
  // Each executor gets its own options only.
  const config::ProcessOptions& process = config;
  switch (config.mode) {
    case config::Mode::kSerializing:
      return std::unique_ptr<Executor>(new SerializingExecutor(process, metrics));
    case config::Mode::kStreaming: {
      const config::SpoolOptions& spool = config;
      return std::unique_ptr<Executor>(new StreamingExecutor(process, spool, metrics));
    }
    case config::Mode::kHttp: {
      const config::UpstreamOptions& upstream = config;
      return std::unique_ptr<Executor>(
          new HttpExecutor(process, upstream, static_cast<std::size_t>(config.max_connections),
                           config.write_timeout, metrics, std::move(on_fatal)));
    }
    case config::Mode::kStatic:
      return std::unique_ptr<Executor>(new StaticExecutor(config.static_path));
  }
  return Error{fmt::format("unknown mode {}", static_cast<int>(config.mode))};
}

}  // namespace hw::executor
