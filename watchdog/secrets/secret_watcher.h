// SecretWatcher: a fixed list of secret files, read at startup and re-read by a background
// thread every reload interval, so a rotated secret (including Kubernetes' atomic swap of
// the ..data symlink) is used without a restart while a broken file keeps the last good one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "common/expected.h"
#include "secrets/secret.h"

namespace hw::secrets {

class SecretWatcher {
 public:
  // Turns the complete current set of secrets (one per path, in the order of
  // Options::paths; nullptr for a file that was removed while others remain) into whatever
  // the consumer keeps, e.g. pre-keyed MAC contexts, and publishes it. Called once at startup and
  // again after each file that changed. An Error (which must name the file and never contain secret
  // bytes) rejects the change: the previous secret of that file stays in use.
  using Apply = std::function<Status(std::span<const Secret* const> secrets)>;
  using Sink = std::function<void(std::string_view message)>;

  struct Options {
    std::vector<std::string> paths;  // full paths, already resolved and name-checked
    bool raw = false;                // keep trailing whitespace
    std::chrono::milliseconds interval = std::chrono::seconds(2);
    bool background = true;  // false: only ReloadNow re-reads (the verify command, tests)
    Sink warn;               // default: hw::log::Warn
    Sink info;               // default: hw::log::Info
  };

  struct Stats {
    std::uint64_t reloads = 0;   // changes applied
    std::uint64_t failures = 0;  // failure episodes: a file that starts failing counts once
  };

  // Reads every file and calls `apply` once. Error (naming the first file that is missing,
  // empty, unreadable or rejected by `apply`) if any fails; no thread is left running then.
  static Expected<std::unique_ptr<SecretWatcher>> Start(Options options, Apply apply);

  // Stops and joins the reload thread (promptly: it waits on a condition variable).
  ~SecretWatcher();
  SecretWatcher(const SecretWatcher&) = delete;
  SecretWatcher& operator=(const SecretWatcher&) = delete;

  // One reload pass, synchronously (also what the thread runs each interval).
  void ReloadNow();
  Stats GetStats() const;

 private:
  SecretWatcher(Options options, Apply apply, std::vector<std::optional<Secret>> current);
  void Run();
  void Fail(std::size_t index, const std::string& message);

  const Options options_;
  const Apply apply_;

  std::mutex pass_mutex_;  // one pass at a time; guards current_ and last_error_
  std::vector<std::optional<Secret>> current_;  // empty: withdrawn (file removed)
  std::vector<std::string> last_error_;         // per file; "" while the file is fine

  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::uint64_t> failures_{0};

  std::mutex stop_mutex_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace hw::secrets
