// The request pipeline without the HTTP library, in two steps. Begin takes the request head:
// head checks, the path decoded once, client headers filtered, the header-only part of the
// signature check and a reservation against the budget for unverified bodies; whatever the
// head alone decides is answered before a byte of the body is read. Handle then reads the
// body (verifying it as it arrives), applies the max_inflight limiter and runs the executor.
// The transport (connection.cc) feeds it; the fuzz target drives it in process. A request
// the pipeline rejects never reaches the executor.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/body.h"
#include "config/config.h"
#include "executor/executor.h"
#include "signature/verifier.h"

namespace hw::metrics {
class Metrics;
}
namespace hw::auth {
class Gate;
struct Rule;
}  // namespace hw::auth

namespace hw::server {

class Health;

// A response the watchdog makes itself, before or instead of the function.
struct Rejection {
  int status;
  std::string body;
  std::string_view outcome = "-";  // verification outcome to log, if it got that far
  std::string_view scheme = "-";
  std::vector<executor::Header> headers = {};  // extra response headers (Retry-After)
};

// Checks that need only the request head, run before anything reads the body: header values
// with CR, LF or NUL (400), the head's size (431), conflicting or invalid Content-Length
// (400), Content-Length together with Transfer-Encoding (400, whatever the length) and a
// Content-Length over max_body_bytes (413).
std::optional<Rejection> CheckHead(const config::ServerOptions& options,
                                   const std::vector<executor::Header>& headers,
                                   std::string_view method, std::string_view target);

// Bytes of request bodies held while their signature is undecided, all requests together,
// bounded by max_unverified_bytes. Thread-safe.
class UnverifiedBudget {
 public:
  UnverifiedBudget(std::size_t limit, metrics::Metrics& metrics)
      : limit_(limit), metrics_(metrics) {}
  // Reserves `n` more bytes; false (nothing reserved) when that would pass the limit.
  bool TryReserve(std::size_t n);
  void Release(std::size_t n);
  std::size_t used() const { return used_.load(); }

  // One request's reservation, released when it is destroyed or Done().
  class Lease {
   public:
    Lease() = default;
    explicit Lease(UnverifiedBudget* budget) : budget_(budget) {}
    Lease(Lease&& other) noexcept { *this = std::move(other); }
    Lease& operator=(Lease&& other) noexcept;
    ~Lease() { Done(); }
    bool Grow(std::size_t n);  // false when the budget is exhausted
    void Done();
    std::size_t held() const { return held_; }

   private:
    UnverifiedBudget* budget_ = nullptr;
    std::size_t held_ = 0;
  };

 private:
  const std::size_t limit_;
  metrics::Metrics& metrics_;
  std::atomic<std::size_t> used_{0};
};

enum class ReadResult { kOk, kTooLarge, kTimedOut, kError };

// The head of one request, as the transport parsed it.
struct RequestHead {
  std::string_view method;
  std::string_view target;  // as received: "/hook?x=1"
  std::string_view remote_addr;
  std::vector<executor::Header> headers;  // as received
  bool has_body = false;                  // Content-Length > 0 or Transfer-Encoding
};

// A request's headers as the signature check reads them.
class HeaderView final : public signature::HeaderSource {
 public:
  explicit HeaderView(const std::vector<executor::Header>& headers) : headers_(headers) {}
  std::vector<std::string_view> Values(std::string_view name) const override;
  std::size_t Count(std::string_view name, std::string_view* first) const override;

 private:
  const std::vector<executor::Header>& headers_;
};

// A request whose head passed Begin: what the head decided, kept until the body is read.
class PendingRequest {
 public:
  ~PendingRequest();
  PendingRequest(const PendingRequest&) = delete;
  PendingRequest& operator=(const PendingRequest&) = delete;
  const std::string& method() const { return method_; }
  const std::string& path() const { return path_; }  // decoded once (request_target.h)
  std::string_view query() const { return query_; }
  const std::vector<executor::Header>& headers() const { return headers_; }
  std::optional<std::uint64_t> content_length() const { return content_length_; }
  bool body_read() const { return body_.has_value(); }
  // After Admit: the request as the executor takes it (views into this object).
  executor::FunctionRequest ForFunction() const;

 private:
  friend class Pipeline;
  PendingRequest() = default;
  void ReleaseSlot();
  std::string method_, target_, remote_addr_, path_;
  std::string_view query_;  // into target_
  std::vector<executor::Header> headers_;
  HeaderView header_view_{headers_};
  // The signature check, placed in check_storage_ (declared first, so it outlives the check);
  // null when the route does not use hmac.
  signature::CheckStorage check_storage_;
  signature::CheckPtr check_;
  std::optional<signature::Decision> early_;
  // Authentication (auth_routes): admitted by the head; or what the body still decides.
  const auth::Rule* rule_ = nullptr;
  bool auth_admitted_ = false;
  bool plugin_with_body_ = false;
  std::optional<Rejection> auth_denial_;  // answered if the body-time checks fail too
  bool auth_denial_presented_ = false;
  std::string_view auth_method_ = "-", auth_outcome_ = "-";
  UnverifiedBudget::Lease lease_;
  std::optional<std::uint64_t> content_length_;
  std::optional<Body> body_;  // once read (Pipeline::ReadBody)
  // Once admitted (Pipeline::Admit), until Complete: the replay claim to settle, the
  // max_inflight slot, and what admitted it.
  std::shared_ptr<signature::Claim> claim_;
  std::shared_ptr<void> alive_;  // while a claim is answered on a loop's lane (StartClaim)
  Health* slot_ = nullptr;       // the slot's owner while held; given back when destroyed
  std::string_view outcome_ = "-", scheme_ = "-";
};

struct HeadResult {
  std::optional<Rejection> rejection;       // answer this; the body is not read
  std::unique_ptr<PendingRequest> request;  // otherwise: read the body with Handle
  // Path for the access log: the decoded path, or the raw one when it could not be decoded.
  std::string log_path;
};

struct PipelineResult {
  executor::FunctionResponse response;
  std::string_view outcome = "-";
  std::string_view scheme = "-";
  bool function_called = false;  // counted in the function metrics
  bool holds_slot = false;       // a streamed response keeps its max_inflight slot: Release()
};

// Delivers the raw body in chunks to `sink` (which returns false to stop reading). It may
// receive a chunk into `body.Room()` first, then hand that on: the body keeps it where it is,
// uncopied.
using BodyReader =
    std::function<ReadResult(const std::function<bool(std::string_view)>& sink, Body& body)>;

class Pipeline {
 public:
  // `gate` (auth_routes; may be null: "/=hmac", the signature check alone) must outlive the
  // pipeline.
  Pipeline(const config::ServerOptions& options, const signature::Verifier& verifier,
           executor::Executor& executor, metrics::Metrics& metrics, Health& health,
           const auth::Gate* gate = nullptr);

  // Everything the head decides. Thread-safe. Waits on nothing when BeginsWithoutWaiting().
  HeadResult Begin(RequestHead head) const;
  // False when auth_routes names plugin or jwt: deciding a head may then call out (the auth
  // plugin, a fetch of the OIDC keys). hmac, basic and none decide from what is at hand.
  bool BeginsWithoutWaiting() const { return begins_without_waiting_; }
  // Reads the body with `read_body` (null: no body) into `request`, verifying it as it
  // arrives. The answer when reading failed (413, 408, 400, 503, 507); nullopt when read.
  std::optional<PipelineResult> ReadBody(PendingRequest& request,
                                         const BodyReader& read_body) const;
  // After ReadBody, waiting on nothing: the answer when what is known now refuses the
  // request (no signature matched); nullopt when Handle must decide (a matching signature
  // claims its identity in the replay store, an auth plugin may be asked). The front loop
  // answers forged requests with it without a worker.
  std::optional<PipelineResult> RefuseNow(PendingRequest& request) const;
  // Reads the body unless ReadBody did, then Admit and Run. Thread-safe (one PendingRequest
  // per call).
  PipelineResult Handle(PendingRequest& request, const BodyReader& read_body) const;

  // Handle in steps, for the front loop. After ReadBody: finishes the decision (the replay
  // claim, an auth plugin asked with the body) and takes a max_inflight slot. The answer
  // when refused; nullopt when admitted, and then the request goes on with Run (on a
  // worker), or Start and, once its invocation is done, Complete (or Finish on a worker).
  // Waits on nothing when DecidesWithoutWaiting().
  std::optional<PipelineResult> Admit(PendingRequest& request) const;
  bool DecidesWithoutWaiting() const { return decides_without_waiting_; }
  // On a front loop, after RefuseNow: starts the replay claim on the loop's store lane (may
  // be null), so that Admit waits on nothing. kDecided: Admit now. kWaiting: `ready` is
  // called on the loop thread when the claim is answered; Admit then. kNeedsWorker: Admit
  // must run on a worker (it may wait on the store).
  signature::Check::ClaimStep StartClaim(PendingRequest& request, replay::StoreLane* lane,
                                         std::function<void()> ready) const;
  // After kWaiting's `ready`: false when the lane could not claim after all (a Redis before
  // 7.0), so Admit must run on a worker.
  bool ClaimAnswered(const PendingRequest& request) const;
  // True when every loop with a store lane decides without waiting: DecidesWithoutWaiting,
  // or a replay store whose claims go on lanes (Redis), and nothing else that waits.
  bool DecidesOnLoop() const { return decides_on_loop_; }
  // Runs the executor for an admitted request, blocking.
  PipelineResult Run(PendingRequest& request) const;
  // Starts the executor for an admitted request without waiting (null when it cannot: Run).
  // `lane`: the calling loop's (Executor::NewLane), or null.
  std::unique_ptr<executor::PendingInvocation> Start(PendingRequest& request,
                                                     executor::InvocationLane* lane) const;
  // Finishes a started invocation on a worker, blocking.
  PipelineResult Finish(PendingRequest& request, executor::PendingInvocation& invocation) const;
  // Settles the claim and the slot of an admitted request with the executor's response.
  // On a loop, `lane` (its store lane, or null) settles the claim without waiting.
  PipelineResult Complete(PendingRequest& request, executor::FunctionResponse response,
                          replay::StoreLane* lane = nullptr) const;

 private:
  Rejection HmacRejection(PendingRequest& request, const signature::Decision& d) const;
  PipelineResult Refuse(PendingRequest& request, const signature::Decision& d) const;
  // Complete with what `invoke` returns; the slot is given back if it throws.
  PipelineResult Completed(PendingRequest& request,
                           const std::function<executor::FunctionResponse()>& invoke) const;

  const config::ServerOptions& options_;
  const signature::Verifier& verifier_;
  executor::Executor& executor_;
  metrics::Metrics& metrics_;
  Health& health_;
  const auth::Gate* gate_;
  bool begins_without_waiting_;
  bool decides_without_waiting_;
  bool decides_on_loop_;
  mutable UnverifiedBudget budget_;
};

}  // namespace hw::server
