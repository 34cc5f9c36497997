// The OpenFaaS gateway's auth-plugin protocol: a GET to auth_proxy_url (http:// or https://)
// with the original request's headers (and body, with auth_pass_body); 200 admits, any other
// status goes back to the client with its headers and body; a plugin that cannot be reached,
// cannot be trusted (TLS) or answers later than auth_proxy_timeout fails closed. Admissions
// may be remembered for auth_proxy_cache (auth/decision_cache.h).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "auth/decision_cache.h"
#include "executor/executor.h"

namespace hw::auth {

class HttpClient;

struct PluginOptions {
  std::string url;  // auth_proxy_url
  bool pass_body = false;
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
  std::chrono::milliseconds cache_ttl{0};                             // auth_proxy_cache; 0 = off
  std::size_t cache_entries = 10000;                                  // auth_proxy_cache_entries
  std::vector<std::string> cache_headers{"Authorization", "Cookie"};  // auth_proxy_cache_headers
};

struct PluginAnswer {
  enum class Kind { kAdmit, kDeny, kUnavailable } kind = Kind::kUnavailable;
  int status = 503;                       // kDeny: the plugin's status
  std::vector<executor::Header> headers;  // kDeny: the plugin's headers
  std::string body;                       // kDeny: the plugin's body
  bool cached = false;                    // kAdmit: from the cache, the plugin not asked
};

class PluginClient {
 public:
  PluginClient(PluginOptions options, std::shared_ptr<const HttpClient> http);
  // Asks the plugin, or the cache first when it is on. `body` is sent only with pass_body.
  // kUnavailable is logged here (the URL without its query and the reason, never a
  // credential; nothing of it is sent to the client). Thread-safe.
  PluginAnswer Ask(const std::vector<executor::Header>& headers, const std::string& body) const;
  bool pass_body() const { return options_.pass_body; }

 private:
  const PluginOptions options_;
  const std::shared_ptr<const HttpClient> http_;
  const std::unique_ptr<DecisionCache> cache_;  // null when off
};

}  // namespace hw::auth
