#include "signature/hmac_scheme.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory_resource>
#include <utility>

#include "crypto/encoding.h"

namespace hw::signature {
namespace {

class MacCheck final : public BodyCheck {
 public:
  MacCheck(MacPlan plan, std::span<const PreparedKey> keys) : plan_(std::move(plan)) {
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
        if (c.algorithm == r.algorithm && crypto::ConstantTimeEqual(mac, c.mac)) valid = true;
      }
    }
    return valid ? Outcome::kValid : Outcome::kMismatch;
  }

 private:
  struct Running {
    // The key's states are copied once, straight into place.
    Running(crypto::Algorithm a, const crypto::HmacKey& key) : algorithm(a), hmac(key.Start()) {}
    crypto::Algorithm algorithm;
    crypto::Hmac hmac;
  };
  MacPlan plan_;
  // One key and algorithm (two while a secret rotates) fit here: no allocation per request.
  alignas(Running) std::array<std::byte, 2 * sizeof(Running) + 64> arena_;
  std::pmr::monotonic_buffer_resource resource_{arena_.data(), arena_.size()};
  std::pmr::vector<Running> running_{&resource_};
};

}  // namespace

std::unique_ptr<BodyCheck> StartMacCheck(MacPlan plan, std::span<const PreparedKey> keys) {
  return std::make_unique<MacCheck>(std::move(plan), keys);
}

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
  Parsed parsed = Parse(request);
  if (const Outcome* decided = std::get_if<Outcome>(&parsed)) return Started{*decided, nullptr, {}};
  MacPlan& plan = std::get<MacPlan>(parsed);
  std::string replay_key = std::move(plan.replay_key);
  bool keyed_on_signature = false;
  if (request.replay_cache && replay_key.empty()) {
    // No signed id: the identity of a delivery is what the sender signed, the MAC itself
    // (the same body and secret give the same value, whatever id header comes with it).
    replay_key = "mac:";
    for (const MacCandidate& c : plan.candidates) replay_key += crypto::EncodeHex(c.mac) + ",";
    keyed_on_signature = true;
  }
  return Started{Outcome::kMismatch, StartMacCheck(std::move(plan), keys), std::move(replay_key),
                 keyed_on_signature};
}

Expected<std::vector<HeaderLine>> HmacScheme::Sign(const secrets::Secret& secret,
                                                   const SignInput& input) const {
  Expected<PreparedKey> key = Prepare(secret);
  if (!key) return key.error();
  return SignWith(*key, input);
}

}  // namespace hw::signature
