#include "secrets/secret_watcher.h"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "logging/log.h"
#include "secrets/secret_file.h"

namespace hw::secrets {
namespace {

std::vector<const Secret*> Pointers(const std::vector<std::optional<Secret>>& secrets) {
  std::vector<const Secret*> out;
  out.reserve(secrets.size());
  for (const auto& s : secrets) out.push_back(s ? &*s : nullptr);
  return out;
}

bool Missing(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) != 0 && errno == ENOENT;
}

}  // namespace

Expected<std::unique_ptr<SecretWatcher>> SecretWatcher::Start(Options options, Apply apply) {
  if (!options.warn) options.warn = [](std::string_view m) { log::Warn(m); };
  if (!options.info) options.info = [](std::string_view m) { log::Info(m); };
  std::vector<std::optional<Secret>> current;
  current.reserve(options.paths.size());
  for (const std::string& path : options.paths) {
    Expected<Secret> secret = ReadSecretFile(path, options.raw);
    if (!secret) return secret.error();
    current.push_back(std::move(secret).value());
  }
  const std::vector<const Secret*> pointers = Pointers(current);
  if (Status applied = apply(pointers); !applied) return applied.error();
  std::unique_ptr<SecretWatcher> watcher(
      new SecretWatcher(std::move(options), std::move(apply), std::move(current)));
  if (watcher->options_.background)
    watcher->thread_ = std::thread([w = watcher.get()] { w->Run(); });
  return watcher;
}

SecretWatcher::SecretWatcher(Options options, Apply apply,
                             std::vector<std::optional<Secret>> current)
    : options_(std::move(options)),
      apply_(std::move(apply)),
      current_(std::move(current)),
      last_error_(current_.size()) {}

SecretWatcher::~SecretWatcher() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SecretWatcher::Run() {
  std::unique_lock<std::mutex> lock(stop_mutex_);
  while (!stop_) {
    if (stop_cv_.wait_for(lock, options_.interval, [this] { return stop_; })) break;
    lock.unlock();
    ReloadNow();
    lock.lock();
  }
}

void SecretWatcher::Fail(std::size_t index, const std::string& message) {
  // One warning and one count per failure episode, not one per pass: a deleted file would
  // otherwise log every two seconds until someone restores it.
  if (last_error_[index] == message) return;
  last_error_[index] = message;
  failures_.fetch_add(1, std::memory_order_relaxed);
  options_.warn(message + "; keeping the last good secret");
}

void SecretWatcher::ReloadNow() {
  std::lock_guard<std::mutex> lock(pass_mutex_);
  for (std::size_t i = 0; i < options_.paths.size(); ++i) {
    const std::string& path = options_.paths[i];
    Expected<Secret> fresh = ReadSecretFile(path, options_.raw);
    if (!fresh) {
      // A file removed while other secrets remain is a finished rotation: its secret is
      // withdrawn. Anything else (and removing the last secret of a scheme, which Apply
      // refuses) is a failure that keeps the last good secret.
      std::size_t others = 0;
      for (std::size_t j = 0; j < current_.size(); ++j) others += (j != i && current_[j]) ? 1 : 0;
      if (current_[i] && others > 0 && Missing(path)) {
        std::vector<const Secret*> candidate = Pointers(current_);
        candidate[i] = nullptr;
        if (apply_(candidate)) {
          current_[i].reset();
          last_error_[i].clear();
          reloads_.fetch_add(1, std::memory_order_relaxed);
          options_.info("secret file " + path + " was removed: its secret is no longer accepted");
          continue;
        }
      }
      if (current_[i]) Fail(i, "secret reload failed: " + fresh.error().message);
      continue;
    }
    if (!current_[i] || !fresh->SameBytes(*current_[i])) {
      std::vector<const Secret*> candidate = Pointers(current_);
      candidate[i] = &fresh.value();
      if (Status applied = apply_(candidate); !applied) {
        Fail(i, "secret reload failed: " + applied.error().message);
        continue;
      }
      current_[i] = std::move(fresh).value();
      reloads_.fetch_add(1, std::memory_order_relaxed);
      options_.info("secret file " + path + " changed: new secret in use");
      last_error_[i].clear();
      continue;
    } else if (!last_error_[i].empty()) {
      options_.info("secret file " + path + " is readable again");
    }
    last_error_[i].clear();
  }
}

SecretWatcher::Stats SecretWatcher::GetStats() const {
  return {reloads_.load(std::memory_order_relaxed), failures_.load(std::memory_order_relaxed)};
}

}  // namespace hw::secrets
