#include "signature/hmac_scheme.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory_resource>
#include <utility>

#include "crypto/encoding.h"

namespace hw::signature {
namespace {

// One MAC a check runs: the key's states are copied once, straight into place.
struct Running {
  Running(crypto::Algorithm a, const crypto::HmacKey& key) : algorithm(a), hmac(key.Start()) {}
  crypto::Algorithm algorithm;
  crypto::Hmac hmac;
};

// Runs one MAC per (key, candidate algorithm) from the pre-keyed contexts: the prefix, then
// every body chunk, then the suffix; Finish compares in constant time.
class MacCheck final : public BodyCheck {
 public:
  // The running MACs are kept in `arena` too (the request's). The scheme's Parse fills plan()
  // in place; then Run starts the MACs.
  explicit MacCheck(std::pmr::memory_resource* arena) : running_(arena) {}
  MacPlan& plan() { return plan_; }

  void Run(std::span<const PreparedKey> keys) {
    // The distinct algorithms of the candidates (at most the four there are), in order.
    std::array<crypto::Algorithm, 4> algorithms{};
    std::size_t count = 0;
    for (const MacCandidate& c : plan_.candidates) {
      auto end = algorithms.begin() + static_cast<std::ptrdiff_t>(count);
      if (std::find(algorithms.begin(), end, c.algorithm) == end && count < algorithms.size()) {
        algorithms[count++] = c.algorithm;
      }
    }
    running_.reserve(count * keys.size());
    for (std::size_t i = 0; i < count; ++i) {
      for (const PreparedKey& key : keys) {
        const crypto::HmacKey* mac = key.Mac(algorithms[i]);
        if (mac == nullptr) continue;
        running_.emplace_back(algorithms[i], *mac).hmac.Update(plan_.prefix);
      }
    }
  }

  void Update(std::string_view chunk) override {
    for (Running& r : running_) r.hmac.Update(chunk);
  }

  Outcome Finish() override {
    bool valid = false;
    for (Running& r : running_) {
      r.hmac.Update(plan_.suffix);
      std::array<std::uint8_t, crypto::kMaxMacSize> computed;
      const std::size_t size = r.hmac.FinalInto(computed);
      if (size == 0) continue;
      const std::span<const std::uint8_t> mac(computed.data(), size);
      for (const MacCandidate& c : plan_.candidates) {
        // No early exit: every candidate is compared, in constant time.
        if (c.algorithm == r.algorithm && crypto::ConstantTimeEqual(mac, c.mac.view())) {
          valid = true;
        }
      }
    }
    return valid ? Outcome::kValid : Outcome::kMismatch;
  }

 private:
  MacPlan plan_;
  std::pmr::vector<Running> running_;
};

// With one key and algorithm, or two while a secret rotates, a check and its MACs fit in the
// room the Verifier keeps for them (alignment padding included).
static_assert(sizeof(MacCheck) + 2 * sizeof(Running) + 2 * alignof(std::max_align_t) <=
                  kMacCheckBytes,
              "kMacCheckBytes is the room a MacCheck and two running MACs take");
static_assert(alignof(MacCheck) <= alignof(std::max_align_t));

}  // namespace

crypto::Bytes ComputeMac(const PreparedKey& key, crypto::Algorithm algorithm,
                         std::string_view prefix, std::string_view body, std::string_view suffix) {
  const crypto::HmacKey* mac = key.Mac(algorithm);
  if (mac == nullptr) return {};
  crypto::Hmac hmac = mac->Start();
  hmac.Update(prefix);
  hmac.Update(body);
  hmac.Update(suffix);
  return hmac.Final();
}

Expected<PreparedKey> HmacScheme::Prepare(const secrets::Secret& secret) const {
  Expected<secrets::Secret> key = KeyOf(secret);
  if (!key) return key.error();
  PreparedKey prepared;
  for (crypto::Algorithm algorithm : algorithms_) {
    Expected<crypto::HmacKey> mac = crypto::HmacKey::Create(algorithm, key->Expose());
    if (!mac) return mac.error();
    prepared.macs.push_back(std::move(mac).value());
  }
  return prepared;
}

Started HmacScheme::Start(const Request& request, std::span<const PreparedKey> keys) const {
  // The check is made first, so the headers are parsed straight into its plan.
  BodyCheckPtr check = MakeCheck<MacCheck>(request, request.arena);
  auto& mac_check = static_cast<MacCheck&>(*check);
  MacPlan& plan = mac_check.plan();
  if (const Outcome parsed = Parse(request, plan); parsed != Outcome::kValid) {
    return Started{parsed, nullptr, {}};
  }
  std::string replay_key = std::move(plan.replay_key);
  bool keyed_on_signature = false;
  if (request.replay_cache && replay_key.empty()) {
    // No signed id: the identity of a delivery is what the sender signed, the MAC itself
    // (the same body and secret give the same value, whatever id header comes with it).
    replay_key = "mac:";
    for (const MacCandidate& c : plan.candidates)
      replay_key += crypto::EncodeHex(c.mac.view()) + ",";
    keyed_on_signature = true;
  }
  mac_check.Run(keys);
  // Filled member by member: as an aggregate, GCC zero-fills the whole 88 bytes first.
  Started started;
  started.check = std::move(check);
  started.replay_key = std::move(replay_key);
  started.keyed_on_signature = keyed_on_signature;
  return started;
}

Expected<std::vector<HeaderLine>> HmacScheme::Sign(const secrets::Secret& secret,
                                                   const SignInput& input) const {
  Expected<PreparedKey> key = Prepare(secret);
  if (!key) return key.error();
  return SignWith(*key, input);
}

}  // namespace hw::signature
