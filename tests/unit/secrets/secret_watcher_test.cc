// SecretWatcher: changes are picked up, broken files keep the last good secret with one
// warning naming the file, the Kubernetes ..data symlink swap works, and the thread stops
// promptly.
#include "secrets/secret_watcher.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <mutex>

#include "support/signature_support.h"

namespace hw::secrets {
namespace {

std::string Text(const Secret& s) {
  return std::string(reinterpret_cast<const char*>(s.Expose().data()), s.size());
}

// Records what the watcher applied and what it logged.
struct Recorder {
  std::mutex mutex;
  std::vector<std::string> applied;  // the last set applied, as text
  std::vector<std::string> warnings;
  int applies = 0;
  std::string reject;  // content Apply refuses

  SecretWatcher::Apply Apply() {
    return [this](std::span<const Secret* const> secrets) -> Status {
      std::lock_guard<std::mutex> lock(mutex);
      std::vector<std::string> texts;
      for (const Secret* s : secrets) {
        if (s == nullptr) continue;  // withdrawn
        if (!reject.empty() && Text(*s) == reject) return Error{"rejected by the consumer"};
        texts.push_back(Text(*s));
      }
      applied = texts;
      ++applies;
      return Ok{};
    };
  }
  SecretWatcher::Options Options(std::vector<std::string> paths, bool background = false) {
    SecretWatcher::Options options;
    options.paths = std::move(paths);
    options.background = background;
    options.interval = std::chrono::milliseconds(20);
    options.warn = [this](std::string_view m) {
      std::lock_guard<std::mutex> lock(mutex);
      warnings.emplace_back(m);
    };
    options.info = [](std::string_view) {};
    return options;
  }
  std::vector<std::string> Applied() {
    std::lock_guard<std::mutex> lock(mutex);
    return applied;
  }
};

TEST_CASE("the watcher applies every secret at start and a changed file on reload") {
  test::TempDir dir;
  const std::string a = dir.Write("a", "one\n");
  const std::string b = dir.Write("b", "two\n");
  Recorder r;
  auto watcher = SecretWatcher::Start(r.Options({a, b}), r.Apply());
  REQUIRE(watcher.ok());
  CHECK(r.Applied() == std::vector<std::string>{"one", "two"});
  dir.Write("b", "three\n");
  (*watcher)->ReloadNow();
  CHECK(r.Applied() == std::vector<std::string>{"one", "three"});
  CHECK((*watcher)->GetStats().reloads == 1);
  CHECK((*watcher)->GetStats().failures == 0);
  (*watcher)->ReloadNow();  // nothing changed: nothing counted
  CHECK((*watcher)->GetStats().reloads == 1);
}

TEST_CASE("a missing file at start is an error naming it") {
  test::TempDir dir;
  Recorder r;
  auto watcher = SecretWatcher::Start(r.Options({dir.File("absent")}), r.Apply());
  REQUIRE_FALSE(watcher.ok());
  CHECK_THAT(watcher.error().message, Catch::Contains(dir.File("absent")));
}

TEST_CASE("a deleted, emptied or replaced-by-folder secret keeps the last good one") {
  test::TempDir dir;
  const std::string a = dir.Write("a", "good-secret");
  Recorder r;
  auto watcher = SecretWatcher::Start(r.Options({a}), r.Apply());
  REQUIRE(watcher.ok());

  std::filesystem::remove(a);
  (*watcher)->ReloadNow();
  (*watcher)->ReloadNow();  // the same failure twice is one episode
  CHECK(r.Applied() == std::vector<std::string>{"good-secret"});
  CHECK((*watcher)->GetStats().failures == 1);
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], Catch::Contains(a));

  dir.Write("a", "\n");
  (*watcher)->ReloadNow();
  CHECK(r.Applied() == std::vector<std::string>{"good-secret"});
  CHECK((*watcher)->GetStats().failures == 2);

  std::filesystem::remove(a);
  std::filesystem::create_directory(a);
  (*watcher)->ReloadNow();
  CHECK(r.Applied() == std::vector<std::string>{"good-secret"});
  CHECK((*watcher)->GetStats().failures == 3);

  std::filesystem::remove(a);
  dir.Write("a", "new-secret");
  (*watcher)->ReloadNow();
  CHECK(r.Applied() == std::vector<std::string>{"new-secret"});
  CHECK((*watcher)->GetStats().reloads == 1);
  for (const std::string& w : r.warnings) CHECK_THAT(w, !Catch::Contains("good-secret"));
}

TEST_CASE("a removed file is withdrawn while another secret remains, and comes back") {
  test::TempDir dir;
  const std::string a = dir.Write("a", "one");
  const std::string b = dir.Write("b", "two");
  Recorder r;
  auto watcher = SecretWatcher::Start(r.Options({a, b}), r.Apply());
  REQUIRE(watcher.ok());
  std::filesystem::remove(a);
  (*watcher)->ReloadNow();
  CHECK(r.Applied() == std::vector<std::string>{"two"});
  CHECK((*watcher)->GetStats().failures == 0);
  CHECK((*watcher)->GetStats().reloads == 1);
  std::filesystem::remove(b);  // the last one stays
  (*watcher)->ReloadNow();
  CHECK(r.Applied() == std::vector<std::string>{"two"});
  CHECK((*watcher)->GetStats().failures == 1);
  dir.Write("a", "one again");  // a returns; b, still gone, can now be withdrawn
  (*watcher)->ReloadNow();
  CHECK(r.Applied() == std::vector<std::string>{"one again"});
}

TEST_CASE("a change the consumer rejects keeps the previous secret and counts a failure") {
  test::TempDir dir;
  const std::string a = dir.Write("a", "fine");
  Recorder r;
  r.reject = "unusable";
  auto watcher = SecretWatcher::Start(r.Options({a}), r.Apply());
  REQUIRE(watcher.ok());
  dir.Write("a", "unusable");
  (*watcher)->ReloadNow();
  CHECK(r.Applied() == std::vector<std::string>{"fine"});
  CHECK((*watcher)->GetStats().failures == 1);
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], !Catch::Contains("unusable"));
}

TEST_CASE("the Kubernetes atomic swap of the ..data symlink is picked up") {
  // Layout of a mounted secret: name -> ..data/name, ..data -> ..<timestamp> folder.
  test::TempDir dir;
  namespace fs = std::filesystem;
  fs::create_directory(dir.File("..2024_01"));
  dir.Write("..2024_01/webhook-secret", "first");
  fs::create_directory_symlink("..2024_01", dir.File("..data"));
  fs::create_symlink("..data/webhook-secret", dir.File("webhook-secret"));
  Recorder r;
  auto watcher = SecretWatcher::Start(r.Options({dir.File("webhook-secret")}), r.Apply());
  REQUIRE(watcher.ok());
  CHECK(r.Applied() == std::vector<std::string>{"first"});

  fs::create_directory(dir.File("..2024_02"));
  dir.Write("..2024_02/webhook-secret", "second");
  fs::create_directory_symlink("..2024_02", dir.File("..data_tmp"));
  fs::rename(dir.File("..data_tmp"), dir.File("..data"));  // atomic replace, as kubelet does
  fs::remove_all(dir.File("..2024_01"));
  (*watcher)->ReloadNow();
  CHECK(r.Applied() == std::vector<std::string>{"second"});
}

TEST_CASE("the background thread picks up a change without being asked") {
  test::TempDir dir;
  const std::string a = dir.Write("a", "before");
  Recorder r;
  auto watcher = SecretWatcher::Start(r.Options({a}, true), r.Apply());
  REQUIRE(watcher.ok());
  dir.Write("a", "after");
  CHECK(test::Eventually([&] { return r.Applied() == std::vector<std::string>{"after"}; }));
}

TEST_CASE("destroying the watcher stops its thread promptly even with a long interval") {
  test::TempDir dir;
  const std::string a = dir.Write("a", "x");
  Recorder r;
  SecretWatcher::Options options = r.Options({a}, true);
  options.interval = std::chrono::hours(1);
  auto watcher = SecretWatcher::Start(std::move(options), r.Apply());
  REQUIRE(watcher.ok());
  const auto start = std::chrono::steady_clock::now();
  watcher->reset();
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}

}  // namespace
}  // namespace hw::secrets
