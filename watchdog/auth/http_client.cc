#include "auth/http_client.h"

#include "common/httplib.h"

#include <fmt/format.h>

#include "common/strings.h"

namespace hw::auth {
namespace {

struct SplitUrl {
  std::string origin;  // http://host:port
  std::string path;    // /path?query
};

std::optional<SplitUrl> Split(const std::string& url) {
  constexpr std::string_view kHttp = "http://";
  if (url.size() <= kHttp.size() || std::string_view(url).substr(0, kHttp.size()) != kHttp) {
    return std::nullopt;
  }
  const auto slash = url.find('/', kHttp.size());
  SplitUrl s{url.substr(0, slash), slash == std::string::npos ? "/" : url.substr(slash)};
  if (s.origin.size() == kHttp.size()) return std::nullopt;
  if (s.origin.find_first_of(" @#?") != std::string::npos) return std::nullopt;
  return s;
}

bool HopByHop(std::string_view name) {
  for (std::string_view h : {"Connection", "Keep-Alive", "Transfer-Encoding", "Content-Length",
                             "Host", "Expect", "Upgrade", "TE", "Trailer",
                             "Proxy-Connection"}) {
    if (IEquals(name, h)) return true;
  }
  return false;
}

}  // namespace

Status CheckUrl(std::string_view key, const std::string& url) {
  if (url.rfind("https://", 0) == 0) {
    return Error{fmt::format("invalid value for {}: \"{}\": https is not supported by this build "
                             "(cpp-httplib without TLS); use an http:// URL on a trusted "
                             "network, e.g. a sidecar or cluster-local service",
                             key, url)};
  }
  if (!Split(url)) {
    return Error{fmt::format("invalid value for {}: \"{}\": expected an http:// URL such as "
                             "http://127.0.0.1:8000/validate",
                             key, url)};
  }
  return Ok{};
}

Expected<HttpAnswer> HttpGet(const std::string& url, const std::vector<executor::Header>& headers,
                             const std::string& body, std::chrono::milliseconds timeout,
                             std::size_t max_body) {
  auto split = Split(url);
  if (!split) return Error{"bad URL"};
  httplib::Client client(split->origin);
  const auto secs = timeout.count() / 1000;
  const auto usecs = (timeout.count() % 1000) * 1000;
  client.set_connection_timeout(secs, usecs);
  client.set_read_timeout(secs, usecs);
  client.set_write_timeout(secs, usecs);
  client.set_keep_alive(false);
  httplib::Request req;
  req.method = "GET";
  req.path = split->path;
  for (const auto& h : headers) {
    if (!HopByHop(h.name)) req.headers.emplace(h.name, h.value);
  }
  if (!body.empty()) {
    req.body = body;
    if (!req.has_header("Content-Type")) req.headers.emplace("Content-Type", "application/octet-stream");
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
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  const auto started = std::chrono::steady_clock::now();
  const bool ok = client.send(req, res, error);
  if (too_big) return Error{"response too large"};
  if (!ok) return Error{httplib::to_string(error)};
  // Read timeouts are per read: a server that trickles bytes is cut off here too.
  if (std::chrono::steady_clock::now() - started > timeout + std::chrono::milliseconds(100)) {
    return Error{"timed out"};
  }
  HttpAnswer answer;
  answer.status = res.status;
  for (const auto& [name, value] : res.headers) {
    if (!HopByHop(name)) answer.headers.push_back({name, value});
  }
  answer.body = std::move(response_body);
  return answer;
}

}  // namespace hw::auth
