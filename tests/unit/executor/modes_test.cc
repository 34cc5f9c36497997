// The executors of each mode, built as main.cc builds them (config::Load, MakeExecutor) and
// run against real children and real files: serializing and streaming with a child that
// writes more than a pipe holds while it still reads its stdin, a failing and a hanging child,
// and static mode against the paths an attacker sends to get out of static_path.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "common/body.h"
#include "config/config.h"
#include "executor/child_reaper.h"
#include "executor/executor.h"
#include "executor/factory.h"
#include "metrics/metrics.h"
#include "support/temp_dir.h"

namespace hw::executor {
namespace {

using test::TempDir;

// One mode's executor with the configuration that built it (executors keep references to it).
struct Mode {
  config::Config config;
  metrics::Metrics metrics;
  std::unique_ptr<Executor> executor;
};

std::unique_ptr<Mode> MakeMode(config::Environment env) {
  REQUIRE(StartReaper().ok());
  auto loaded = config::Load(env, {});
  INFO((loaded.ok() ? std::string() : loaded.error().message));
  REQUIRE(loaded.ok());
  auto mode = std::make_unique<Mode>();
  mode->config = std::move(*loaded);
  auto made = MakeExecutor(mode->config, &mode->metrics, [](std::string) {});
  INFO((made.ok() ? std::string() : made.error().message));
  REQUIRE(made.ok());
  mode->executor = std::move(*made);
  REQUIRE(mode->executor->Start().ok());
  return mode;
}

struct Answer {
  int status = 0;
  std::string body;
  bool complete = false;  // the stream (if any) ended normally
  std::vector<Header> headers;
};

Answer Call(Executor& executor, std::string method, std::string path,
            std::string_view body_bytes = {}) {
  Body body(1 << 20, "/tmp");
  REQUIRE(body.Append(body_bytes).ok());
  const std::vector<Header> headers;
  const FunctionRequest request{method, path, path, "", "127.0.0.1", headers, body};
  FunctionResponse response = executor.Invoke(request);
  Answer answer{response.status, response.body, true, response.headers};
  if (response.stream) {
    answer.complete = response.stream->Pump([&](std::string_view chunk) {
      answer.body.append(chunk);
      return true;
    });
  }
  return answer;
}

// A body larger than any pipe buffer (64 KiB by default, 1 MiB at most unprivileged).
std::string LargeBody() {
  std::string body;
  for (int i = 0; body.size() < (3u << 20); ++i) body += std::to_string(i) + ",";
  return body;
}

TEST_CASE("serializing and streaming pass a body larger than a pipe through cat unchanged") {
  const std::string body = LargeBody();
  for (const char* mode_name : {"serializing", "streaming"}) {
    INFO(mode_name);
    auto mode = MakeMode({{"mode", mode_name}, {"fprocess", "cat"}, {"exec_timeout", "20s"}});
    const Answer answer = Call(*mode->executor, "POST", "/", body);
    CHECK(answer.status == 200);
    CHECK(answer.complete);
    CHECK(answer.body.size() == body.size());
    CHECK(answer.body == body);
  }
}

TEST_CASE("a child that writes megabytes before reading its stdin does not deadlock") {
  // The child fills its stdout pipe first; the executor must read it while the body is still
  // waiting to be written, or both sides block for ever (until exec_timeout's 504).
  const std::string body = LargeBody();
  for (const char* mode_name : {"serializing", "streaming"}) {
    INFO(mode_name);
    auto mode = MakeMode({{"mode", mode_name},
                          {"fprocess", "sh -c 'head -c 2000000 /dev/zero; wc -c'"},
                          {"exec_timeout", "20s"}});
    const Answer answer = Call(*mode->executor, "POST", "/", body);
    CHECK(answer.status == 200);
    CHECK(answer.complete);
    REQUIRE(answer.body.size() > 2000000);
    CHECK(answer.body.substr(2000000) == std::to_string(body.size()) + "\n");
  }
}

TEST_CASE("a failing child gets 500 and never a 200 with half its output") {
  for (const char* mode_name : {"serializing", "streaming"}) {
    INFO(mode_name);
    auto mode = MakeMode({{"mode", mode_name}, {"fprocess", "sh -c 'exit 3'"}});
    const Answer answer = Call(*mode->executor, "POST", "/", "x");
    CHECK(answer.status == 500);
  }
  // Serializing discards the stdout of a child that fails after writing.
  auto mode = MakeMode({{"mode", "serializing"}, {"fprocess", "sh -c 'echo secret-ish; exit 3'"}});
  const Answer answer = Call(*mode->executor, "POST", "/", "x");
  CHECK(answer.status == 500);
  CHECK(answer.body.find("secret-ish") == std::string::npos);
}

TEST_CASE("streaming reports an incomplete body when the child fails after its first bytes") {
  auto mode = MakeMode({{"mode", "streaming"}, {"fprocess", "sh -c 'echo partial; exit 4'"}});
  const Answer answer = Call(*mode->executor, "POST", "/", "x");
  CHECK(answer.status == 200);  // the status left with the first byte
  CHECK(answer.body == "partial\n");
  CHECK_FALSE(answer.complete);  // so the connection is cut, not ended as a success
}

TEST_CASE("a child that never exits is killed at exec_timeout with 504") {
  for (const char* mode_name : {"serializing", "streaming"}) {
    INFO(mode_name);
    auto mode =
        MakeMode({{"mode", mode_name}, {"fprocess", "sleep 30"}, {"exec_timeout", "300ms"}});
    const auto started = std::chrono::steady_clock::now();
    const Answer answer = Call(*mode->executor, "POST", "/", "x");
    CHECK(answer.status == 504);
    CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(20));
  }
}

// static_path/public with a secret next to it, a sibling folder whose name starts like it,
// and symlinks leading out of it.
struct StaticTree {
  TempDir dir;
  std::string root = dir.path() + "/public";
  StaticTree() {
    dir.Write("public/index.html", "<h1>home</h1>");
    dir.Write("public/docs/index.html", "docs");
    dir.Write("public/style.css", "body{}");
    dir.Write("secret.txt", "outside");
    dir.Write("public2/leak.txt", "sibling");
    REQUIRE(::symlink((dir.path() + "/secret.txt").c_str(), (root + "/link.txt").c_str()) == 0);
    REQUIRE(::symlink((dir.path() + "/public2").c_str(), (root + "/sib").c_str()) == 0);
    REQUIRE(::symlink("style.css", (root + "/inside.css").c_str()) == 0);
  }
};

TEST_CASE("static mode serves files, folders by their index.html, with the extension's type") {
  StaticTree tree;
  auto mode = MakeMode({{"mode", "static"}, {"static_path", tree.root}});
  Answer home = Call(*mode->executor, "GET", "/");
  CHECK(home.status == 200);
  CHECK(home.body == "<h1>home</h1>");
  Answer css = Call(*mode->executor, "GET", "/style.css");
  CHECK(css.status == 200);
  CHECK(css.body == "body{}");
  bool typed = false;
  for (const Header& h : css.headers)
    typed |= h.name == "Content-Type" && h.value.find("text/css") == 0;
  CHECK(typed);
  CHECK(Call(*mode->executor, "GET", "/docs/").body == "docs");
  Answer folder = Call(*mode->executor, "GET", "/docs");
  CHECK(folder.status == 301);
  CHECK(Call(*mode->executor, "GET", "/inside.css").body == "body{}");  // a link that stays in
  CHECK(Call(*mode->executor, "GET", "/missing.html").status == 404);
}

TEST_CASE("static mode never serves a byte from outside static_path") {
  StaticTree tree;
  auto mode = MakeMode({{"mode", "static"}, {"static_path", tree.root}});
  // Paths arrive percent-decoded (server/request_target.cc), so "%2e%2e" is ".." here.
  for (const char* path :
       {"/../secret.txt", "/docs/../../secret.txt", "/..", "/link.txt", "/sib/leak.txt",
        "/../public2/leak.txt", "//secret.txt", "/docs/..\\..\\secret.txt", "/..\\secret.txt"}) {
    INFO(path);
    const Answer answer = Call(*mode->executor, "GET", path);
    CHECK(answer.status == 404);
    CHECK(answer.body.find("outside") == std::string::npos);
    CHECK(answer.body.find("sibling") == std::string::npos);
  }
  const std::string with_nul("/secret.txt\0.html", 17);
  CHECK(Call(*mode->executor, "GET", with_nul).status == 404);
}

TEST_CASE("static mode answers 405 to anything but GET and HEAD") {
  StaticTree tree;
  auto mode = MakeMode({{"mode", "static"}, {"static_path", tree.root}});
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    INFO(method);
    CHECK(Call(*mode->executor, method, "/index.html").status == 405);
  }
  CHECK(Call(*mode->executor, "HEAD", "/index.html").status == 200);
}

TEST_CASE("static mode refuses to start on a static_path that is missing or a file") {
  TempDir dir;
  dir.Write("file", "x");
  for (const std::string& path : {dir.path() + "/missing", dir.path() + "/file"}) {
    INFO(path);
    auto loaded = config::Load({{"mode", "static"}, {"static_path", path}}, {});
    REQUIRE(loaded.ok());
    metrics::Metrics metrics;
    auto made = MakeExecutor(*loaded, &metrics, [](std::string) {});
    REQUIRE(made.ok());
    const Status started = (*made)->Start();
    REQUIRE_FALSE(started.ok());
    CHECK_THAT(started.error().message, Catch::Contains(path));
  }
}

}  // namespace
}  // namespace hw::executor
