// Body: a request body as received, kept in memory up to a limit and spooled to an unlinked
// file in TMPDIR beyond it, so a 100 MiB webhook never sits in memory. Written once by the
// server while it verifies, then read (possibly several times) by the executor.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/expected.h"

namespace hw {

class Body {
 public:
  // Bodies up to `memory_limit` bytes stay in memory; larger ones move to a file in `tmpdir`.
  Body(std::size_t memory_limit, std::string tmpdir);
  ~Body();
  Body(const Body&) = delete;
  Body& operator=(const Body&) = delete;

  // Appends received bytes. Fails (with a message naming TMPDIR) when the spool file cannot
  // be created or written, e.g. a full or read-only disk. Bytes already in Room() at its start
  // (received there) are kept where they are, not copied.
  Status Append(std::string_view chunk);
  // Makes room for a body announced as `expected` bytes (Content-Length) when it will stay in
  // memory, so appending never re-allocates and copies what arrived so far.
  void Reserve(std::size_t expected);
  // The memory reserved after the bytes appended so far (empty once spooled, or when nothing
  // was reserved): a transport may receive into it, then Append what it received from there.
  std::span<char> Room() {
    return fd_ < 0 ? std::span<char>(memory_.get() + size_, capacity_ - size_) : std::span<char>();
  }

  std::size_t size() const { return size_; }
  bool in_memory() const { return fd_ < 0; }
  // The whole body when in_memory(); empty otherwise.
  std::string_view memory() const {
    return fd_ < 0 ? std::string_view(memory_.get(), size_) : std::string_view();
  }

  // Copies up to `cap` bytes at `offset` into `buf`; returns the count (0 at the end), or -1
  // on a read error of the spool file. Thread-compatible: concurrent readers are fine.
  long ReadAt(std::size_t offset, char* buf, std::size_t cap) const;

 private:
  Status SpillToFile();
  void Grow(std::size_t capacity);  // to `capacity` bytes of memory, what is there kept

  std::size_t memory_limit_;
  std::string tmpdir_;
  // Not a std::string: bytes are received into the reserved part beyond the size (Room()),
  // and a reservation is not zero-filled first.
  std::unique_ptr<char[]> memory_;
  std::size_t capacity_ = 0;
  int fd_ = -1;
  std::size_t size_ = 0;
};

}  // namespace hw
