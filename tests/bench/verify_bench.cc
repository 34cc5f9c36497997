// P6: the in-process cost of the watchdog's signature verification (Verifier::Begin, Update,
// Finish for a github-signed body) next to OpenSSL's own HMAC-SHA256 on the same buffer:
// a pre-keyed EVP_MAC context duplicated per message (the fastest raw way the spec names),
// the one-shot HMAC() that re-keys every time, and one context re-initialised per message
// (EVP_MAC_init without a key). Times are this thread's CPU time (the median of ~2 ms
// batches, the five taken in turn), so a busy shared machine moves their ratios little. Prints one
// line per size:
//   size BYTES verify_ns N raw_dup_ns N raw_oneshot_ns N raw_reinit_ns N
//
// Usage: verify_bench SECRET_FILE [MILLISECONDS_PER_FIGURE=300] [SIZE...]
// (default sizes: 1024 and 1048576 bytes)
//
// For instruction counts (valgrind --tool=callgrind): VERIFY_BENCH_ONLY=verify|dup|oneshot|
// reinit|core runs only that figure VERIFY_BENCH_ITERS times (default 10000) at each size and
// prints nothing; two runs at different counts give the cost of one call by difference.
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <time.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "crypto/hmac.h"
#include "signature/header_list.h"
#include "signature/verifier.h"

namespace hw::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::string Hex(const unsigned char* data, std::size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

// This thread's CPU time in ns: on a shared machine, time spent preempted is not counted.
double ThreadCpuNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// The median time per call, in nanoseconds, of each of `fns`, measured side by side: batches
// of about 2 ms of each in turn (the order rotating every round) until `budget_ms` per
// function is spent. A neighbour that slows the machine for a while slows every function
// alike, instead of whichever one was being measured then (measured one after the other, the
// ratios of these figures moved by a third between runs on a busy machine).
// `next_round` runs before each round (not timed).
std::vector<double> NanosPerCallSideBySide(const std::vector<std::function<void()>>& fns,
                                           double budget_ms,
                                           const std::function<void(std::size_t)>& next_round) {
  const std::size_t n = fns.size();
  std::vector<std::size_t> batch(n, 1);
  for (std::size_t f = 0; f < n; ++f) {
    while (true) {
      const double t0 = ThreadCpuNs();
      for (std::size_t i = 0; i < batch[f]; ++i) fns[f]();
      if ((ThreadCpuNs() - t0) / 1e6 > 2 || batch[f] > (1u << 24)) break;
      batch[f] *= 2;
    }
  }
  std::vector<std::vector<double>> samples(n);
  const auto end =
      SteadyClock::now() + std::chrono::duration<double, std::milli>(budget_ms * double(n));
  for (std::size_t round = 0; round < 5 || SteadyClock::now() < end; ++round) {
    next_round(round);
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t f = (round + k) % n;
      const double t0 = ThreadCpuNs();
      for (std::size_t i = 0; i < batch[f]; ++i) fns[f]();
      samples[f].push_back((ThreadCpuNs() - t0) / static_cast<double>(batch[f]));
    }
    if (round > 5000) break;
  }
  std::vector<double> medians;
  for (std::vector<double>& s : samples) {
    std::sort(s.begin(), s.end());
    medians.push_back(s[s.size() / 2]);
  }
  return medians;
}

}  // namespace
}  // namespace hw::bench

int main(int argc, char** argv) {
  using namespace hw;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s SECRET_FILE [MS_PER_FIGURE] [SIZE...]\n", argv[0]);
    return 2;
  }
  const std::string secret_file = argv[1];
  const double budget_ms = argc > 2 ? std::atof(argv[2]) : 300.0;
  std::ifstream in(secret_file, std::ios::binary);
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!key.empty() && (key.back() == '\n' || key.back() == ' ')) key.pop_back();

  config::SignatureOptions options;
  options.schemes = {"github"};
  auto verifier = signature::Verifier::CreateWithSecretFile(options, nullptr, secret_file);
  if (!verifier) {
    std::fprintf(stderr, "verify_bench: %s\n", verifier.error().message.c_str());
    return 1;
  }

  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  EVP_MAC_CTX* keyed = EVP_MAC_CTX_new(mac);
  char digest_name[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(keyed, reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) !=
      1) {
    std::fprintf(stderr, "verify_bench: EVP_MAC_init failed\n");
    return 1;
  }

  std::vector<std::size_t> sizes;
  for (int i = 3; i < argc; ++i) sizes.push_back(std::strtoul(argv[i], nullptr, 10));
  if (sizes.empty()) sizes = {1024, 1024 * 1024};
  int status = 0;
  for (std::size_t size : sizes) {
    // The body moves between rounds to another place in its page (and cache line): where a
    // buffer lies against the stack and the contexts moves OpenSSL's time and the watchdog's
    // by up to a third (4 KiB aliasing), and a server's request bodies lie anywhere. Every
    // figure is measured at every place.
    std::string text(size, '\0');
    for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + i % 26);
    std::vector<char> room(size + 4096 + 64);
    std::string_view body = text;
    auto move_body = [&](std::size_t round) {
      // 528-byte steps: a new place each round, in both page and cache line (256 in all).
      const std::size_t offset = (round * 528) % 4096;
      std::copy(text.begin(), text.end(), room.begin() + static_cast<std::ptrdiff_t>(offset));
      body = std::string_view(room.data() + offset, size);
    };
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(body.data()), body.size(), md, &md_len);
    // The library's own header list (case-insensitive ASCII names, as the server compares).
    signature::HeaderList headers;
    headers.Add("X-Hub-Signature-256", "sha256=" + bench::Hex(md, md_len));
    signature::RequestHead head{"POST", "/", "", headers};

    // The verifier must accept the body, or the figure measures a rejection path.
    {
      auto check = (*verifier)->Begin(head);
      check->Update(body);
      if (check->Finish().outcome != signature::Outcome::kValid) {
        std::fprintf(stderr, "verify_bench: the verifier rejected a correctly signed body\n");
        status = 1;
      }
    }
    volatile int sink = 0;
    // As the server does: each request object keeps room for its check.
    signature::CheckStorage storage;
    auto verify = [&] {
      auto check = (*verifier)->Begin(head, &storage);
      if (check->NeedsBody()) check->Update(body);
      sink = sink + static_cast<int>(check->Finish().outcome);
    };
    // The watchdog's own HMAC (crypto::HmacKey: a copy of pre-keyed digest states), without
    // the verifier around it: the floor the verifier's own work adds to.
    auto core_key = crypto::HmacKey::Create(
        crypto::Algorithm::kSha256,
        std::span(reinterpret_cast<const std::uint8_t*>(key.data()), key.size()));
    auto core = [&] {
      crypto::Hmac hmac = core_key->Start();
      hmac.Update(body);
      std::array<std::uint8_t, crypto::kMaxMacSize> out;
      sink = sink + static_cast<int>(hmac.FinalInto(out)) + out[0];
    };
    auto dup = [&] {
      EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed);
      EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(body.data()), body.size());
      unsigned char out[EVP_MAX_MD_SIZE];
      std::size_t out_len = 0;
      EVP_MAC_final(ctx, out, &out_len, sizeof out);
      EVP_MAC_CTX_free(ctx);
      sink = sink + out[0];
    };
    // A context kept by the caller and re-initialised with the same key (EVP_MAC_init with
    // no key restores HMAC's inner/outer pads; nothing is allocated).
    EVP_MAC_CTX* reused = EVP_MAC_CTX_dup(keyed);
    auto reinit = [&] {
      EVP_MAC_init(reused, nullptr, 0, nullptr);
      EVP_MAC_update(reused, reinterpret_cast<const unsigned char*>(body.data()), body.size());
      unsigned char out[EVP_MAX_MD_SIZE];
      std::size_t out_len = 0;
      EVP_MAC_final(reused, out, &out_len, sizeof out);
      sink = sink + out[0];
    };
    auto oneshot = [&] {
      unsigned char out[EVP_MAX_MD_SIZE];
      unsigned int out_len = 0;
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(body.data()), body.size(), out, &out_len);
      sink = sink + out[0];
    };
    const std::vector<std::function<void()>> figures{verify, dup, oneshot, reinit, core};
    if (const char* only = std::getenv("VERIFY_BENCH_ONLY")) {
      const char* names[] = {"verify", "dup", "oneshot", "reinit", "core"};
      const auto found = std::find_if(std::begin(names), std::end(names),
                                      [&](const char* n) { return std::string_view(n) == only; });
      if (found == std::end(names)) {
        std::fprintf(stderr, "verify_bench: VERIFY_BENCH_ONLY=%s names no figure\n", only);
        EVP_MAC_CTX_free(reused);
        EVP_MAC_CTX_free(keyed);
        EVP_MAC_free(mac);
        return 2;
      }
      const char* iters_text = std::getenv("VERIFY_BENCH_ITERS");
      const unsigned long iters = iters_text ? std::strtoul(iters_text, nullptr, 10) : 10000;
      move_body(0);
      for (unsigned long i = 0; i < iters; ++i) figures[found - std::begin(names)]();
      EVP_MAC_CTX_free(reused);
      continue;
    }
    const std::vector<double> ns = bench::NanosPerCallSideBySide(figures, budget_ms, move_body);
    EVP_MAC_CTX_free(reused);
    const double verify_ns = ns[0], dup_ns = ns[1], oneshot_ns = ns[2], reinit_ns = ns[3],
                 core_ns = ns[4];
    std::printf(
        "size %zu verify_ns %.0f raw_dup_ns %.0f raw_oneshot_ns %.0f raw_reinit_ns %.0f "
        "core_ns %.0f\n",
        size, verify_ns, dup_ns, oneshot_ns, reinit_ns, core_ns);
  }
  EVP_MAC_CTX_free(keyed);
  EVP_MAC_free(mac);
  return status;
}
