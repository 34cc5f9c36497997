#include "common/body.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace hw {

Body::Body(std::size_t memory_limit, std::string tmpdir)
    : memory_limit_(memory_limit), tmpdir_(std::move(tmpdir)) {}

Body::~Body() {
  if (fd_ >= 0) ::close(fd_);
}

Status Body::SpillToFile() {
  int fd = ::open(tmpdir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // Filesystems without O_TMPFILE: create, then unlink at once.
    std::string path = tmpdir_ + "/.hmac-watchdog-body-XXXXXX";
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd >= 0) ::unlink(path.c_str());
  }
  if (fd < 0) {
    return Error{
        fmt::format("cannot spool request body to TMPDIR {}: {}", tmpdir_, std::strerror(errno))};
  }
  fd_ = fd;
  std::string pending = std::move(memory_);
  memory_.clear();
  memory_.shrink_to_fit();
  size_ = 0;
  return Append(pending);
}

void Body::Reserve(std::size_t expected) {
  if (fd_ < 0 && expected <= memory_limit_) memory_.reserve(expected);
}

Status Body::Append(std::string_view chunk) {
  if (fd_ < 0) {
    if (memory_.size() + chunk.size() <= memory_limit_) {
      memory_.append(chunk);
      size_ += chunk.size();
      return Ok{};
    }
    if (auto s = SpillToFile(); !s) return s;
  }
  const char* p = chunk.data();
  std::size_t left = chunk.size();
  while (left > 0) {
    ssize_t n = ::pwrite(fd_, p, left, static_cast<off_t>(size_));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error{
          fmt::format("cannot spool request body to TMPDIR {}: {}", tmpdir_, std::strerror(errno))};
    }
    p += n;
    left -= static_cast<std::size_t>(n);
    size_ += static_cast<std::size_t>(n);
  }
  return Ok{};
}

long Body::ReadAt(std::size_t offset, char* buf, std::size_t cap) const {
  if (offset >= size_) return 0;
  std::size_t n = std::min(cap, size_ - offset);
  if (fd_ < 0) {
    std::memcpy(buf, memory_.data() + offset, n);
    return static_cast<long>(n);
  }
  while (true) {
    ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    return static_cast<long>(r);
  }
}

}  // namespace hw
