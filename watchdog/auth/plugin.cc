#include "auth/plugin.h"

#include <fmt/format.h>

#include "auth/http_client.h"
#include "logging/log.h"

namespace hw::auth {

PluginAnswer PluginClient::Ask(const std::vector<executor::Header>& headers,
                               const std::string& body) const {
  PluginAnswer answer;
  auto res = HttpGet(options_.url, headers, options_.pass_body ? body : std::string(),
                     options_.timeout, 64 * 1024);
  if (!res) {
    log::Error(fmt::format("auth plugin {}: {}: request refused (503)", options_.url,
                           res.error().message));
    return answer;
  }
  if (res->status == 200) {
    answer.kind = PluginAnswer::Kind::kAdmit;
    return answer;
  }
  if (res->status < 100 || res->status > 599) {
    log::Error(fmt::format("auth plugin {}: status {}: request refused (503)", options_.url,
                           res->status));
    return answer;
  }
  answer.kind = PluginAnswer::Kind::kDeny;
  answer.status = res->status;
  answer.headers = std::move(res->headers);
  answer.body = std::move(res->body);
  return answer;
}

}  // namespace hw::auth
