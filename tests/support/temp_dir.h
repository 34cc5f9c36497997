// TempDir: a folder under TMPDIR for one test, removed with everything in it when the test
// ends (files a test made unreadable included). The one copy the unit, integration and fuzz
// tests share.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace hw::test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "hw-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    namespace fs = std::filesystem;
    std::error_code ec;
    // Make everything removable again (tests chmod files and folders to 000).
    for (auto it = fs::recursive_directory_iterator(path_, ec); !ec && it != fs::end(it);
         it.increment(ec)) {
      fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
    }
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // The path of `name` inside the folder (nothing is created).
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }
  // Writes `content` to `name` (creating the folders on its way) by writing a temporary file
  // and renaming it over the old one, so a reader never sees a half-written file. Returns the
  // file's path.
  std::string Write(std::string_view name, std::string_view content) const {
    const std::string target = File(name);
    std::filesystem::create_directories(std::filesystem::path(target).parent_path());
    const std::string temporary = target + ".tmp";
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
      if (!out) throw std::runtime_error("cannot write " + temporary);
    }
    std::filesystem::rename(temporary, target);
    return target;
  }

 private:
  std::string path_;
};

}  // namespace hw::test
