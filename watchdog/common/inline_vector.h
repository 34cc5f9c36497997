// A vector that keeps its first N elements in place and moves to the heap only beyond them:
// for the few items one request carries (a signature's candidates), read without allocating.
// The elements are contiguous either way. Append-only. T must be default-constructible and
// movable.
#pragma once

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

namespace hw {

template <typename T, std::size_t N>
class InlineVector {
 public:
  InlineVector() = default;
  InlineVector(const InlineVector&) = default;
  InlineVector& operator=(const InlineVector&) = default;
  // A moved-from vector is empty (a plain move of the members would leave it with a size
  // and no heap elements).
  InlineVector(InlineVector&& other) noexcept { *this = std::move(other); }
  InlineVector& operator=(InlineVector&& other) noexcept {
    if (this != &other) {
      inline_ = std::move(other.inline_);
      heap_ = std::move(other.heap_);
      size_ = other.size_;
      other.heap_.clear();
      other.size_ = 0;
    }
    return *this;
  }
  // A new default-constructed element at the end, to be filled in place.
  T& emplace_back() {
    if (heap_.empty() && size_ < N) return inline_[size_++];  // never used before: still new
    if (heap_.empty()) {
      heap_.reserve(2 * N);
      for (std::size_t i = 0; i < size_; ++i) heap_.push_back(std::move(inline_[i]));
    }
    T& added = heap_.emplace_back();
    ++size_;  // only once the element exists
    return added;
  }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T* begin() { return data(); }
  T* end() { return data() + size_; }
  const T* begin() const { return data(); }
  const T* end() const { return data() + size_; }
  T& front() { return *data(); }
  const T& front() const { return *data(); }

 private:
  T* data() { return heap_.empty() ? inline_.data() : heap_.data(); }
  const T* data() const { return heap_.empty() ? inline_.data() : heap_.data(); }

  std::array<T, N> inline_{};
  std::size_t size_ = 0;
  std::vector<T> heap_;  // all the elements, once there are more than N
};

}  // namespace hw
