#include "auth/http_client.h"

#include "common/httplib.h"

#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "common/strings.h"
#include "crypto/certificates.h"

namespace hw::auth {
namespace {

// Idle connections kept per origin, and origins remembered (the plugin, the issuer, its JWKS
// host: a handful). Beyond either, a connection is closed after its call.
constexpr std::size_t kIdlePerOrigin = 8;
constexpr std::size_t kMaxOrigins = 8;

struct SplitUrl {
  std::string origin;  // http://host:port or https://host:port
  std::string path;    // /path?query
  bool https = false;
};

std::optional<SplitUrl> Split(const std::string& url) {
  std::string_view scheme;
  for (std::string_view s : {"http://", "https://"}) {
    if (url.size() > s.size() && std::string_view(url).substr(0, s.size()) == s) scheme = s;
  }
  if (scheme.empty()) return std::nullopt;
  const auto slash = url.find('/', scheme.size());
  SplitUrl s{url.substr(0, slash), slash == std::string::npos ? "/" : url.substr(slash),
             scheme.size() == 8};
  if (s.origin.size() == scheme.size()) return std::nullopt;
  if (s.origin.find_first_of(" @#?\\") != std::string::npos) return std::nullopt;
  return s;
}

bool HopByHop(std::string_view name) {
  for (std::string_view h : {"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length",
                             "Host", "Expect", "Upgrade", "TE", "Trailer", "Proxy-Connection"}) {
    if (IEquals(name, h)) return true;
  }
  return false;
}

// What went wrong, for the log: the TLS reasons in OpenSSL's words ("certificate has
// expired", "unable to get local issuer certificate"), the host name mismatch as such.
std::string Reason(const httplib::Result& r) {
  const auto code = r.ssl_backend_error();
  switch (r.error()) {
    case httplib::Error::SSLServerVerification:
      return fmt::format("TLS certificate not trusted: {}",
                         code != 0 ? httplib::tls::verify_error_string(static_cast<long>(code))
                                   : std::string("no certificate"));
    case httplib::Error::SSLServerHostnameVerification:
      return "TLS certificate not trusted: it is not for this host name";
    case httplib::Error::SSLConnection:
      return code != 0 ? fmt::format("TLS handshake failed: {}", httplib::tls::error_string(code))
                       : std::string("TLS handshake failed");
    case httplib::Error::SSLLoadingCerts:
      return "TLS: the trusted CA certificates could not be loaded";
    default:
      return httplib::to_string(r.error());
  }
}

}  // namespace

struct HttpClient::Pool {
  std::mutex mutex;
  std::map<std::string, std::vector<std::unique_ptr<httplib::Client>>> idle;  // by origin
};

Expected<TlsTrust> LoadTlsTrust(std::string_view key, const std::string& ca_file) {
  TlsTrust trust;
  if (ca_file.empty()) return trust;
  std::ifstream in(ca_file, std::ios::binary);
  std::ostringstream text;
  if (in) text << in.rdbuf();
  if (!in || in.bad()) {
    return Error{
        fmt::format("invalid value for {}: \"{}\": the file cannot be read", key, ca_file)};
  }
  trust.ca_file = ca_file;
  trust.ca_pem = std::move(text).str();
  if (auto n = crypto::CountPemCertificates(trust.ca_pem); !n) {
    return Error{fmt::format("invalid value for {}: \"{}\": {}", key, ca_file, n.error().message)};
  }
  return trust;
}

Status CheckUrl(std::string_view key, const std::string& url) {
  if (!Split(url)) {
    return Error{
        fmt::format("invalid value for {}: \"{}\": expected an http:// or https:// URL "
                    "such as https://auth.example.com/validate",
                    key, url)};
  }
  return Ok{};
}

std::string LoggableUrl(const std::string& url) { return url.substr(0, url.find('?')); }

HttpClient::HttpClient(TlsTrust trust)
    : trust_(std::move(trust)), pool_(std::make_unique<Pool>()) {}

HttpClient::~HttpClient() = default;

Expected<HttpAnswer> HttpClient::Get(const std::string& url,
                                     const std::vector<executor::Header>& headers,
                                     const std::string& body, std::chrono::milliseconds timeout,
                                     std::size_t max_body) const {
  auto split = Split(url);
  if (!split) return Error{"bad URL"};

  httplib::Request req;
  req.method = "GET";
  req.path = split->path;
  for (const auto& h : headers) {
    if (!HopByHop(h.name)) req.headers.emplace(h.name, h.value);
  }
  if (!body.empty()) {
    req.body = body;
    if (!req.has_header("Content-Type"))
      req.headers.emplace("Content-Type", "application/octet-stream");
  }
  std::size_t received = 0;
  bool too_big = false;
  std::string response_body;
  req.content_receiver = [&](const char* data, std::size_t n, std::size_t, std::size_t) {
    received += n;
    if (received > max_body) {
      too_big = true;
      return false;
    }
    response_body.append(data, n);
    return true;
  };

  const auto started = std::chrono::steady_clock::now();
  // A reused connection the server closed while it was idle fails at once: such a failure is
  // retried once on a new connection (a GET, and the server never answered it).
  for (int attempt = 0;; ++attempt) {
    std::unique_ptr<httplib::Client> client;
    bool reused = false;
    {
      std::lock_guard lock(pool_->mutex);
      auto it = pool_->idle.find(split->origin);
      if (it != pool_->idle.end() && !it->second.empty()) {
        client = std::move(it->second.back());
        it->second.pop_back();
        reused = true;
      }
    }
    if (!client) {
      client = std::make_unique<httplib::Client>(split->origin);
      client->set_keep_alive(true);
      if (split->https) {
        client->enable_server_certificate_verification(true);
        client->enable_server_hostname_verification(true);
        // With a CA file, only its certificates are trusted; else the system's store.
        if (!trust_.ca_pem.empty()) {
          client->load_ca_cert_store(trust_.ca_pem.data(), trust_.ca_pem.size());
        }
      }
    }
    const auto left = timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                    std::chrono::steady_clock::now() - started);
    if (left.count() <= 0) return Error{"timed out"};
    client->set_connection_timeout(left);
    client->set_read_timeout(left);
    client->set_write_timeout(left);
    client->set_max_timeout(left);

    received = 0;
    response_body.clear();
    // max_timeout counts from the request's start time, which send(Request&) leaves at
    // time_point::min() (an overflow UBSan reports, and no bound at all).
    req.start_time_ = std::chrono::steady_clock::now();
    httplib::Result res = client->send(req);
    if (too_big) return Error{"response too large"};
    const auto elapsed = std::chrono::steady_clock::now() - started;
    if (!res) {
      const auto e = res.error();
      const bool stale = reused && attempt == 0 && elapsed < timeout / 2 &&
                         (e == httplib::Error::Read || e == httplib::Error::Write ||
                          e == httplib::Error::Connection);
      if (stale) continue;
      return Error{Reason(res)};
    }
    // The max timeout bounds the whole exchange; this is the last word on it.
    if (elapsed > timeout + std::chrono::milliseconds(100)) return Error{"timed out"};
    HttpAnswer answer;
    answer.status = res->status;
    for (const auto& [name, value] : res->headers) {
      if (!HopByHop(name)) answer.headers.push_back({name, value});
    }
    answer.body = std::move(response_body);
    {
      std::lock_guard lock(pool_->mutex);
      auto it = pool_->idle.find(split->origin);
      if (it == pool_->idle.end() && pool_->idle.size() < kMaxOrigins) {
        it = pool_->idle.emplace(split->origin, std::vector<std::unique_ptr<httplib::Client>>{})
                 .first;
      }
      if (it != pool_->idle.end() && it->second.size() < kIdlePerOrigin) {
        it->second.push_back(std::move(client));
      }
    }
    return answer;
  }
}

}  // namespace hw::auth
