// A memory resource over a fixed buffer: allocation bumps a pointer, and what does not fit
// comes from the heap (new/delete). Deallocating a piece of the buffer does nothing; a heap
// piece is freed at once. Unlike std::pmr::monotonic_buffer_resource it keeps no list of
// chunks, so it has nothing to release when destroyed (one request's check is made and
// destroyed per request: that release was about 8 ns of it). Not thread-safe; the buffer must
// outlive everything allocated from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory_resource>
#include <span>

namespace hw {

class BumpArena final : public std::pmr::memory_resource {
 public:
  explicit BumpArena(std::span<std::byte> buffer)
      : begin_(buffer.data()), next_(buffer.data()), end_(buffer.data() + buffer.size()) {}
  BumpArena(const BumpArena&) = delete;
  BumpArena& operator=(const BumpArena&) = delete;

  // Bytes of the buffer still free (before alignment).
  std::size_t left() const { return static_cast<std::size_t>(end_ - next_); }

 private:
  void* do_allocate(std::size_t bytes, std::size_t align) override {
    // At least one byte, so no piece starts at end_ (outside the buffer, to deallocate).
    bytes = bytes == 0 ? 1 : bytes;
    const auto at = reinterpret_cast<std::uintptr_t>(next_);
    const std::uintptr_t aligned = (at + align - 1) & ~(std::uintptr_t{align} - 1);
    const std::size_t skip = aligned - at;
    if (skip <= left() && bytes <= left() - skip) {
      next_ += skip + bytes;
      return reinterpret_cast<void*>(aligned);
    }
    return std::pmr::new_delete_resource()->allocate(bytes, align);
  }
  void do_deallocate(void* p, std::size_t bytes, std::size_t align) override {
    auto* piece = static_cast<std::byte*>(p);
    // std::less gives a total order even across unrelated objects.
    if (!std::less<const std::byte*>()(piece, begin_) &&
        std::less<const std::byte*>()(piece, end_)) {
      return;  // in the buffer: given back with it
    }
    std::pmr::new_delete_resource()->deallocate(p, bytes == 0 ? 1 : bytes, align);
  }
  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::byte* begin_;
  std::byte* next_;
  std::byte* end_;
};

}  // namespace hw
