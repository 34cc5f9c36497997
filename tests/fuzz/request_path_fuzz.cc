// Drives the whole request pipeline in process (head checks, the path decoded once, header
// filtering, verification while the body is read, limiter, executor) with random methods,
// targets, headers and bodies against the github scheme, an allow-list entry and a recording
// executor. Invariants: the executor runs only for a request carrying the correct signature
// of its body, or for an exact allow-list match on the path it receives; it never sees a
// header name with '_' nor an X-Webhook-Verified the watchdog did not set; a correctly
// signed, well-formed request does run.
#include <strings.h>
#include <unistd.h>
#include "support/openssl_signature.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/clock.h"
#include "config/config.h"
#include "executor/executor.h"
#include "metrics/metrics.h"
#include "server/health.h"
#include "server/pipeline.h"
#include "signature/verifier.h"

namespace {

constexpr char kSecret[] = "fuzz-secret";

class RecordingExecutor final : public hw::executor::Executor {
 public:
  hw::executor::FunctionResponse Invoke(const hw::executor::FunctionRequest& request) override {
    ++calls;
    std::string body;
    char buf[4096];
    for (std::size_t off = 0;;) {
      long n = request.body.ReadAt(off, buf, sizeof buf);
      if (n <= 0) break;
      body.append(buf, static_cast<std::size_t>(n));
      off += static_cast<std::size_t>(n);
    }
    last_body = body;
    last_method = std::string(request.method);
    last_path = std::string(request.path);
    verified_headers = 0;
    underscore_headers = 0;
    for (const auto& h : request.headers) {
      if (strcasecmp(h.name.c_str(), "X-Webhook-Verified") == 0) ++verified_headers;
      if (h.name.find('_') != std::string::npos) ++underscore_headers;
    }
    hw::executor::FunctionResponse r;
    r.status = 200;
    return r;
  }
  int calls = 0;
  std::string last_body;
  std::string last_method;
  std::string last_path;
  int verified_headers = 0;
  int underscore_headers = 0;
};

std::string ExpectedSignature(const std::string& body) {
  return hw::test::OpenSslGithubSignature(std::string_view(kSecret, sizeof kSecret - 1), body);
}

struct World {
  hw::config::Config config;
  std::unique_ptr<hw::signature::Verifier> verifier;
  hw::metrics::Metrics metrics;
  hw::server::Health health{0};

  World() {
    auto dir = std::filesystem::temp_directory_path() / ("hw-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "webhook-secret") << kSecret;
    config.max_body_bytes = 64 * 1024;
    config.body_memory_bytes = 16 * 1024;
    config.signature.schemes = {"github"};
    config.signature.allow_unsigned = {{"GET", "/public"}};
    config.signature.secrets_path = dir.string();
    config.signature.reload_interval = std::chrono::hours(1);
    auto v = hw::signature::Verifier::Create(config.signature, std::make_shared<hw::SystemClock>());
    if (!v) {
      std::fprintf(stderr, "verifier: %s\n", v.error().message.c_str());
      std::abort();
    }
    verifier = std::move(*v);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World world;
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  // "METHOD PATH\nName: value\n...\n\nbody"
  auto blank = text.find("\n\n");
  std::string head = text.substr(0, blank);
  std::string body = blank == std::string::npos ? "" : text.substr(blank + 2);
  std::vector<hw::executor::Header> headers;
  std::string method = "POST";
  std::string target = "/";
  std::size_t pos = 0;
  bool first = true;
  while (pos <= head.size()) {
    auto eol = head.find('\n', pos);
    std::string line = head.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
    if (first) {
      auto space = line.find(' ');
      if (space != std::string::npos) {
        method = line.substr(0, space);
        target = line.substr(space + 1);
      }
      first = false;
    } else if (auto colon = line.find(':'); colon != std::string::npos) {
      headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
    }
    if (eol == std::string::npos) break;
    pos = eol + 1;
  }
  const std::string expected = ExpectedSignature(body);
  if (flags & 1) headers.push_back({"X-Hub-Signature-256", expected});
  if (flags & 2) headers.push_back({"X-Webhook-Verified", "github"});

  RecordingExecutor executor;
  hw::server::Pipeline pipeline(world.config, *world.verifier, executor, world.metrics,
                                world.health);
  hw::server::RequestHead head_in{method, target, "127.0.0.1", headers, !body.empty()};
  auto begun = pipeline.Begin(head_in);
  int signature_headers = 0;
  bool carries_expected = false;
  for (const auto& h : headers) {
    if (strcasecmp(h.name.c_str(), "X-Hub-Signature-256") == 0) {
      ++signature_headers;
      std::string v = h.value;
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
      carries_expected = carries_expected || v == expected;
    }
  }
  if (begun.request) {
    const std::size_t split = (flags >> 2) % (body.size() + 1);
    hw::server::BodyReader read_body = [&](const std::function<bool(std::string_view)>& sink,
                                           hw::Body& into) {
      // Deliver in two chunks at a fuzzed split point; the second received into the body's
      // room when it fits there, as the server does.
      if (!sink(std::string_view(body).substr(0, split))) return hw::server::ReadResult::kError;
      std::string_view rest = std::string_view(body).substr(split);
      if (std::span<char> room = into.Room(); (flags & 0x80) != 0 && room.size() >= rest.size()) {
        std::copy(rest.begin(), rest.end(), room.begin());
        rest = std::string_view(room.data(), rest.size());
      }
      if (!sink(rest)) return hw::server::ReadResult::kError;
      return hw::server::ReadResult::kOk;
    };
    auto result = pipeline.Handle(*begun.request, read_body);
    if (result.holds_slot) world.health.Release();
    const bool allow_listed = executor.last_method == "GET" && executor.last_path == "/public";
    if (executor.calls > 0 && !carries_expected && !allow_listed) __builtin_trap();  // forged ran
    if (executor.calls > 0 && executor.last_body != body) __builtin_trap();
    if (executor.calls > 0 && executor.underscore_headers != 0) __builtin_trap();
    if (executor.calls > 0 &&
        (executor.verified_headers > 1 || (executor.verified_headers == 1 && !carries_expected))) {
      __builtin_trap();  // an X-Webhook-Verified the watchdog did not set
    }
    if (executor.calls > 0 && executor.last_path != begun.request->path()) __builtin_trap();
  }
  const bool well_formed_signed = (flags & 1) && signature_headers == 1 && !begun.rejection;
  if (well_formed_signed && begun.request && executor.calls == 0) __builtin_trap();  // refused
  if (begun.rejection && executor.calls != 0) __builtin_trap();
  return 0;
}
