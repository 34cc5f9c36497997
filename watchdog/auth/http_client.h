// Outbound HTTP for authentication (the auth plugin, OIDC discovery and JWKS): one GET with
// headers and an optional body, through cpp-httplib's client. http:// only: this build has
// no TLS in cpp-httplib (see README "Authentication"); https URLs are refused at startup.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/expected.h"
#include "executor/executor.h"

namespace hw::auth {

struct HttpAnswer {
  int status = 0;
  std::vector<executor::Header> headers;
  std::string body;
};

// Ok when `url` is an http:// URL this client can call; Error (naming `key`) otherwise.
Status CheckUrl(std::string_view key, const std::string& url);

// GET `url` with `headers` (and `body` when not empty), connect/read/write bounded by
// `timeout`, the response body capped at `max_body` bytes. Error (a short reason for the log,
// never sent to a client) when the server cannot be reached, times out or answers too much.
Expected<HttpAnswer> HttpGet(const std::string& url, const std::vector<executor::Header>& headers,
                             const std::string& body, std::chrono::milliseconds timeout,
                             std::size_t max_body = 1024 * 1024);

}  // namespace hw::auth
