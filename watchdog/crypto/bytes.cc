#include "crypto/bytes.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace hw::crypto {

bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  // The differences of every word are ORed together, whatever they are, and only the total
  // is tested: CRYPTO_memcmp's method, eight bytes at a time (a MAC is compared on every
  // request, and CRYPTO_memcmp's byte loop cost 25 ns of a 1 KiB verification). The empty
  // asm makes the running total opaque, so the compiler cannot stop at the first difference.
  std::uint64_t diff = 0;
  std::size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    std::uint64_t x = 0;
    std::uint64_t y = 0;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    diff |= x ^ y;
    __asm__("" : "+r"(diff));
  }
  for (; i < a.size(); ++i) {
    diff |= static_cast<std::uint64_t>(a[i] ^ b[i]);
    __asm__("" : "+r"(diff));
  }
  return diff == 0;
}

void Cleanse(void* data, std::size_t size) {
  // glibc's explicit_bzero: a full-speed memset the compiler may not drop (OPENSSL_cleanse
  // does the same through a volatile pointer, several times slower on the per-request path).
  if (data != nullptr && size > 0) ::explicit_bzero(data, size);
}

Bytes RandomBytes(std::size_t size) {
  Bytes bytes(size);
  if (size > 0 && RAND_bytes(bytes.data(), static_cast<int>(size)) != 1) return {};
  return bytes;
}

SecureBuffer::SecureBuffer(std::size_t size) {
  if (size == 0) return;
  const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t mapped = (size + page - 1) / page * page;
  void* pages = ::mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (pages == MAP_FAILED) throw std::bad_alloc();
  // Best effort: a kernel without MADV_DONTDUMP (before 3.4) still gets wiped memory.
  (void)::madvise(pages, mapped, MADV_DONTDUMP);
  data_ = static_cast<std::uint8_t*>(pages);
  size_ = size;
  mapped_ = mapped;
}

SecureBuffer::~SecureBuffer() { Release(); }

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    mapped_ = std::exchange(other.mapped_, 0);
  }
  return *this;
}

void SecureBuffer::Release() {
  if (data_ == nullptr) return;
  Cleanse(data_, mapped_);
  ::munmap(data_, mapped_);
  data_ = nullptr;
  size_ = 0;
  mapped_ = 0;
}

}  // namespace hw::crypto
