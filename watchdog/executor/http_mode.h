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
#include <optional>
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
  std::size_t max_idle() const { return max_idle_; }

 private:
  const std::size_t max_idle_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<UpstreamConnection>> idle_;
};

class LoopInvocation;
class HttpLane;

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
  bool StartMayWait() const override { return true; }
  void CancelStart() override { start_cancelled_.store(true); }
  FunctionResponse Invoke(const FunctionRequest& request) override;
  bool StartsWithoutWaiting() const override { return true; }
  // With an idle, live upstream connection and the body in memory: sends the request without
  // waiting; the front loop reads the answer (PendingInvocation).
  std::unique_ptr<PendingInvocation> Start(const FunctionRequest& request,
                                           InvocationLane* lane) override;
  std::unique_ptr<InvocationLane> NewLane() override;
  // SIGTERM to the function's process group, then waits (SIGKILL after write_timeout).
  void Shutdown() override;

 private:
  friend class LoopInvocation;
  // The request's exchange with the upstream from wherever it stands: `sent` is the
  // connection the request went out on already (some of it maybe still to flush; taken from
  // the pool when `sent_reused`), `head` its response head if that was read; null and nullopt
  // to start from the beginning. A reused connection that breaks before any answer is retried
  // once for idempotent methods.
  FunctionResponse Exchange(const FunctionRequest& request, TimePoint start, TimePoint deadline,
                            std::unique_ptr<UpstreamConnection> sent, bool sent_reused,
                            std::optional<ResponseHead> head);
  // The response to `head`: the body buffered (the connection goes back to the pool), or
  // streamed when Streams(head).
  FunctionResponse Relay(std::unique_ptr<UpstreamConnection> conn, ResponseHead head,
                         TimePoint start, TimePoint deadline, HttpLane* lane = nullptr);
  FunctionResponse Failure(UpstreamFailure failure, const std::string& why, TimePoint start) const;

  const config::ProcessOptions& process_;
  const config::UpstreamOptions& upstream_;
  const config::Duration stop_grace_;
  metrics::Metrics* metrics_;
  std::function<void(std::string)> on_fatal_;
  std::unique_ptr<ChildProcess> function_;
  std::thread output_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> start_cancelled_{false};
  UpstreamPool pool_;
};

}  // namespace hw::executor
