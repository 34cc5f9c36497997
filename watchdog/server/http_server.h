// The HTTP front: function traffic on `port` and Prometheus metrics on `metrics_port`.
// A request flows one way: limits -> signature verification (while the raw body is read) ->
// max_inflight -> executor -> response. A rejected request never reaches the executor.
// The function port is the watchdog's own transport (front_loop.h, connection.h); metrics are
// served by cpp-httplib (metrics_endpoint.h).
#pragma once

#include <memory>

#include "common/expected.h"
#include "config/config.h"

namespace hw::signature {
class Verifier;
}
namespace hw::executor {
class Executor;
}
namespace hw::metrics {
class Metrics;
}

namespace hw::auth {
class Gate;
}

namespace hw::server {

class Health;

struct ServerDeps {
  const config::ServerOptions* options;
  const signature::Verifier* verifier;
  executor::Executor* executor;
  metrics::Metrics* metrics;
  Health* health;
  const auth::Gate* auth = nullptr;  // auth_routes; null: "/=hmac"
};

class HttpServer {
 public:
  // Binds the function port and the metrics port (when not 0). Fails with a message naming
  // the port when it cannot be bound.
  static Expected<std::unique_ptr<HttpServer>> Create(const ServerDeps& deps);
  ~HttpServer();

  int port() const;          // the bound function port (useful with port=0)
  int metrics_port() const;  // the bound metrics port, 0 when off

  // Serves until Stop(); returns once every in-flight request has finished.
  void Run();
  // Stops accepting new connections, waits (up to write_timeout) for the requests in flight
  // to finish, streamed responses included, then ends idle keep-alive connections; Run()
  // returns soon after. Call once, only after WaitUntilReady() returned.
  void Stop();
  // Blocks until Run() is accepting connections.
  void WaitUntilReady();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hw::server
