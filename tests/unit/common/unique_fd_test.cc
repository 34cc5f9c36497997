#include "common/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include <catch2/catch.hpp>

namespace hw {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

int OpenDevNull() { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

TEST_CASE("unique fd closes its descriptor when it goes out of scope") {
  int raw = -1;
  {
    UniqueFd fd(OpenDevNull());
    raw = fd.get();
    REQUIRE(fd.valid());
    REQUIRE(IsOpen(raw));
  }
  CHECK_FALSE(IsOpen(raw));
}

TEST_CASE("unique fd moves ownership and leaves the source empty") {
  UniqueFd a(OpenDevNull());
  const int raw = a.get();
  UniqueFd b(std::move(a));
  CHECK_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  CHECK(b.get() == raw);

  UniqueFd c(OpenDevNull());
  const int replaced = c.get();
  c = std::move(b);
  CHECK(c.get() == raw);
  CHECK_FALSE(IsOpen(replaced));  // move assignment closed what c held
  CHECK(IsOpen(raw));
}

TEST_CASE("unique fd release hands the descriptor back without closing it") {
  int raw = -1;
  {
    UniqueFd fd(OpenDevNull());
    raw = fd.release();
    CHECK_FALSE(fd.valid());
  }
  CHECK(IsOpen(raw));
  close(raw);
}

TEST_CASE("unique fd reset closes the old descriptor and owns the new one") {
  UniqueFd fd(OpenDevNull());
  const int first = fd.get();
  const int second = OpenDevNull();
  fd.reset(second);
  CHECK_FALSE(IsOpen(first));
  CHECK(fd.get() == second);
  fd.reset();
  CHECK_FALSE(IsOpen(second));
  CHECK_FALSE(fd);
}

TEST_CASE("unique fd treats a negative descriptor as none") {
  UniqueFd fd(-5);
  CHECK_FALSE(fd.valid());
  CHECK(fd.get() == -1);
}

}  // namespace
}  // namespace hw
