// Body: a request body as received, kept in memory up to a limit and spooled to an unlinked
// file in TMPDIR beyond it, so a 100 MiB webhook never sits in memory. Written once by the
// server while it verifies, then read (possibly several times) by the executor.
#pragma once

#include <cstddef>
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
  // be created or written, e.g. a full or read-only disk.
  Status Append(std::string_view chunk);
  // Makes room for a body announced as `expected` bytes (Content-Length) when it will stay in
  // memory, so appending never re-allocates and copies what arrived so far.
  void Reserve(std::size_t expected);

  std::size_t size() const { return size_; }
  bool in_memory() const { return fd_ < 0; }
  // The whole body when in_memory(); empty otherwise.
  std::string_view memory() const { return memory_; }

  // Copies up to `cap` bytes at `offset` into `buf`; returns the count (0 at the end), or -1
  // on a read error of the spool file. Thread-compatible: concurrent readers are fine.
  long ReadAt(std::size_t offset, char* buf, std::size_t cap) const;

 private:
  Status SpillToFile();

  std::size_t memory_limit_;
  std::string tmpdir_;
  std::string memory_;
  int fd_ = -1;
  std::size_t size_ = 0;
};

}  // namespace hw
