#include "common/body.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include <fmt/format.h>

namespace hw {
namespace {

constexpr std::size_t kFirstCapacity = 4096;  // a body of unannounced length starts with this

}  // namespace

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
  const std::unique_ptr<char[]> pending = std::move(memory_);
  const std::size_t pending_size = size_;
  capacity_ = 0;
  size_ = 0;
  return Append(std::string_view(pending.get(), pending_size));
}

void Body::Grow(std::size_t capacity) {
  auto grown = std::make_unique_for_overwrite<char[]>(capacity);
  if (size_ > 0) std::memcpy(grown.get(), memory_.get(), size_);
  memory_ = std::move(grown);
  capacity_ = capacity;
}

void Body::Reserve(std::size_t expected) {
  if (fd_ < 0 && expected <= memory_limit_ && expected > capacity_) Grow(expected);
}

Status Body::Append(std::string_view chunk) {
  if (chunk.empty()) return Ok{};
  if (fd_ < 0) {
    const std::size_t needed = size_ + chunk.size();
    if (chunk.data() == memory_.get() + size_ && needed <= capacity_) {
      size_ = needed;  // received into Room(): already in place
      return Ok{};
    }
    // Any other piece from inside this buffer is copied out first: growing or spooling frees
    // the buffer it lies in.
    const auto base = reinterpret_cast<std::uintptr_t>(memory_.get());
    const auto at = reinterpret_cast<std::uintptr_t>(chunk.data());
    if (base != 0 && at >= base && at < base + capacity_) {
      const std::string copy(chunk);
      return Append(copy);
    }
    if (needed <= memory_limit_) {
      if (needed > capacity_) {
        Grow(std::min(memory_limit_, std::max({needed, capacity_ * 2, kFirstCapacity})));
      }
      std::memcpy(memory_.get() + size_, chunk.data(), chunk.size());
      size_ = needed;
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
    std::memcpy(buf, memory_.get() + offset, n);
    return static_cast<long>(n);
  }
  while (true) {
    ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    return static_cast<long>(r);
  }
}

}  // namespace hw
