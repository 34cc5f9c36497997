#include "server/metrics_endpoint.h"

#include "common/httplib.h"

#include <cstring>
#include <thread>

#include <fmt/format.h>

#include "metrics/metrics.h"

namespace hw::server {

class MetricsEndpoint::Impl {
 public:
  explicit Impl(metrics::Metrics& metrics) : metrics_(metrics) {
    server_.new_task_queue = [] { return new httplib::ThreadPool(1, 4, 16); };
    server_.set_read_timeout(std::chrono::seconds(10));
    server_.set_write_timeout(std::chrono::seconds(10));
    // SO_REUSEADDR only: cpp-httplib's default SO_REUSEPORT lets a second process bind the
    // same port and silently take half of its connections.
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_.Render(), "text/plain; version=0.0.4; charset=utf-8");
    });
  }
  int Bind(int port) {
    for (const char* host : {"::", "0.0.0.0"}) {
      if (port == 0) {
        int p = server_.bind_to_any_port(host);
        if (p > 0) return p;
      } else if (server_.bind_to_port(host, port)) {
        return port;
      }
    }
    return -1;
  }
  void Start() {
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  void Stop() {
    if (!thread_.joinable()) return;
    server_.wait_until_ready();  // stop() before listen started would be lost
    server_.stop();
    thread_.join();
  }

  int port = 0;

 private:
  metrics::Metrics& metrics_;
  httplib::Server server_;
  std::thread thread_;
};

Expected<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Bind(int port,
                                                                 metrics::Metrics& metrics) {
  auto impl = std::make_unique<Impl>(metrics);
  impl->port = impl->Bind(port);
  if (impl->port < 0) {
    return Error{
        fmt::format("cannot listen on port {} (metrics_port): {}", port, std::strerror(errno))};
  }
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(std::move(impl)));
}

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MetricsEndpoint::~MetricsEndpoint() { Stop(); }
int MetricsEndpoint::port() const { return impl_->port; }
void MetricsEndpoint::Start() { impl_->Start(); }
void MetricsEndpoint::Stop() { impl_->Stop(); }

}  // namespace hw::server
