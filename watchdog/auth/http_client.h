// Outbound HTTP for authentication (the auth plugin, OIDC discovery and JWKS): GETs with
// headers and an optional body through cpp-httplib's client, over TLS (OpenSSL) when the URL
// is https://, with the server's certificate and host name always verified. Connections are
// kept alive and reused per origin (a TLS handshake per plugin call would cost more than the
// call).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"
#include "executor/executor.h"

namespace hw::auth {

struct HttpAnswer {
  int status = 0;
  std::vector<executor::Header> headers;
  std::string body;
};

// Which certificate authorities an https server's certificate must chain to.
struct TlsTrust {
  std::string ca_file;  // auth_tls_ca_file; "" = the system's store (OpenSSL's default paths)
  std::string ca_pem;   // its certificates, read once at startup
};

// Reads auth_tls_ca_file (`key` names it in errors): Error when the file cannot be read or
// holds no PEM certificate. An empty `ca_file` is the system's store.
Expected<TlsTrust> LoadTlsTrust(std::string_view key, const std::string& ca_file);

// Ok when `url` is an http:// or https:// URL this client can call; Error (naming `key`)
// otherwise.
Status CheckUrl(std::string_view key, const std::string& url);

// `url` without its query string, for log lines (a query may carry a key).
std::string LoggableUrl(const std::string& url);

class HttpClient {
 public:
  explicit HttpClient(TlsTrust trust);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // GET `url` with `headers` (and `body` when not empty), the whole exchange bounded by
  // `timeout`, the response body capped at `max_body` bytes. Error (a short reason for the
  // log, never sent to a client: connection refused, timed out, the TLS failure such as
  // "certificate has expired", ...) when the server cannot be reached, cannot be trusted,
  // times out or answers too much. Thread-safe.
  Expected<HttpAnswer> Get(const std::string& url, const std::vector<executor::Header>& headers,
                           const std::string& body, std::chrono::milliseconds timeout,
                           std::size_t max_body = 1024 * 1024) const;

 private:
  struct Pool;
  const TlsTrust trust_;
  std::unique_ptr<Pool> pool_;
};

}  // namespace hw::auth
