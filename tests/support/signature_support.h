// Helpers the signature, secrets and command tests share: secret files in a TempDir
// (support/temp_dir.h), a verifier over one scheme and one request run through a
// Check (optionally in small chunks, as bodies arrive from the network).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "signature/header_list.h"
#include "signature/verifier.h"
#include "support/eventually.h"
#include "support/temp_dir.h"

namespace hw::test {

// Options for one scheme reading secrets `names` under `dir`.
inline config::SignatureOptions OptionsFor(std::string scheme, const TempDir& dir,
                                           std::vector<std::string> names = {"webhook-secret"}) {
  config::SignatureOptions options;
  options.schemes = {std::move(scheme)};
  options.secret_names = std::move(names);
  options.secrets_path = dir.path();
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
  signature::CheckPtr check = verifier.Begin(head);
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
