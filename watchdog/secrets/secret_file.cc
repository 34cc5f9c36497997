#include "secrets/secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "crypto/bytes.h"

namespace hw::secrets {
namespace {

class UniqueFd {
 public:
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Wipes a read buffer when it goes out of scope, whatever path leaves the function.
struct WipedBuffer {
  std::vector<std::uint8_t> bytes;
  ~WipedBuffer() { crypto::Cleanse(bytes.data(), bytes.size()); }
};

Error FileError(const std::string& path, std::string_view what) {
  return Error{"secret file " + path + ": " + std::string(what)};
}

// faas-cli local-run writes .secrets as root with mode 0700 while the templates run as
// `app`: say what fixes it, not just "Permission denied".
Error PermissionError(const std::string& path) {
  return FileError(path, "permission denied reading it as uid " + std::to_string(::geteuid()) +
                             ": make the file (and its folders) readable by the function's "
                             "user, e.g. chmod -R a+rX on the folder that holds the secrets "
                             "(faas-cli local-run: chmod -R a+rX .secrets)");
}

bool IsDirectory(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode);
}

}  // namespace

Status CheckSecretName(std::string_view name) {
  if (name.empty()) return Error{"secret name is empty: expected a file name under secrets_path"};
  if (name.find('/') != std::string_view::npos || name.find("..") != std::string_view::npos) {
    return Error{"secret name \"" + std::string(name) +
                 "\" is not a plain file name (no '/' or '..' allowed)"};
  }
  return Ok{};
}

std::string ResolveSecretsDirectory(const std::string& configured, const std::string& fallback) {
  if (IsDirectory(configured)) return configured;
  if (IsDirectory(fallback)) return fallback;
  return configured;
}

Expected<Secret> ReadSecretFile(const std::string& path, bool raw) {
  // O_NONBLOCK: opening a FIFO (or a device) for reading would otherwise wait for a writer
  // forever, hanging the reload thread. Only a regular file is read (the fstat below), and
  // for one O_NONBLOCK changes nothing.
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (fd.get() < 0) {
    if (errno == ENOENT) return FileError(path, "does not exist");
    if (errno == EACCES) return PermissionError(path);
    return FileError(path, std::string("cannot be opened (") + std::strerror(errno) + ")");
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) {
    return FileError(path, std::string("cannot be examined (") + std::strerror(errno) + ")");
  }
  if (S_ISDIR(info.st_mode)) return FileError(path, "is a directory, expected a file");
  if (!S_ISREG(info.st_mode)) {
    return FileError(path, S_ISFIFO(info.st_mode) ? "is a FIFO, expected a regular file"
                                                  : "is not a regular file");
  }

  WipedBuffer buffer;
  buffer.bytes.resize(kMaxSecretFileBytes + 1);
  std::size_t size = 0;
  while (size < buffer.bytes.size()) {
    const ssize_t n = ::read(fd.get(), buffer.bytes.data() + size, buffer.bytes.size() - size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return FileError(path, std::string("cannot be read (") + std::strerror(errno) + ")");
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  if (size > kMaxSecretFileBytes) return FileError(path, "is larger than 64 KiB");
  if (!raw) {
    while (size > 0) {
      const std::uint8_t c = buffer.bytes[size - 1];
      if (c != '\r' && c != '\n' && c != ' ' && c != '\t') break;
      --size;
    }
  }
  if (size == 0) {
    return FileError(path, raw ? "is empty" : "is empty (after trimming trailing whitespace)");
  }
  return Secret(std::span<const std::uint8_t>(buffer.bytes.data(), size));
}

}  // namespace hw::secrets
