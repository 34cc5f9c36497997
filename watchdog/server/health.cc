#include "server/health.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <fmt/format.h>

namespace hw::server {

Status LockFile::Write() {
  int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Error{
        fmt::format("cannot write the lock file {}: {} (set TMPDIR to a writable folder, or "
                    "suppress_lock=true to run without it)",
                    path_, std::strerror(errno))};
  }
  ::close(fd);
  written_ = true;
  return Ok{};
}

void LockFile::Remove() {
  if (written_) {
    ::unlink(path_.c_str());
    written_ = false;
  }
}

int RunHealthcheck(const std::string& tmpdir) {
  struct stat st {};
  std::string path = tmpdir + "/.lock";
  if (::stat(path.c_str(), &st) == 0) return 0;
  std::puts("unable to find lock file.");
  return 1;
}

}  // namespace hw::server
