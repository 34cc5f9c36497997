// http mode: fprocess is started once and supervised; each verified request is forwarded to
// upstream_url over a keep-alive connection from a shared pool, and the upstream's status,
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
#include <vector>

#include "config/config.h"
#include "executor/executor.h"
#include "executor/process.h"
#include "executor/upstream_client.h"

namespace hw::metrics {
class Metrics;
}

namespace hw::executor {

// Idle keep-alive connections to the upstream, shared by every worker: the most recently
// used first (it is the least likely to have been closed by the function's idle timeout).
// At most `max_idle` are kept; more are closed. Thread-safe.
class UpstreamPool {
 public:
  explicit UpstreamPool(std::size_t max_idle) : max_idle_(max_idle) {}
  std::unique_ptr<UpstreamConnection> Take();  // null when none is idle
  void Give(std::unique_ptr<UpstreamConnection> connection);
  std::size_t idle() const;

 private:
  const std::size_t max_idle_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;
};

class HttpExecutor final : public Executor {
 public:
  // `max_idle`: idle upstream connections kept (max_connections); `stop_grace`: how long
  // Shutdown waits after SIGTERM (write_timeout).
  HttpExecutor(const config::ProcessOptions& process, const config::UpstreamOptions& upstream,
               std::size_t max_idle, config::Duration stop_grace, metrics::Metrics* metrics,
               std::function<void(std::string)> on_fatal);
  ~HttpExecutor() override;

  // Starts fprocess (when set) and waits until upstream_url accepts connections.
  Status Start() override;
  FunctionResponse Invoke(const FunctionRequest& request) override;
  // SIGTERM to the function's process group, then waits (SIGKILL after write_timeout).
  void Shutdown() override;

 private:
  const config::ProcessOptions& process_;
  const config::UpstreamOptions& upstream_;
  const config::Duration stop_grace_;
  metrics::Metrics* metrics_;
  std::function<void(std::string)> on_fatal_;
  std::unique_ptr<ChildProcess> function_;
  std::thread output_thread_;
  std::atomic<bool> stopping_{false};
  UpstreamPool pool_;
};

}  // namespace hw::executor
