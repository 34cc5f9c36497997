#include "auth/basic.h"

#include <algorithm>

#include <fmt/format.h>

#include "crypto/bytes.h"
#include "crypto/sha256.h"
#include "secrets/secret_file.h"

namespace hw::auth {
namespace {

constexpr std::int64_t kWindowSeconds = 60;
constexpr std::size_t kMaxAddresses = 10000;

// Digests first, so the comparison takes the same time whatever the lengths.
bool SameSecret(std::string_view given, const secrets::Secret& expected) {
  const crypto::Bytes a = crypto::Sha256(given);
  const crypto::Bytes b = crypto::Sha256(crypto::AsText(expected.Expose()));
  return crypto::ConstantTimeEqual(a, b);
}

}  // namespace

std::int64_t FailureLimiter::RetryAfter(std::string_view address) {
  if (max_ == 0) return 0;
  const std::int64_t now = clock_->NowUnixSeconds();
  std::lock_guard lock(mutex_);
  auto it = entries_.find(std::string(address));
  if (it == entries_.end()) return 0;
  const std::int64_t end = it->second.window_start + kWindowSeconds;
  if (now >= end) {
    entries_.erase(it);
    return 0;
  }
  return it->second.failures >= max_ ? std::max<std::int64_t>(1, end - now) : 0;
}

void FailureLimiter::Failed(std::string_view address) {
  if (max_ == 0) return;
  const std::int64_t now = clock_->NowUnixSeconds();
  std::lock_guard lock(mutex_);
  auto [it, inserted] = entries_.try_emplace(std::string(address));
  if (inserted || now >= it->second.window_start + kWindowSeconds) {
    it->second = Entry{now, 0};
  }
  ++it->second.failures;
  if (entries_.size() > kMaxAddresses) {
    // Drop every expired window; if all are live, drop the oldest one.
    std::erase_if(entries_,
                  [now](const auto& e) { return now >= e.second.window_start + kWindowSeconds; });
    if (entries_.size() > kMaxAddresses) {
      auto oldest = std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
        return a.second.window_start < b.second.window_start;
      });
      entries_.erase(oldest);
    }
  }
}

struct BasicAuthenticator::Pair {
  secrets::Secret user;
  secrets::Secret password;
};

BasicAuthenticator::BasicAuthenticator(std::size_t max_failures, std::shared_ptr<const Clock> clock)
    : limiter_(max_failures, std::move(clock)) {}

BasicAuthenticator::~BasicAuthenticator() { watcher_.reset(); }

Expected<std::unique_ptr<BasicAuthenticator>> BasicAuthenticator::Create(
    const config::AuthOptions& options, std::shared_ptr<const Clock> clock) {
  for (const auto* name : {&options.basic_user_secret, &options.basic_password_secret}) {
    if (auto s = secrets::CheckSecretName(*name); !s) return s.error();
  }
  const std::string dir = secrets::ResolveSecretsDirectory(options.secrets_path);
  std::unique_ptr<BasicAuthenticator> self(
      new BasicAuthenticator(options.basic_max_failures, std::move(clock)));
  secrets::SecretWatcher::Options wo;
  wo.paths = {dir + "/" + options.basic_user_secret, dir + "/" + options.basic_password_secret};
  wo.interval = options.reload_interval;
  BasicAuthenticator* raw = self.get();
  auto watcher = secrets::SecretWatcher::Start(
      std::move(wo), [raw](std::span<const secrets::Secret* const> s) -> Status {
        if (s.size() != 2 || s[0] == nullptr || s[1] == nullptr) {
          return Error{"basic auth needs both the user and the password secret file"};
        }
        auto pair = std::make_shared<Pair>(Pair{s[0]->Clone(), s[1]->Clone()});
        std::lock_guard lock(raw->mutex_);
        raw->current_ = std::move(pair);
        return Ok{};
      });
  if (!watcher) return Error{"basic auth: " + watcher.error().message};
  self->watcher_ = std::move(*watcher);
  return self;
}

BasicAuthenticator::Result BasicAuthenticator::Check(std::string_view user,
                                                     std::string_view password,
                                                     std::string_view address,
                                                     std::int64_t& retry_after) {
  retry_after = limiter_.RetryAfter(address);
  if (retry_after > 0) return Result::kLimited;
  std::shared_ptr<const Pair> pair;
  {
    std::lock_guard lock(mutex_);
    pair = current_;
  }
  // Both compared whatever the first says: the time does not tell which one was wrong.
  const bool user_ok = pair && SameSecret(user, pair->user);
  const bool password_ok = pair && SameSecret(password, pair->password);
  if (user_ok && password_ok) return Result::kValid;
  limiter_.Failed(address);
  return Result::kMismatch;
}

std::uint64_t BasicAuthenticator::reloads() const { return watcher_->GetStats().reloads; }
std::uint64_t BasicAuthenticator::reload_failures() const { return watcher_->GetStats().failures; }

}  // namespace hw::auth
