// A vector that keeps its first N elements in place and moves to the heap only beyond them:
// for the few items one request carries (a signature's candidates), read without allocating.
// The elements are contiguous either way. Append-only. T must be default-constructible and
// movable.
//
// The in-place room is raw storage: an element is constructed only when it is added, so an
// empty vector costs no zero-filling of N elements (a request's signature candidates are
// 80 bytes each, and most requests carry one). Elements are default-initialised (`new T`, not
// `new T()`): members without initialisers stay as the type leaves them, as in a local.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace hw {

template <typename T, std::size_t N>
class InlineVector {
 public:
  // User-provided, so even a value-initialised vector (`InlineVector<T, N>{}`) leaves its room
  // unfilled.
  InlineVector() {}  // NOLINT(modernize-use-equals-default): see above
  ~InlineVector() { DestroyInline(); }
  InlineVector(const InlineVector& other) { CopyFrom(other); }
  InlineVector& operator=(const InlineVector& other) {
    if (this != &other) {
      Clear();
      CopyFrom(other);
    }
    return *this;
  }
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "moving the elements to the heap, or with the vector, must not throw");
  // A moved-from vector is empty.
  InlineVector(InlineVector&& other) noexcept { MoveFrom(other); }
  InlineVector& operator=(InlineVector&& other) noexcept {
    if (this != &other) {
      Clear();
      MoveFrom(other);
    }
    return *this;
  }

  // A new default-initialised element at the end, to be filled in place.
  T& emplace_back() {
    if (heap_.empty() && size_ < N) {
      T* added = ::new (Room(size_)) T;
      ++size_;  // only once the element exists
      return *added;
    }
    if (heap_.empty()) {
      heap_.reserve(2 * N);
      for (std::size_t i = 0; i < size_; ++i) heap_.push_back(std::move(*Slot(i)));
      DestroyInlineElements();  // the heap now holds them all; size_ is unchanged
    }
    T& added = heap_.emplace_back();
    ++size_;
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
  // Where element i is or goes (no element need be there).
  void* Room(std::size_t i) { return inline_ + i * sizeof(T); }
  // Element i, which must be live.
  T* Slot(std::size_t i) { return std::launder(reinterpret_cast<T*>(Room(i))); }
  const T* Slot(std::size_t i) const {
    return std::launder(reinterpret_cast<const T*>(inline_ + i * sizeof(T)));
  }
  // The in-place room as T* without laundering (it may hold no element: an empty vector's).
  T* InlineData() { return reinterpret_cast<T*>(inline_); }
  const T* InlineData() const { return reinterpret_cast<const T*>(inline_); }
  T* data() { return heap_.empty() ? (size_ == 0 ? InlineData() : Slot(0)) : heap_.data(); }
  const T* data() const {
    return heap_.empty() ? (size_ == 0 ? InlineData() : Slot(0)) : heap_.data();
  }

  // Destroys the elements in the in-place room (there are size_ of them while heap_ is empty).
  void DestroyInlineElements() {
    for (std::size_t i = 0; i < size_; ++i) Slot(i)->~T();
  }
  void DestroyInline() {
    if (heap_.empty()) DestroyInlineElements();
  }
  void Clear() {
    DestroyInline();
    heap_.clear();
    size_ = 0;
  }
  // Into an empty vector; a copy that throws leaves it empty again (the constructor's caller
  // never runs the destructor of a vector it could not make).
  void CopyFrom(const InlineVector& other) {
    try {
      for (const T& element : other) emplace_back() = element;
    } catch (...) {
      Clear();
      throw;
    }
  }
  void MoveFrom(InlineVector& other) noexcept {
    if (!other.heap_.empty()) {
      heap_ = std::move(other.heap_);
      other.heap_.clear();
      size_ = other.size_;
    } else {
      for (std::size_t i = 0; i < other.size_; ++i) {
        ::new (Room(i)) T(std::move(*other.Slot(i)));
        ++size_;
      }
      other.DestroyInlineElements();
    }
    other.size_ = 0;
  }

  alignas(T) unsigned char inline_[N * sizeof(T)];  // size_ elements while heap_ is empty
  std::size_t size_ = 0;
  std::vector<T> heap_;  // all the elements, once there are more than N
};

}  // namespace hw
