// The OpenFaaS gateway's auth-plugin protocol: a GET to auth_proxy_url with the original
// request's headers (and body, with auth_pass_body); 200 admits, any other status goes back
// to the client with its headers and body; a plugin that cannot be reached or answers later
// than auth_proxy_timeout fails closed.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "executor/executor.h"

namespace hw::auth {

struct PluginOptions {
  std::string url;  // auth_proxy_url (http://)
  bool pass_body = false;
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
};

struct PluginAnswer {
  enum class Kind { kAdmit, kDeny, kUnavailable } kind = Kind::kUnavailable;
  int status = 503;                         // kDeny: the plugin's status
  std::vector<executor::Header> headers;    // kDeny: the plugin's headers
  std::string body;                         // kDeny: the plugin's body
};

class PluginClient {
 public:
  explicit PluginClient(PluginOptions options) : options_(std::move(options)) {}
  // Asks the plugin. `body` is sent only with pass_body. kUnavailable is logged here (with
  // the reason, never sent to the client). Thread-safe.
  PluginAnswer Ask(const std::vector<executor::Header>& headers, const std::string& body) const;
  bool pass_body() const { return options_.pass_body; }

 private:
  const PluginOptions options_;
};

}  // namespace hw::auth
