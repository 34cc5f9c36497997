// UniqueFd: sole ownership of one file descriptor, closed when the owner goes away, so no error
// path or thrown exception can leak a descriptor. Move-only.
#pragma once

#include <unistd.h>

#include <utility>

namespace hw {

class UniqueFd {
 public:
  UniqueFd() = default;
  // Takes ownership of fd (-1 or any negative value means "none").
  explicit UniqueFd(int fd) noexcept : fd_(fd < 0 ? -1 : fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Gives up ownership without closing; the caller now owns the returned descriptor.
  [[nodiscard]] int release() noexcept { return std::exchange(fd_, -1); }

  // Closes the owned descriptor (if any) and takes ownership of fd. close() is not retried on
  // EINTR: on Linux the descriptor is released even then, and a retry could close a reused one.
  void reset(int fd = -1) noexcept {
    const int old = std::exchange(fd_, fd < 0 ? -1 : fd);
    if (old >= 0) ::close(old);
  }

 private:
  int fd_ = -1;
};

}  // namespace hw
