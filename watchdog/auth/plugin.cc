#include "auth/plugin.h"

#include <fmt/format.h>

#include "auth/http_client.h"
#include "logging/log.h"

namespace hw::auth {
namespace {

std::int64_t MonotonicMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

PluginClient::PluginClient(PluginOptions options, std::shared_ptr<const HttpClient> http)
    : options_(std::move(options)),
      http_(std::move(http)),
      cache_(options_.cache_ttl.count() > 0 && !options_.pass_body
                 ? std::make_unique<DecisionCache>(options_.cache_ttl, options_.cache_entries,
                                                   options_.cache_headers)
                 : nullptr) {}

PluginAnswer PluginClient::Ask(const std::vector<executor::Header>& headers,
                               const std::string& body) const {
  PluginAnswer answer;
  std::optional<DecisionCache::Key> key;
  if (cache_) {
    key = cache_->KeyOf(headers);
    if (key && cache_->Admitted(*key, MonotonicMillis())) {
      answer.kind = PluginAnswer::Kind::kAdmit;
      answer.cached = true;
      return answer;
    }
  }
  auto res = http_->Get(options_.url, headers, options_.pass_body ? body : std::string(),
                        options_.timeout, 64 * 1024);
  if (!res) {
    log::Error(fmt::format("auth plugin {}: {}: request refused (503)", LoggableUrl(options_.url),
                           res.error().message));
    return answer;
  }
  if (res->status == 200) {
    answer.kind = PluginAnswer::Kind::kAdmit;
    if (key) cache_->Remember(*key, MonotonicMillis());
    return answer;
  }
  if (res->status < 100 || res->status > 599) {
    log::Error(fmt::format("auth plugin {}: status {}: request refused (503)",
                           LoggableUrl(options_.url), res->status));
    return answer;
  }
  answer.kind = PluginAnswer::Kind::kDeny;
  answer.status = res->status;
  answer.headers = std::move(res->headers);
  answer.body = std::move(res->body);
  return answer;
}

}  // namespace hw::auth
