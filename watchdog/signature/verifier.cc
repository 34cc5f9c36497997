#include "signature/verifier.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <memory_resource>
#include <mutex>
#include <optional>
#include <set>
#include <utility>

#include "common/bump_arena.h"
#include "common/strings.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "logging/log.h"
#include "secrets/secret.h"
#include "secrets/secret_file.h"
#include "secrets/secret_watcher.h"
#include "signature/header_values.h"
#include "signature/hmac_scheme.h"
#include "signature/registry.h"
#include "signature/scheme.h"

namespace hw::signature {
namespace {

// The keys every configured scheme uses right now: rebuilt at each (re)load, never changed
// afterwards. A request holds the snapshot it started with.
struct Snapshot {
  std::vector<std::vector<PreparedKey>> keys;  // per configured scheme, one per secret file
};

std::string ValidNamesText() {
  std::string text;
  for (std::string_view name : SchemeNames()) {
    text.append(name);
    text.append(", ");
  }
  return text + "none";
}

// True when both paths name the same file: the same text, or (through links) the same inode.
bool SameFile(const std::string& a, const std::string& b) {
  if (a == b) return true;
  struct stat sa {};
  struct stat sb {};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
         sa.st_ino == sb.st_ino;
}

// hmac_secret_<key>: the key is the scheme name with '-' written as '_'.
std::string SecretKeyOf(std::string_view scheme) {
  std::string key(scheme);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

}  // namespace

// The replay store and what a claim needs to know (null store: replay protection off).
struct ReplayContext {
  std::shared_ptr<replay::Store> store;
  std::string prefix;                          // "hw:replay:<namespace>:"
  std::chrono::milliseconds timestamp_window;  // signed ids of timestamped schemes
  std::chrono::milliseconds dedupe_window;     // keys on the signature
  std::chrono::milliseconds claim_ttl{0};      // while the function runs; 0 = the window
  bool fail_open = false;
  mutable std::atomic<bool> open_episode{false};  // fail-open warning logged for this outage
};

namespace {

class ClaimImpl final : public Claim {
 public:
  ClaimImpl(std::shared_ptr<replay::Store> store, std::string key, std::string token,
            std::chrono::milliseconds window)
      : store_(std::move(store)), key_(std::move(key)), token_(std::move(token)), window_(window) {}
  ~ClaimImpl() override { Settle(false); }
  void Settle(bool success) override {
    // On a front loop's thread: through its lane, never waiting.
    if (replay::StoreLane* lane = replay::CurrentLoopLane()) {
      SettleOn(success, *lane);
      return;
    }
    if (settled_.exchange(true)) return;
    if (success) {
      store_->Keep(key_, token_, window_);
    } else {
      store_->Release(key_, token_);
    }
  }
  void SettleOn(bool success, replay::StoreLane& lane) override {
    if (settled_.exchange(true)) return;
    if (success) {
      lane.Keep(key_, token_, window_);
    } else {
      lane.Release(key_, token_);
    }
  }

 private:
  std::shared_ptr<replay::Store> store_;
  std::string key_, token_;
  std::chrono::milliseconds window_;
  std::atomic<bool> settled_{false};
};

class AnySchemeCheck final : public Check {
 public:
  AnySchemeCheck(std::shared_ptr<const Snapshot> snapshot,
                 std::shared_ptr<const ReplayContext> replay)
      : snapshot_(std::move(snapshot)), replay_(std::move(replay)) {
    entries_.reserve(2);  // the whole arena: a third entry moves them to the heap
  }

  // A check made in `storage` when given, else on the heap.
  static CheckPtr Make(CheckStorage* storage, std::shared_ptr<const Snapshot> snapshot,
                       std::shared_ptr<const ReplayContext> replay) {
    if (storage == nullptr) {
      return CheckPtr(new AnySchemeCheck(std::move(snapshot), std::move(replay)), {true});
    }
    return CheckPtr(new (storage->bytes) AnySchemeCheck(std::move(snapshot), std::move(replay)),
                    {false});
  }

  static CheckPtr Decided(CheckStorage* storage, Decision decision) {
    CheckPtr check = Make(storage, nullptr, nullptr);
    static_cast<AnySchemeCheck&>(*check).result_ = decision;
    return check;
  }

  void Add(std::string_view scheme, Started started) {
    entries_.push_back(Entry{scheme, started.outcome, std::move(started.check),
                             std::move(started.replay_key), started.keyed_on_signature});
  }

  // After every present scheme was added: decides now whatever the headers decided.
  void Seal(std::string_view missing_scheme) {
    if (entries_.empty()) {
      result_ = Decision{Outcome::kMissing, missing_scheme};
      return;
    }
    const bool header_valid = std::any_of(entries_.begin(), entries_.end(), [](const Entry& e) {
      return !e.check && e.outcome == Outcome::kValid;
    });
    needs_body_ = !header_valid && std::any_of(entries_.begin(), entries_.end(),
                                               [](const Entry& e) { return e.check != nullptr; });
    if (!needs_body_) {
      for (Entry& e : entries_) e.check.reset();
    }
  }

  bool NeedsBody() const override { return needs_body_; }
  bool HasDecision() const override { return result_.has_value(); }
  // Where the schemes place their body checks for this request.
  std::pmr::memory_resource* Arena() { return &resource_; }

  void Update(std::string_view chunk) override {
    if (!needs_body_) return;
    for (Entry& e : entries_) {
      if (e.check) e.check->Update(chunk);
    }
  }

  std::optional<Decision> Refusal() override {
    if (!result_) {
      FinishBodyChecks();
      const bool matched = std::any_of(entries_.begin(), entries_.end(),
                                       [](const Entry& e) { return e.outcome == Outcome::kValid; });
      if (matched) return std::nullopt;
      result_ = Decide();  // no valid entry: nothing is claimed
    }
    if (Admits(result_->outcome)) return std::nullopt;
    return result_;
  }

  Decision Finish() override {
    if (result_) return *result_;
    FinishBodyChecks();
    result_ = Decide();
    return *result_;
  }

 private:
  struct Entry {
    std::string_view scheme;
    Outcome outcome;
    BodyCheckPtr check;
    std::string replay_key;
    bool keyed_on_signature = false;
  };

  void FinishBodyChecks() {
    for (Entry& e : entries_) {
      if (e.check) {
        e.outcome = e.check->Finish();
        e.check.reset();
      }
    }
  }

  Decision Decide() {
    for (const Entry& e : entries_) {
      if (e.outcome != Outcome::kValid) continue;
      // Only a valid signature claims its identity, so forged requests cannot fill the
      // store with keys that would block the real delivery.
      if (replay_ && replay_->store && !e.replay_key.empty()) return ClaimFor(e);
      return Decision{Outcome::kValid, e.scheme};
    }
    // No scheme accepted the request: report the first configured one that was present.
    return Decision{entries_.front().outcome, entries_.front().scheme};
  }

  // What a claim of `e`'s identity is made of: the key (namespaced per function and scheme;
  // the id or signature only as a SHA-256), a new owner token, the window it is kept for and
  // the ttl of the claim while the function runs.
  struct ClaimParts {
    std::string key, token;
    std::chrono::milliseconds window, ttl;
  };
  std::chrono::milliseconds PartsWindow(const Entry& e) const {
    return e.keyed_on_signature ? replay_->dedupe_window : replay_->timestamp_window;
  }
  ClaimParts PartsFor(const Entry& e) const {
    const ReplayContext& r = *replay_;
    ClaimParts p;
    p.key = r.prefix;
    p.key.append(e.scheme);
    p.key.push_back(':');
    p.key += crypto::EncodeHex(crypto::Sha256(e.replay_key));
    p.window = PartsWindow(e);
    p.token = replay::NewToken();
    p.ttl = r.claim_ttl.count() > 0 ? std::min(r.claim_ttl, p.window) : p.window;
    return p;
  }

  Decision ClaimFor(const Entry& e) {
    ClaimParts p = PartsFor(e);
    const replay::ClaimResult result = replay_->store->Claim(p.key, p.token, p.ttl);
    return DecisionFor(e.scheme, result, std::move(p));
  }

  Decision DecisionFor(std::string_view scheme, replay::ClaimResult result, ClaimParts p) const {
    const ReplayContext& r = *replay_;
    switch (result) {
      case replay::ClaimResult::kClaimed:
        if (r.open_episode.exchange(false)) log::Info("replay store: claims resumed");
        return Decision{
            Outcome::kValid, scheme,
            std::make_shared<ClaimImpl>(r.store, std::move(p.key), std::move(p.token), p.window)};
      case replay::ClaimResult::kDone:
        return Decision{Outcome::kDuplicate, scheme};
      case replay::ClaimResult::kInFlight:
        return Decision{Outcome::kInFlight, scheme};
      case replay::ClaimResult::kFull:
        return Decision{Outcome::kReplayFull, scheme};
      case replay::ClaimResult::kUnavailable:
        break;
    }
    if (!r.fail_open) return Decision{Outcome::kReplayUnavailable, scheme};
    if (!r.open_episode.exchange(true)) {
      log::Warn(
          "replay store unreachable and hmac_replay_store_fail_open=true: verified requests are "
          "admitted without duplicate protection until it is back");
    }
    return Decision{Outcome::kValid, scheme};
  }

 public:
  ClaimStep StartClaim(replay::StoreLane& lane, std::weak_ptr<void> alive,
                       std::function<void()> ready) override {
    if (result_) return ClaimStep::kDecided;
    FinishBodyChecks();
    const auto valid = std::find_if(entries_.begin(), entries_.end(),
                                    [](const Entry& e) { return e.outcome == Outcome::kValid; });
    if (valid == entries_.end() || !replay_ || !replay_->store || valid->replay_key.empty()) {
      result_ = Decide();  // claims nothing
      return ClaimStep::kDecided;
    }
    ClaimParts parts = PartsFor(*valid);
    const std::string key = parts.key, token = parts.token;
    const std::chrono::milliseconds ttl = parts.ttl;
    const std::string_view scheme = valid->scheme;
    auto answered = [this, alive = std::move(alive), ready = std::move(ready), &lane, scheme,
                     parts = std::move(parts)](std::optional<replay::ClaimResult> result) mutable {
      if (alive.expired()) {
        // The request is gone (its loop ended): what it claimed must not block a retry.
        if (result == replay::ClaimResult::kClaimed) lane.Release(parts.key, parts.token);
        return;
      }
      // No result: the lane could not claim after all; Finish claims on a worker.
      if (result) result_ = DecisionFor(scheme, *result, std::move(parts));
      ready();
    };
    const replay::StoreLane::Started started = lane.Claim(key, token, ttl, std::move(answered));
    switch (started.step) {
      case replay::StoreLane::Step::kSent:
        return ClaimStep::kWaiting;
      case replay::StoreLane::Step::kAnswered:
        result_ =
            DecisionFor(scheme, started.result, ClaimParts{key, token, PartsWindow(*valid), ttl});
        return ClaimStep::kDecided;
      case replay::StoreLane::Step::kNeedsWorker:
        break;
    }
    return ClaimStep::kNeedsWorker;
  }

 private:
  std::shared_ptr<const Snapshot> snapshot_;  // keeps the keys of running checks alive
  std::shared_ptr<const ReplayContext> replay_;
  // The present schemes (one or two) and one HMAC check fit here, so a request costs no
  // allocation for them; more go to the heap. `entries_` is declared after `resource_`, so the
  // checks it holds are destroyed while their arena is still there.
  alignas(std::max_align_t) std::array<std::byte, 2 * sizeof(Entry) + kMacCheckBytes> arena_;
  BumpArena resource_{arena_};
  std::pmr::vector<Entry> entries_{&resource_};
  bool needs_body_ = false;
  std::optional<Decision> result_;
};

static_assert(sizeof(AnySchemeCheck) <= sizeof(CheckStorage::bytes),
              "CheckStorage holds an AnySchemeCheck");
static_assert(alignof(AnySchemeCheck) <= alignof(CheckStorage));

// The check of a plain scheme (PlainMac) configured alone, without a replay store: the same
// outcomes as AnySchemeCheck over HmacScheme::Start's plan for it, with less around the HMAC
// (no per-scheme entries, no arena, no virtual body check): verifying a small body costs
// little more than its HMAC (README "Performance", P6).
class PlainMacCheck final : public Check {
 public:
  // Keys beyond this many (a rotation over several files) go the general way.
  static constexpr std::size_t kMaxKeys = 2;

  // A check of the headers alone: decided when they decide (missing, repeated or malformed
  // signature), else waiting for Run.
  static CheckPtr Make(CheckStorage* storage, const PlainMac& plain, std::string_view scheme,
                       const HeaderSource& headers) {
    if (storage == nullptr) return CheckPtr(new PlainMacCheck(plain, scheme, headers), {true});
    return CheckPtr(new (storage->bytes) PlainMacCheck(plain, scheme, headers), {false});
  }

  // Starts one MAC per key from its pre-keyed states, copied: the check needs the keys no
  // longer (the caller holds them for the call). False, starting nothing, when there are
  // more than kMaxKeys: the request then goes the general way.
  bool Run(std::span<const PreparedKey> keys) {
    if (keys.size() > kMaxKeys) return false;
    for (const PreparedKey& key : keys) {
      if (const crypto::HmacKey* mac = key.Mac(algorithm_)) running_[count_++].emplace(*mac);
    }
    return true;
  }

  bool NeedsBody() const override { return !result_; }
  bool HasDecision() const override { return result_.has_value(); }
  void Update(std::string_view chunk) override {
    if (result_) return;
    for (std::size_t i = 0; i < count_; ++i) running_[i]->hmac.Update(chunk);
  }
  std::optional<Decision> Refusal() override {
    const Decision& decision = Decide();
    if (Admits(decision.outcome)) return std::nullopt;
    return decision;
  }
  Decision Finish() override { return Decide(); }
  ClaimStep StartClaim(replay::StoreLane&, std::weak_ptr<void>, std::function<void()>) override {
    Decide();  // nothing to claim without a replay store
    return ClaimStep::kDecided;
  }

 private:
  PlainMacCheck(const PlainMac& plain, std::string_view scheme, const HeaderSource& headers)
      : scheme_(scheme), algorithm_(plain.algorithm) {
    const auto value = SingleValue(headers, plain.header);
    if (const Outcome* failed = std::get_if<Outcome>(&value)) {
      result_ = Decision{*failed, scheme_};
      return;
    }
    if (!DecodeSignature(std::get<std::string_view>(value), plain.prefix, plain.encoding,
                         crypto::DigestSize(plain.algorithm), mac_, plain.hex_case)) {
      result_ = Decision{Outcome::kMalformed, scheme_};
    }
  }

  const Decision& Decide() {
    if (!result_) {
      bool valid = false;
      for (std::size_t i = 0; i < count_; ++i) {
        std::array<std::uint8_t, crypto::kMaxMacSize> computed;
        const std::size_t size = running_[i]->hmac.FinalInto(computed);
        // No early exit: every key's MAC is compared, in constant time.
        if (size != 0 && crypto::ConstantTimeEqual(std::span(computed.data(), size), mac_.view())) {
          valid = true;
        }
      }
      result_ = Decision{valid ? Outcome::kValid : Outcome::kMismatch, scheme_};
    }
    return *result_;
  }

  // One key's MAC, started in place from its pre-keyed states (no copy of a running MAC).
  struct Running {
    explicit Running(const crypto::HmacKey& key) : hmac(key.Start()) {}
    crypto::Hmac hmac;
  };

  std::string_view scheme_;
  crypto::Algorithm algorithm_;
  crypto::ShortBytes mac_;  // the signature, decoded
  std::array<std::optional<Running>, kMaxKeys> running_;
  std::size_t count_ = 0;
  std::optional<Decision> result_;
};

static_assert(sizeof(PlainMacCheck) <= sizeof(CheckStorage::bytes),
              "CheckStorage holds a PlainMacCheck");
static_assert(alignof(PlainMacCheck) <= alignof(CheckStorage));

}  // namespace

std::vector<std::string_view> SchemeNames() {
  std::vector<std::string_view> names;
  for (const SchemeEntry& entry : Registry()) names.push_back(entry.name);
  return names;
}

struct Verifier::State {
  config::SignatureOptions options;
  std::shared_ptr<const Clock> clock;
  bool disabled = false;
  std::vector<std::unique_ptr<Scheme>> schemes;    // configured, in hmac_scheme order
  std::vector<std::vector<std::size_t>> files_of;  // per scheme: indexes into paths
  std::vector<std::string> paths;                  // every distinct secret file
  std::shared_ptr<const ReplayContext> replay;     // null without a replay store
  // The one scheme's description when it is plain and configured alone without a replay
  // store: Begin then makes a PlainMacCheck.
  const PlainMac* plain = nullptr;

  mutable std::mutex snapshot_mutex;
  std::shared_ptr<const Snapshot> snapshot;

  // Declared last so it is destroyed first: its thread calls Apply, which uses the rest.
  std::unique_ptr<secrets::SecretWatcher> watcher;

  std::shared_ptr<const Snapshot> Current() const {
    std::lock_guard<std::mutex> lock(snapshot_mutex);
    return snapshot;
  }

  Status Apply(std::span<const secrets::Secret* const> secrets) {
    auto next = std::make_shared<Snapshot>();
    next->keys.resize(schemes.size());
    for (std::size_t s = 0; s < schemes.size(); ++s) {
      for (std::size_t file : files_of[s]) {
        if (secrets[file] == nullptr) continue;  // withdrawn: its file was removed
        Expected<PreparedKey> key = schemes[s]->Prepare(*secrets[file]);
        if (!key) {
          return Error{"secret file " + paths[file] + " cannot be used for scheme " +
                       std::string(schemes[s]->Name()) + ": " + key.error().message};
        }
        next->keys[s].push_back(std::move(key).value());
      }
      if (next->keys[s].empty()) {
        return Error{"scheme " + std::string(schemes[s]->Name()) +
                     " would be left without a secret"};
      }
    }
    std::lock_guard<std::mutex> lock(snapshot_mutex);
    snapshot = std::move(next);
    return Ok{};
  }
};

namespace {

// secrets_path resolved (/run/secrets when it does not exist); empty reads as the default.
std::string SecretsDirectory(const config::SignatureOptions& options) {
  return secrets::ResolveSecretsDirectory(options.secrets_path.empty()
                                              ? std::string(config::kDefaultSecretsPath)
                                              : options.secrets_path);
}

// Everything Create and CreateWithSecretFile share. `secret_file` empty: names under
// secrets_path and a reload thread; otherwise that one file for every scheme, no thread.
Expected<std::unique_ptr<Verifier::State>> BuildState(const config::SignatureOptions& options,
                                                      std::shared_ptr<const Clock> clock,
                                                      const std::string& secret_file) {
  auto state = std::make_unique<Verifier::State>();
  state->options = options;
  state->clock = clock ? std::move(clock) : std::make_shared<SystemClock>();

  std::vector<std::string> names;
  for (const std::string& raw : options.schemes) {
    std::string name(Trim(raw, " \t"));
    if (!name.empty()) names.push_back(std::move(name));
  }
  if (names.empty()) {
    return Error{"hmac_scheme is required: set it to one or more of " + ValidNamesText() +
                 " (none turns verification off)"};
  }
  if (std::find(names.begin(), names.end(), "none") != names.end()) {
    if (names.size() > 1) {
      return Error{
          "hmac_scheme: \"none\" turns verification off and cannot be combined with "
          "other schemes"};
    }
    state->disabled = true;
    return state;
  }
  std::set<std::string> seen;
  for (const std::string& name : names) {
    const SchemeEntry* entry = FindScheme(name);
    if (entry == nullptr) {
      return Error{"hmac_scheme: unknown scheme \"" + name +
                   "\"; valid names: " + ValidNamesText()};
    }
    if (!seen.insert(name).second) {
      return Error{"hmac_scheme: scheme \"" + name + "\" is listed twice"};
    }
    Expected<std::unique_ptr<Scheme>> scheme = entry->make(options);
    if (!scheme) return scheme.error();
    state->schemes.push_back(std::move(scheme).value());
  }
  // hmac_header only applies to schemes without a header of their own: set with none of
  // them, it would once have hidden the providers' headers and now would do nothing.
  if (!options.header.empty() &&
      std::none_of(names.begin(), names.end(), [](auto& n) { return UsesSharedHeader(n); })) {
    const std::string& first = names.front();
    return Error{"hmac_header=" + options.header +
                 " applies only to faas-cli and generic, and hmac_scheme lists neither: " + first +
                 " reads its own header (" + state->schemes.front()->SignatureHeaderName() +
                 "). Unset hmac_header, or rename a provider's header with hmac_header_" +
                 SecretKeyOf(first)};
  }
  for (const auto& [key, value] : options.scheme_headers) {
    const bool configured = std::any_of(names.begin(), names.end(),
                                        [&key = key](auto& n) { return SecretKeyOf(n) == key; });
    if (!configured) {
      return Error{"hmac_header_" + key +
                   " names no configured scheme (write the scheme name "
                   "with '_' for '-')"};
    }
  }
  for (const auto& [key, value] : options.scheme_secret_names) {
    const bool configured = std::any_of(names.begin(), names.end(),
                                        [&key = key](auto& n) { return SecretKeyOf(n) == key; });
    if (!configured) {
      std::string configured_text;
      for (const std::string& n : names)
        configured_text += (configured_text.empty() ? "" : ",") + n;
      return Error{"hmac_secret_" + key + " names no configured scheme (hmac_scheme=" +
                   configured_text + "; write the scheme name with '_' for '-')"};
    }
  }

  auto path_index = [&](const std::string& path) {
    auto found = std::find(state->paths.begin(), state->paths.end(), path);
    if (found != state->paths.end()) return static_cast<std::size_t>(found - state->paths.begin());
    state->paths.push_back(path);
    return state->paths.size() - 1;
  };
  if (!secret_file.empty()) {
    for (std::size_t s = 0; s < state->schemes.size(); ++s) {
      state->files_of.push_back({path_index(secret_file)});
    }
  } else {
    const std::string dir = SecretsDirectory(options);
    for (std::size_t s = 0; s < state->schemes.size(); ++s) {
      const std::string key = SecretKeyOf(state->schemes[s]->Name());
      std::string variable = "hmac_secret";
      std::vector<std::string> secret_names = options.secret_names;
      if (auto found = options.scheme_secret_names.find(key);
          found != options.scheme_secret_names.end() && !found->second.empty()) {
        secret_names = found->second;
        variable = "hmac_secret_" + key;
      }
      if (secret_names.empty()) secret_names = {std::string(config::kDefaultSecretName)};
      std::vector<std::size_t> files;
      for (const std::string& raw : secret_names) {
        const std::string name(Trim(raw, " \t"));
        if (Status ok = secrets::CheckSecretName(name); !ok) {
          return Error{variable + ": " + ok.error().message};
        }
        files.push_back(path_index(dir + "/" + name));
      }
      state->files_of.push_back(std::move(files));
    }
  }
  // A file that a public-key scheme reads holds a published key: keying an HMAC with it would
  // let anyone sign. Refused before anything is read.
  for (std::size_t p = 0; p < state->schemes.size(); ++p) {
    if (!state->schemes[p]->SecretIsPublic()) continue;
    for (std::size_t h = 0; h < state->schemes.size(); ++h) {
      if (state->schemes[h]->SecretIsPublic()) continue;
      for (std::size_t fp : state->files_of[p]) {
        for (std::size_t fh : state->files_of[h]) {
          if (!SameFile(state->paths[fp], state->paths[fh])) continue;
          const std::string pub(state->schemes[p]->Name());
          const std::string mac(state->schemes[h]->Name());
          return Error{"secret file " + state->paths[fh] + " is read by " + pub +
                       " as a public key and by " + mac +
                       " as an HMAC secret: anyone who knows the public key could sign for " + mac +
                       ". Give each its own file: hmac_secret_" + SecretKeyOf(pub) + " for " + pub +
                       " (or hmac_secret_" + SecretKeyOf(mac) + " for " + mac + ")"};
        }
      }
    }
  }
  if (options.replay_cache > 0 || !options.replay_store.empty()) {
    replay::StoreOptions store_options;
    store_options.url = options.replay_store;
    store_options.capacity = options.replay_cache;
    store_options.timeout = options.replay_store_timeout;
    store_options.connections = options.replay_store_connections;
    if (!options.replay_store_password_secret.empty()) {
      const std::string dir = SecretsDirectory(options);
      const std::string& name = options.replay_store_password_secret;
      if (Status ok = secrets::CheckSecretName(name); !ok) {
        return Error{"hmac_replay_store_password_secret: " + ok.error().message};
      }
      Expected<secrets::Secret> password = secrets::ReadSecretFile(dir + "/" + name, false);
      if (!password) {
        return Error{"hmac_replay_store_password_secret: " + password.error().message};
      }
      store_options.password = std::string(password->Expose().begin(), password->Expose().end());
    }
    Expected<std::unique_ptr<replay::Store>> store = replay::OpenStore(store_options, state->clock);
    if (!store) return store.error();
    auto context = std::make_shared<ReplayContext>();
    context->store = std::move(store).value();
    context->prefix = "hw:replay:" + options.replay_namespace + ":";
    // A timestamp is accepted up to hmac_tolerance either side of now, so a signature dated
    // in the future stays valid for up to twice the tolerance: remember it that long.
    context->timestamp_window = 2 * options.tolerance;
    context->dedupe_window = options.dedupe_window;
    context->fail_open = options.replay_store_fail_open;
    context->claim_ttl = options.replay_claim_ttl;
    state->replay = std::move(context);
  }

  if (state->schemes.size() == 1 && !state->replay) state->plain = state->schemes.front()->Plain();

  secrets::SecretWatcher::Options watch;
  watch.paths = state->paths;
  watch.raw = options.secret_raw;
  watch.interval = options.reload_interval.count() > 0 ? options.reload_interval
                                                       : config::kDefaultReloadInterval;
  watch.background = secret_file.empty();
  Verifier::State* raw_state = state.get();
  Expected<std::unique_ptr<secrets::SecretWatcher>> watcher = secrets::SecretWatcher::Start(
      std::move(watch),
      [raw_state](std::span<const secrets::Secret* const> s) { return raw_state->Apply(s); });
  if (!watcher) return watcher.error();
  state->watcher = std::move(watcher).value();
  return state;
}

}  // namespace

Verifier::Verifier(std::unique_ptr<State> state) : state_(std::move(state)) {}

Verifier::~Verifier() {
  if (state_) state_->watcher.reset();
}

Expected<std::unique_ptr<Verifier>> Verifier::Create(const config::SignatureOptions& options,
                                                     std::shared_ptr<const Clock> clock) {
  Expected<std::unique_ptr<State>> state = BuildState(options, std::move(clock), "");
  if (!state) return state.error();
  return std::unique_ptr<Verifier>(new Verifier(std::move(state).value()));
}

Expected<std::unique_ptr<Verifier>> Verifier::CreateWithSecretFile(
    const config::SignatureOptions& options, std::shared_ptr<const Clock> clock,
    const std::string& secret_file) {
  if (secret_file.empty()) return Error{"a secret file is required"};
  Expected<std::unique_ptr<State>> state = BuildState(options, std::move(clock), secret_file);
  if (!state) return state.error();
  return std::unique_ptr<Verifier>(new Verifier(std::move(state).value()));
}

CheckPtr Verifier::Begin(const RequestHead& head, CheckStorage* storage) const {
  const State& s = *state_;
  if (s.disabled) return AnySchemeCheck::Decided(storage, {Outcome::kDisabled, ""});
  for (const auto& [method, path] : s.options.allow_unsigned) {
    if (method == head.method && path == head.path) {
      return AnySchemeCheck::Decided(storage, {Outcome::kUnsignedAllowed, ""});
    }
  }
  if (s.plain != nullptr) {
    CheckPtr plain =
        PlainMacCheck::Make(storage, *s.plain, s.schemes.front()->Name(), head.headers);
    if (!plain->NeedsBody()) return plain;
    {
      // The keys are read under the lock and their states copied: no reference to them is
      // kept, so none is counted.
      std::lock_guard<std::mutex> lock(s.snapshot_mutex);
      if (static_cast<PlainMacCheck&>(*plain).Run(s.snapshot->keys.front())) return plain;
    }
    plain.reset();  // more keys than it runs: the general way, in the same storage
  }
  std::shared_ptr<const Snapshot> snapshot = s.Current();
  const Snapshot& keys = *snapshot;
  CheckPtr made = AnySchemeCheck::Make(storage, std::move(snapshot), s.replay);
  auto& check = static_cast<AnySchemeCheck&>(*made);
  const Request request{head, *s.clock, s.options.tolerance, s.replay != nullptr, check.Arena()};
  for (std::size_t i = 0; i < s.schemes.size(); ++i) {
    if (!s.schemes[i]->Present(head.headers)) continue;
    check.Add(s.schemes[i]->Name(), s.schemes[i]->Start(request, keys.keys[i]));
  }
  check.Seal(s.schemes.size() == 1 ? s.schemes.front()->Name() : std::string_view());
  return made;
}

const replay::StoreStats* Verifier::ReplayStats() const {
  return state_->replay ? &state_->replay->store->stats() : nullptr;
}

bool Verifier::Disabled() const { return state_->disabled; }

bool Verifier::ChecksPlainly() const {
  return state_->plain != nullptr &&
         state_->Current()->keys.front().size() <= PlainMacCheck::kMaxKeys;
}

bool Verifier::DecidesWithoutWaiting() const {
  return !state_->replay || !state_->replay->store || !state_->replay->store->MayWait();
}

bool Verifier::ClaimsOnLanes() const {
  return state_->replay && state_->replay->store && state_->replay->store->HasLanes();
}

std::unique_ptr<replay::StoreLane> Verifier::NewStoreLane(replay::WatchDescriptor watch) const {
  if (!state_->replay || !state_->replay->store) return nullptr;
  return state_->replay->store->NewLane(std::move(watch));
}

std::string Verifier::SchemesText() const {
  if (state_->disabled) return "none";
  std::string text;
  for (const auto& scheme : state_->schemes) {
    if (!text.empty()) text.push_back(',');
    text.append(scheme->Name());
  }
  return text;
}

Verifier::Stats Verifier::GetStats() const {
  if (!state_->watcher) return {0, 0};
  const secrets::SecretWatcher::Stats stats = state_->watcher->GetStats();
  return {stats.reloads, stats.failures};
}

void Verifier::ReloadNow() {
  if (state_->watcher) state_->watcher->ReloadNow();
}

}  // namespace hw::signature
