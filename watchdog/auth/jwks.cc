#include "auth/jwks.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "auth/http_client.h"
#include "logging/log.h"

namespace hw::auth {

KeyStore::KeyStore(Options options, Fetch fetch)
    : options_(std::move(options)),
      fetch_(std::move(fetch)),
      keys_(std::make_shared<const KeySet>()) {
  thread_ = std::thread([this] { Run(); });
}

KeyStore::~KeyStore() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::shared_ptr<const KeySet> KeyStore::Keys() const {
  std::lock_guard lock(mutex_);
  return keys_;
}

bool KeyStore::Ready() const {
  std::lock_guard lock(mutex_);
  return ready_;
}

Status KeyStore::FetchNow() {
  std::lock_guard one(fetch_mutex_);
  std::string url = options_.jwks_url;
  if (url.empty()) {
    const std::string discovery = options_.issuer + (options_.issuer.ends_with('/') ? "" : "/") +
                                  ".well-known/openid-configuration";
    auto doc = fetch_(discovery);
    if (!doc) {
      return Error{
          fmt::format("OIDC discovery {}: {}", LoggableUrl(discovery), doc.error().message)};
    }
    auto json = nlohmann::json::parse(*doc, nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("jwks_uri") ||
        !json["jwks_uri"].is_string()) {
      return Error{fmt::format("OIDC discovery {}: no jwks_uri", discovery)};
    }
    if (json.contains("issuer") && json["issuer"] != options_.issuer) {
      return Error{fmt::format("OIDC discovery {}: issuer {} is not jwt_issuer", discovery,
                               json["issuer"].dump())};
    }
    url = json["jwks_uri"].get<std::string>();
  }
  auto body = fetch_(url);
  const std::string shown = LoggableUrl(url);  // a query may carry a key
  if (!body) return Error{fmt::format("JWKS {}: {}", shown, body.error().message)};
  std::size_t skipped = 0;
  auto keys = ParseJwks(*body, &skipped);
  if (!keys) return Error{fmt::format("JWKS {}: {}", shown, keys.error().message)};
  if (keys->empty()) return Error{fmt::format("JWKS {}: no usable signing key", shown)};
  const std::size_t count = keys->size();
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    keys_ = std::make_shared<const KeySet>(std::move(*keys));
    first = !ready_;
    ready_ = true;
  }
  if (first) {
    log::Info(fmt::format("jwt: {} signing key(s) from {} ({} skipped)", count, shown, skipped));
    if (options_.on_ready) options_.on_ready();
  } else {
    log::Debug(fmt::format("jwt: {} signing key(s) from {}", count, shown));
  }
  return Ok{};
}

std::shared_ptr<const KeySet> KeyStore::RefreshForUnknownKid(std::chrono::milliseconds wait) {
  std::unique_lock lock(mutex_);
  const auto now = std::chrono::steady_clock::now();
  if (now - last_fetch_ < options_.min_refresh_gap) return keys_;
  refresh_requested_ = true;
  const std::uint64_t want = generation_ + 1;
  cv_.notify_all();
  cv_.wait_for(lock, wait, [&] { return generation_ >= want || stop_; });
  return keys_;
}

void KeyStore::Run() {
  std::string last_error;
  std::unique_lock lock(mutex_);
  while (!stop_) {
    last_fetch_ = std::chrono::steady_clock::now();
    refresh_requested_ = false;
    lock.unlock();
    Status s = FetchNow();
    lock.lock();
    ++generation_;
    cv_.notify_all();
    if (!s) {
      // Logged once per episode, not every second.
      if (s.error().message != last_error) {
        log::Warn(fmt::format("jwt: {} ({})", s.error().message,
                              ready_ ? "keeping the last good keys" : "not ready until it works"));
      }
      last_error = s.error().message;
    } else {
      last_error.clear();
    }
    // Not ready: retry each retry_interval. Ready but failing: a little slower. Else the
    // periodic refresh.
    auto interval = options_.refresh_interval;
    if (!ready_)
      interval = options_.retry_interval;
    else if (!s)
      interval = std::max(options_.retry_interval * 5, options_.min_refresh_gap);
    cv_.wait_for(lock, interval, [&] { return stop_ || refresh_requested_; });
  }
}

}  // namespace hw::auth
