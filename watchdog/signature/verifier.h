// The signature check the server runs on every request: a per-request Check fed with the
// body as it arrives, the Decision it ends in, and the Verifier that holds the configured
// schemes, their secrets (reloaded in the background) and the replay store. The outcomes are
// in outcome.h, the request view in request_view.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/expected.h"
#include "config/config.h"
#include "replay/store.h"
#include "signature/outcome.h"
#include "signature/request_view.h"

namespace hw::signature {

// A delivery a valid request claimed in the replay store (README "Replay and duplicate
// protection"). Settle(true) when the function succeeded: the delivery is kept for its
// window, and retries are duplicates. Settle(false), or destruction without Settle: it is
// released, so a retry runs. Thread-safe; only the first Settle counts.
class Claim {
 public:
  virtual ~Claim() = default;
  virtual void Settle(bool success) = 0;
  // As Settle, written on a front loop's lane without waiting (on the store when the lane has
  // no connection). Loop thread only.
  virtual void SettleOn(bool success, replay::StoreLane& lane) = 0;
};

struct Decision {
  Outcome outcome;
  std::string_view scheme;                 // the scheme that decided ("" if none); static storage
  std::shared_ptr<Claim> claim = nullptr;  // valid with a replay store: settle it
};

// One request's check. The server creates it once the headers are in, feeds the raw body in
// chunks as they arrive (hashing happens during Update: one pass, no copy of the body), then
// calls Finish. Not thread-safe (one request = one thread). A Check keeps the secrets it
// started with alive, so a reload in the middle of a request does not disturb it.
class Check {
 public:
  virtual ~Check() = default;
  virtual bool NeedsBody() const = 0;               // false when already decided from headers
  virtual void Update(std::string_view chunk) = 0;  // ignored when !NeedsBody()
  // After the whole body, without waiting on anything: the decision when no signature
  // matched (refusals claim nothing in the replay store); nullopt when one matched, and
  // Finish must claim its identity (which may wait on the store). At most once, before Finish.
  virtual std::optional<Decision> Refusal() = 0;
  virtual Decision Finish() = 0;  // call once, after the whole body

  // After Refusal() found a matching signature, on a front loop: starts its claim on the
  // loop's lane. kDecided: Finish now waits on nothing. kWaiting: `ready` is called on the loop
  // thread once the claim is answered (unless `alive` has expired by then: a claim made for a
  // request that is gone is released), and Finish then waits on nothing. kNeedsWorker: Finish
  // must claim on a worker.
  // kWaiting can still end undecided (HasDecision false after `ready`): the lane could not
  // claim after all, and Finish must claim on a worker.
  enum class ClaimStep { kDecided, kWaiting, kNeedsWorker };
  virtual ClaimStep StartClaim(replay::StoreLane& lane, std::weak_ptr<void> alive,
                               std::function<void()> ready) = 0;
  // True once the decision is made: Finish then waits on nothing.
  virtual bool HasDecision() const = 0;
};

// Room for one request's Check, kept by the caller (the server: in each request object) so
// that Begin places the check there and allocates nothing. One check at a time; the storage
// must outlive it.
struct CheckStorage {
  alignas(std::max_align_t) std::byte bytes[3072];
};

// Owns a Check: destroys it, and frees it only when Begin had to allocate it (no storage).
struct CheckDeleter {
  bool heap = true;
  void operator()(Check* check) const {
    if (heap) {
      delete check;
    } else {
      check->~Check();
    }
  }
};
using CheckPtr = std::unique_ptr<Check, CheckDeleter>;

class Verifier {
 public:
  // Validates scheme names (unknown → Error listing every valid name; empty list → Error
  // saying hmac_scheme is required; "none" alone → disabled), loads every secret (Error
  // naming the file on missing/empty/unreadable/bad name), starts the reload thread.
  static Expected<std::unique_ptr<Verifier>> Create(const config::SignatureOptions& options,
                                                    std::shared_ptr<const Clock> clock);
  // As Create, but every configured scheme uses the one secret file at `secret_file` (a
  // direct path, not a name under secrets_path) and no reload thread runs. For the verify
  // command.
  static Expected<std::unique_ptr<Verifier>> CreateWithSecretFile(
      const config::SignatureOptions& options, std::shared_ptr<const Clock> clock,
      const std::string& secret_file);

  ~Verifier();  // stops the reload thread
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  // Starts the check of one request: decides from the headers what they alone decide
  // (disabled, unsigned_allowed, missing, malformed, expired, and header-only schemes).
  // Thread-safe. The check lives in `storage` when one is given, else on the heap.
  CheckPtr Begin(const RequestHead& head, CheckStorage* storage = nullptr) const;
  bool Disabled() const;  // hmac_scheme=none
  // True when Begin checks the one configured scheme by its plain description (PlainMac,
  // hmac_scheme.h: a plain scheme alone, no replay store, at most two secrets) instead of the
  // general way; both give the same outcomes (tests/unit/signature/plain_path_test.cc). Read
  // from the current secrets: a reload that adds a third secret file turns it false.
  bool ChecksPlainly() const;
  std::string SchemesText() const;  // "github,stripe" for the startup log ("none" if disabled)
  // False when deciding a matching signature (Check::Finish) and settling its claim may wait
  // on the replay store (Redis).
  bool DecidesWithoutWaiting() const;
  // True when a front loop's lane (NewStoreLane) claims without waiting where
  // DecidesWithoutWaiting() is false (Redis).
  bool ClaimsOnLanes() const;
  // A lane of the replay store for one front loop; null when it has none.
  std::unique_ptr<replay::StoreLane> NewStoreLane(replay::WatchDescriptor watch) const;

  struct Stats {
    std::uint64_t reloads;          // secret changes picked up
    std::uint64_t reload_failures;  // reload failure episodes (one per file that broke)
  };
  Stats GetStats() const;
  void ReloadNow();  // for tests: one reload pass, synchronously
  // The replay store's counters (null without one), for the metrics.
  const replay::StoreStats* ReplayStats() const;

  struct State;  // defined in verifier.cc

 private:
  explicit Verifier(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Every registered scheme name, in registry order, for errors and --help.
std::vector<std::string_view> SchemeNames();

}  // namespace hw::signature
