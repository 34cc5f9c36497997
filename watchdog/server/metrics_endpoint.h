// Prometheus metrics on their own port (metrics_port), served by cpp-httplib: a blocking
// model fits a port that a scraper visits every few seconds. The only translation unit of
// the server that includes cpp-httplib.
#pragma once

#include <memory>

#include "common/expected.h"

namespace hw::metrics {
class Metrics;
}

namespace hw::server {

class MetricsEndpoint {
 public:
  // Binds `port` (IPv6 and IPv4, SO_REUSEADDR only). Fails with a message naming the port.
  static Expected<std::unique_ptr<MetricsEndpoint>> Bind(int port, metrics::Metrics& metrics);
  ~MetricsEndpoint();
  int port() const;
  void Start();  // serves on its own thread
  void Stop();   // stops and joins; idempotent

  class Impl;

 private:
  explicit MetricsEndpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hw::server
