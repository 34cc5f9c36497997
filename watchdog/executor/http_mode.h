// http mode: fprocess is started once and supervised; each verified request is forwarded to
// upstream_url over a keep-alive connection of the worker thread, and the upstream's status,
// headers and body are relayed (streamed when the upstream streams). The watchdog is not
// ready, and writes no lock file, until the upstream accepts connections; if the function
// process dies, the watchdog stops so the container restarts.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.h"
#include "executor/executor.h"
#include "executor/process.h"
#include "executor/upstream_client.h"

namespace hw::metrics {
class Metrics;
}

namespace hw::executor {

class HttpExecutor final : public Executor {
 public:
  HttpExecutor(const config::Config& config, UpstreamAddress upstream, metrics::Metrics* metrics,
               std::function<void(std::string)> on_fatal);
  ~HttpExecutor() override;

  // Starts fprocess (when set) and waits until upstream_url accepts connections.
  Status Start() override;
  FunctionResponse Invoke(const FunctionRequest& request) override;
  // SIGTERM to the function's process group, then waits (SIGKILL after write_timeout).
  void Shutdown() override;

 private:
  const config::Config& config_;
  UpstreamAddress upstream_;
  metrics::Metrics* metrics_;
  std::function<void(std::string)> on_fatal_;
  std::unique_ptr<ChildProcess> function_;
  std::thread output_thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace hw::executor
