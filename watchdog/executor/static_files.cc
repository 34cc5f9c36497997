#include "executor/static_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "common/unique_fd.h"
#include "logging/log.h"

namespace hw::executor {
namespace {

constexpr std::size_t kChunk = 64 * 1024;

class FileBody final : public BodyStream {
 public:
  FileBody(UniqueFd fd, std::size_t size) : fd_(std::move(fd)), size_(size) {}
  bool Pump(const std::function<bool(std::string_view)>& write) override {
    std::string buf(kChunk, '\0');
    for (std::size_t off = 0; off < size_;) {
      ssize_t n =
          ::pread(fd_.get(), buf.data(), std::min(kChunk, size_ - off), static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      if (!write(std::string_view(buf.data(), static_cast<std::size_t>(n)))) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  UniqueFd fd_;
  std::size_t size_;
};

FunctionResponse NotFound() { return InternalResponse(404, "Not Found\n"); }

}  // namespace

std::string ContentTypeFor(std::string_view path) {
  auto dot = path.rfind('.');
  auto slash = path.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash)) {
    return "application/octet-stream";
  }
  std::string ext(path.substr(dot + 1));
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, const char*> kTypes[] = {
      {"html", "text/html; charset=utf-8"},
      {"htm", "text/html; charset=utf-8"},
      {"css", "text/css; charset=utf-8"},
      {"js", "text/javascript; charset=utf-8"},
      {"mjs", "text/javascript; charset=utf-8"},
      {"json", "application/json"},
      {"txt", "text/plain; charset=utf-8"},
      {"md", "text/markdown; charset=utf-8"},
      {"xml", "application/xml"},
      {"svg", "image/svg+xml"},
      {"png", "image/png"},
      {"jpg", "image/jpeg"},
      {"jpeg", "image/jpeg"},
      {"gif", "image/gif"},
      {"webp", "image/webp"},
      {"ico", "image/x-icon"},
      {"wasm", "application/wasm"},
      {"pdf", "application/pdf"},
      {"woff", "font/woff"},
      {"woff2", "font/woff2"},
      {"map", "application/json"},
      {"csv", "text/csv; charset=utf-8"},
  };
  for (const auto& [e, type] : kTypes) {
    if (ext == e) return type;
  }
  return "application/octet-stream";
}

StaticExecutor::StaticExecutor(std::string static_path) : static_path_(std::move(static_path)) {}

Status StaticExecutor::Start() {
  char resolved[PATH_MAX];
  if (::realpath(static_path_.c_str(), resolved) == nullptr) {
    return Error{fmt::format("static_path {}: {}", static_path_, std::strerror(errno))};
  }
  struct stat st {};
  if (::stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Error{fmt::format("static_path {} is not a directory", static_path_)};
  }
  root_ = resolved;
  return Ok{};
}

FunctionResponse StaticExecutor::Invoke(const FunctionRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") {
    auto r = InternalResponse(405, "Method Not Allowed\n");
    r.headers.push_back({"Allow", "GET, HEAD"});
    return r;
  }
  std::string_view path = request.path;
  if (path.empty() || path.front() != '/' || path.find('\0') != std::string_view::npos ||
      path.find('\\') != std::string_view::npos) {
    return NotFound();
  }
  // Refuse any ".." segment outright (the path is already percent-decoded).
  for (std::size_t i = 0; i < path.size();) {
    auto next = path.find('/', i + 1);
    auto segment =
        path.substr(i + 1, next == std::string_view::npos ? std::string_view::npos : next - i - 1);
    if (segment == "..") return NotFound();
    if (next == std::string_view::npos) break;
    i = next;
  }
  std::string candidate = root_ + std::string(path);
  if (!candidate.empty() && candidate.back() == '/') candidate += "index.html";
  char resolved[PATH_MAX];
  if (::realpath(candidate.c_str(), resolved) == nullptr) return NotFound();
  std::string real(resolved);
  if (real != root_ && real.rfind(root_ + "/", 0) != 0) {
    log::Warn(fmt::format("static: {} resolves outside static_path: refused", request.path));
    return NotFound();
  }
  struct stat st {};
  if (::stat(real.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    if (request.path.back() != '/') {
      FunctionResponse r = InternalResponse(301, "");
      r.headers.push_back({"Location", std::string(request.path) + "/"});
      return r;
    }
    real += "/index.html";
  }
  UniqueFd fd(::open(real.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return NotFound();
  FunctionResponse r;
  r.status = 200;
  r.headers.push_back({"Content-Type", ContentTypeFor(real)});
  auto size = static_cast<std::size_t>(st.st_size);
  r.stream_length = size;
  r.stream = std::make_unique<FileBody>(std::move(fd), size);
  return r;
}

}  // namespace hw::executor
