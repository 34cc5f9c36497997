// Chooses the executor for the configured mode, once, at startup.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "common/expected.h"
#include "config/config.h"
#include "executor/executor.h"

namespace hw::metrics {
class Metrics;
}

namespace hw::executor {

// The executor keeps references into `config` (its own options only), which must outlive it.
// `on_fatal` is called (from any thread) when the function can no longer be served, e.g. the
// http-mode function process died; main then exits non-zero so the container restarts.
Expected<std::unique_ptr<Executor>> MakeExecutor(const config::Config& config,
                                                 metrics::Metrics* metrics,
                                                 std::function<void(std::string)> on_fatal);

}  // namespace hw::executor
