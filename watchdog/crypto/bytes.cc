#include "crypto/bytes.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <new>
#include <utility>

#include <openssl/crypto.h>
#include <openssl/rand.h>

namespace hw::crypto {

bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
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
