// Reading secret files: trimming, refusals with the path (never the content) in the message,
// name checks and the /run/secrets fallback.
#include "secrets/secret_file.h"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/signature_support.h"

namespace hw::secrets {
namespace {

std::string Text(const Secret& s) {
  return std::string(reinterpret_cast<const char*>(s.Expose().data()), s.size());
}

TEST_CASE("trailing whitespace is trimmed from a secret file unless it is read raw") {
  test::TempDir dir;
  const std::string path = dir.Write("s", "top-secret \t\r\n\n");
  CHECK(Text(*ReadSecretFile(path, false)) == "top-secret");
  CHECK(Text(*ReadSecretFile(path, true)) == "top-secret \t\r\n\n");
  // Leading whitespace belongs to the secret.
  CHECK(Text(*ReadSecretFile(dir.Write("t", "  lead\n"), false)) == "  lead");
}

TEST_CASE("an empty secret file is an error naming the file") {
  test::TempDir dir;
  const std::string path = dir.Write("empty", "");
  Expected<Secret> secret = ReadSecretFile(path, false);
  REQUIRE_FALSE(secret.ok());
  CHECK_THAT(secret.error().message, Catch::Contains(path));
  CHECK_THAT(secret.error().message, Catch::Contains("empty"));
}

TEST_CASE("a secret file of only whitespace is empty after trimming") {
  test::TempDir dir;
  const std::string path = dir.Write("blank", " \r\n\t\n");
  CHECK_FALSE(ReadSecretFile(path, false).ok());
  CHECK(ReadSecretFile(path, true).ok());
}

TEST_CASE("a missing secret file, a directory and an oversized file are errors naming the path") {
  test::TempDir dir;
  Expected<Secret> missing = ReadSecretFile(dir.File("nope"), false);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains(dir.File("nope")));
  CHECK_THAT(missing.error().message, Catch::Contains("does not exist"));

  std::filesystem::create_directory(dir.File("folder"));
  Expected<Secret> folder = ReadSecretFile(dir.File("folder"), false);
  REQUIRE_FALSE(folder.ok());
  CHECK_THAT(folder.error().message, Catch::Contains("directory"));

  const std::string big = dir.Write("big", std::string(kMaxSecretFileBytes + 1, 'x'));
  CHECK_FALSE(ReadSecretFile(big, false).ok());
}

TEST_CASE("an unreadable secret file is an error that does not contain the secret") {
  if (::geteuid() == 0) {
    SUCCEED("running as root: permissions do not stop reads");
    return;
  }
  test::TempDir dir;
  const std::string path = dir.Write("locked", "do-not-print-me");
  std::filesystem::permissions(path, std::filesystem::perms::none);
  Expected<Secret> secret = ReadSecretFile(path, false);
  REQUIRE_FALSE(secret.ok());
  CHECK_THAT(secret.error().message, Catch::Contains(path));
  CHECK_THAT(secret.error().message, !Catch::Contains("do-not-print-me"));
}

TEST_CASE("secret names with a slash or dot-dot, or empty ones, are refused") {
  CHECK(CheckSecretName("webhook-secret").ok());
  CHECK(CheckSecretName("a.b").ok());
  CHECK_FALSE(CheckSecretName("").ok());
  CHECK_FALSE(CheckSecretName("../etc/passwd").ok());
  CHECK_FALSE(CheckSecretName("a/b").ok());
  CHECK_FALSE(CheckSecretName("..").ok());
  CHECK_FALSE(CheckSecretName("x..y").ok());
}

TEST_CASE("the secrets folder falls back to the second folder only when the first is missing") {
  test::TempDir first;
  test::TempDir second;
  CHECK(ResolveSecretsDirectory(first.path(), second.path()) == first.path());
  const std::string missing = first.File("missing");
  CHECK(ResolveSecretsDirectory(missing, second.path()) == second.path());
  CHECK(ResolveSecretsDirectory(missing, first.File("also-missing")) == missing);
}

}  // namespace
}  // namespace hw::secrets

namespace hw::secrets {
namespace {

// Issue 10: opening a FIFO for reading waited for a writer forever, hanging the reload
// thread (and, through it, shutdown).
TEST_CASE("a FIFO as the secret file is refused at once, never waited on") {
  test::TempDir dir;
  const std::string fifo = dir.File("webhook-secret");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  const auto started = std::chrono::steady_clock::now();
  Expected<Secret> secret = ReadSecretFile(fifo, false);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(1));
  REQUIRE_FALSE(secret.ok());
  CHECK_THAT(secret.error().message, Catch::Contains(fifo));
  CHECK_THAT(secret.error().message, Catch::Contains("FIFO"));
  // Through a symlink, as Kubernetes mounts secrets: the link is followed, then refused.
  const std::string link = dir.File("linked");
  std::filesystem::create_symlink(fifo, link);
  Expected<Secret> linked = ReadSecretFile(link, false);
  REQUIRE_FALSE(linked.ok());
  CHECK_THAT(linked.error().message, Catch::Contains("FIFO"));
}

// Issue 12: faas-cli local-run writes .secrets as root with mode 0700; the error must say
// what to do.
TEST_CASE("an unreadable secret file's error says which uid and how to fix it") {
  test::TempDir dir;  // mode 0700, like the .secrets folder faas-cli local-run writes as root
  const std::string path = dir.Write("webhook-secret", "s3cret");
  std::filesystem::permissions(path, std::filesystem::perms::owner_read);
  // Read it as another user: root would be let through, so a root test run reads it from a
  // child that drops to uid/gid 65534 (nobody) first.
  std::string message;
  uid_t reader = ::geteuid();
  if (reader == 0) {
    reader = 65534;
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      ::close(pipe_fds[0]);
      std::string out = "setuid failed";
      if (::setgid(65534) == 0 && ::setuid(65534) == 0) {
        Expected<Secret> secret = ReadSecretFile(path, false);
        out = secret.ok() ? "read" : secret.error().message;
      }
      (void)!::write(pipe_fds[1], out.data(), out.size());
      ::_exit(0);
    }
    ::close(pipe_fds[1]);
    char buffer[1024];
    ssize_t n;
    while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) {
      message.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(pipe_fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
  } else {
    std::filesystem::permissions(path, std::filesystem::perms::none);
    Expected<Secret> secret = ReadSecretFile(path, false);
    REQUIRE_FALSE(secret.ok());
    message = secret.error().message;
  }
  INFO(message);
  CHECK_THAT(message, Catch::Contains(path));
  CHECK_THAT(message, Catch::Contains("permission denied"));
  CHECK_THAT(message, Catch::Contains("uid " + std::to_string(reader)));
  CHECK_THAT(message, Catch::Contains("chmod -R a+rX"));
  CHECK_THAT(message, !Catch::Contains("s3cret"));
}

}  // namespace
}  // namespace hw::secrets
