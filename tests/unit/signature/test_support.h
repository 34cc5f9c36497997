// Helpers the signature, secrets and command tests share: a temporary folder that removes
// itself, secret files in it, a verifier over one scheme and one request run through a
// Check (optionally in small chunks, as bodies arrive from the network).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "signature/header_list.h"
#include "signature/verifier.h"

namespace hw::test {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "hw_test_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string File(std::string_view name) const { return (path_ / name).string(); }
  // Writes `content` to `name` by writing a temporary file and renaming it over the old one,
  // so a reader never sees a half-written file.
  std::string Write(std::string_view name, std::string_view content) const {
    const std::string target = File(name);
    const std::string temporary = target + ".tmp";
    {
      std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
      out.write(content.data(), static_cast<std::streamsize>(content.size()));
    }
    std::filesystem::rename(temporary, target);
    return target;
  }

 private:
  std::filesystem::path path_;
};

// Options for one scheme reading secrets `names` under `dir`.
inline config::SignatureOptions OptionsFor(std::string scheme, const TempDir& dir,
                                           std::vector<std::string> names = {"webhook-secret"}) {
  config::SignatureOptions options;
  options.schemes = {std::move(scheme)};
  options.secret_names = std::move(names);
  options.secrets_path = dir.path().string();
  options.reload_interval = std::chrono::hours(1);  // tests reload with ReloadNow
  return options;
}

#ifdef HW_SOURCE_DIR  // unit tests only (the fuzz targets share this header)
// The README section that starts at the line `heading` ("### Schemes"), up to the next
// "### " heading; "" if there is none.
inline std::string ReadmeSection(std::string_view heading) {
  std::ifstream in(std::string(HW_SOURCE_DIR) + "/README.md");
  std::stringstream text;
  text << in.rdbuf();
  const std::string readme = text.str();
  const std::size_t start = readme.find("\n" + std::string(heading) + "\n");
  if (start == std::string::npos) return "";
  return readme.substr(start, readme.find("\n### ", start + 1) - start);
}
#endif

// Our scheme name for a vector's scheme in vectors.json (see vectors_test.cc for why).
inline std::string SchemeOfVector(const std::string& vector_scheme) {
  static const std::map<std::string, std::string> names = {
      {"github-sha256", "github"},
      {"meta-sha256", "meta"},
      {"gitlab-token", "gitlab"},
      {"gitlab-signing-token", "standard-webhooks"},
      {"hubspot-v3", "hubspot"},
      {"twitch-eventsub", "twitch"},
      {"discord-ed25519", "discord"},
      {"openfaas-faas-cli-sha256", "faas-cli"},
      {"openfaas-workshop-sha1", "faas-cli"},
      {"twilio-json", "twilio"},
  };
  const auto found = names.find(vector_scheme);
  return found == names.end() ? vector_scheme : found->second;
}

struct Sent {
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string method = "POST";
  std::string path = "/";
  std::string query;
};

// Runs one request through `verifier`, feeding the body in chunks of `chunk` bytes.
inline signature::Decision Run(const signature::Verifier& verifier, const Sent& sent,
                               std::size_t chunk = 7) {
  signature::HeaderList headers;
  for (const auto& [name, value] : sent.headers) headers.Add(name, value);
  const signature::RequestHead head{sent.method, sent.path, sent.query, headers};
  std::unique_ptr<signature::Check> check = verifier.Begin(head);
  if (check->NeedsBody()) {
    std::string_view rest = sent.body;
    while (!rest.empty()) {
      const std::size_t n = std::min(chunk, rest.size());
      check->Update(rest.substr(0, n));
      rest.remove_prefix(n);
    }
  }
  return check->Finish();
}

}  // namespace hw::test
