#include "replay/redis_store.h"

#include <fcntl.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <deque>
#include <optional>
#include <semaphore>
#include <utility>

#include <fmt/format.h>

#include "crypto/sha256.h"
#include "logging/log.h"

namespace hw::replay {
namespace {

constexpr std::string_view kKeepScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2]) else return 0 end";
constexpr std::string_view kReleaseScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end";
constexpr std::chrono::milliseconds kMaxBackoff{2000};
constexpr std::chrono::milliseconds kFirstBackoff{50};
constexpr int kBatchesPerSender = 4;

timeval ToTimeval(std::chrono::milliseconds d) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(d.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((d.count() % 1000) * 1000);
  return tv;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// The URL as an error message may show it: a password put in it by mistake is not shown.
std::string Redacted(std::string_view url) {
  const auto at = url.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  const auto scheme_end = url.find("://");
  const std::size_t from = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  return fmt::format("{}***{}", url.substr(0, from), url.substr(at));
}

Error BadUrl(std::string_view url, std::string_view why) {
  return Error{fmt::format(
      "hmac_replay_store: invalid value \"{}\": {}; expected memory, redis://host:port/db or "
      "redis+unix:///path/to.sock?db=N",
      Redacted(url), why)};
}

std::optional<int> ParseInt(std::string_view text, int max) {
  int n = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || ptr != text.data() + text.size() || n < 0 || n > max) {
    return std::nullopt;
  }
  return n;
}

}  // namespace

struct RedisStore::Connection {
  struct ContextDeleter {
    void operator()(redisContext* c) const { redisFree(c); }
  };
  std::unique_ptr<redisContext, ContextDeleter> context;
};

struct RedisStore::Command {
  enum class Status { kPending, kReply, kErrorReply, kFailed, kBackingOff };
  static constexpr int kMaxArgs = 8;

  Command& Arg(std::string_view a) {
    argv[argc] = a.data();
    lengths[argc] = a.size();
    ++argc;
    return *this;
  }

  // The arguments point into strings the caller keeps alive until Run returns.
  const char* argv[kMaxArgs] = {};
  std::size_t lengths[kMaxArgs] = {};
  int argc = 0;
  std::string_view script;  // EVALSHA's script, sent with EVAL if Redis does not have it

  Status status = Status::kPending;
  Reply reply;        // kReply
  std::string error;  // kErrorReply: Redis's answer; kFailed: what broke the connection
  // Written by the sender before it releases `wake`: true, answered; false, the lane is
  // yours now (send the batch it holds, this command first).
  bool done = false;
  std::binary_semaphore wake{0};
};

namespace {

using Command = RedisStore::Command;

// Writes every command in one go and reads their answers in order. False (with `error`) when
// the connection failed: the commands not answered are then kFailed, and the connection is
// unusable (hiredis keeps its error).
bool Exchange(redisContext* context, const std::vector<Command*>& commands, std::string& error) {
  for (Command* c : commands) {
    if (redisAppendCommandArgv(context, c->argc, c->argv, c->lengths) != REDIS_OK) {
      error = "out of memory";
      for (Command* f : commands) {
        f->status = Command::Status::kFailed;
        f->error = error;
      }
      return false;
    }
  }
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* raw = nullptr;
    if (redisGetReply(context, &raw) != REDIS_OK || raw == nullptr) {
      error = context->errstr[0] != '\0' ? context->errstr : "no reply";
      for (std::size_t j = i; j < commands.size(); ++j) {
        commands[j]->status = Command::Status::kFailed;
        commands[j]->error = error;
      }
      return false;
    }
    Command& c = *commands[i];
    c.reply.reset(static_cast<redisReply*>(raw));
    if (c.reply->type == REDIS_REPLY_ERROR) {
      c.status = Command::Status::kErrorReply;
      c.error.assign(c.reply->str, c.reply->len);
      c.reply.reset();
    } else {
      c.status = Command::Status::kReply;
    }
  }
  return true;
}

}  // namespace

Expected<RedisEndpoint> ParseRedisUrl(std::string_view url) {
  RedisEndpoint e;
  e.display = std::string(url);
  if (url.starts_with("redis+unix://")) {
    std::string_view rest = url.substr(13);
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    if (rest.empty() || rest.front() != '/') return BadUrl(url, "the socket path must be absolute");
    e.socket_path = std::string(rest);
    if (!query.empty()) {
      if (!query.starts_with("db=")) return BadUrl(url, "the only query parameter is db=N");
      auto db = ParseInt(query.substr(3), 15);
      if (!db) return BadUrl(url, "db must be a number from 0 to 15");
      e.db = *db;
    }
    return e;
  }
  if (!url.starts_with("redis://")) return BadUrl(url, "unknown store");
  std::string_view rest = url.substr(8);
  if (rest.find('@') != std::string_view::npos) {
    return BadUrl(url, "put the password in the file hmac_replay_store_password_secret names");
  }
  std::string_view authority = rest.substr(0, rest.find('/'));
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view db_text = rest.substr(slash + 1);
    if (!db_text.empty()) {
      auto db = ParseInt(db_text, 15);
      if (!db) return BadUrl(url, "db must be a number from 0 to 15");
      e.db = *db;
    }
  }
  if (auto colon = authority.rfind(':');
      colon != std::string_view::npos && authority.find(']') == std::string_view::npos) {
    auto port = ParseInt(authority.substr(colon + 1), 65535);
    if (!port || *port == 0) return BadUrl(url, "the port must be a number from 1 to 65535");
    e.port = *port;
    authority = authority.substr(0, colon);
  }
  if (authority.empty()) return BadUrl(url, "the host is missing");
  e.host = std::string(authority);
  return e;
}

const std::string_view kKeepScriptSha = "c141603e367d339acfeb20b27cb49382c918b1ad";
const std::string_view kReleaseScriptSha = "d02e481a9c91ceec59c5822a58a49d5d5d7ac80b";

RedisStore::RedisStore(RedisEndpoint endpoint, std::string password,
                       std::chrono::milliseconds timeout, std::size_t connections,
                       std::shared_ptr<const Clock> clock)
    : endpoint_(std::move(endpoint)),
      password_(std::move(password)),
      timeout_(timeout),
      clock_(std::move(clock)) {
  for (std::size_t i = 0; i < std::max<std::size_t>(connections, 1); ++i) {
    lanes_.push_back(std::make_unique<Lane>());
  }
}

RedisStore::~RedisStore() = default;

void RedisStore::NoteFailure(const std::string& why) {
  std::lock_guard lock(backoff_mutex_);
  failure_generation_.fetch_add(1, std::memory_order_relaxed);
  // Every lane and every command of a batch may report the same outage: only a failure
  // after the backoff ran out (a new attempt failed) doubles it.
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_attempt_) {
    backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
    next_attempt_ = now + backoff_;
  }
  if (!down_.exchange(true)) {
    log::Error(fmt::format("replay store {} unreachable: {}", endpoint_.display, why));
  }
}

void RedisStore::NoteSuccess() {
  if (!down_.load(std::memory_order_relaxed)) return;
  std::lock_guard lock(backoff_mutex_);
  backoff_ = std::chrono::milliseconds(0);
  if (down_.exchange(false)) {
    log::Info(fmt::format("replay store {} reachable again", endpoint_.display));
  }
}

std::size_t RedisStore::DigestHash::operator()(const Digest& d) const noexcept {
  std::size_t h = 0;  // the digest is uniform: its first bytes are a good bucket hash
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

RedisStore::Digest RedisStore::DigestOf(const std::string& key) {
  const crypto::Bytes sha = crypto::Sha256(key);
  Digest d{};
  std::copy_n(sha.begin(), d.size(), d.begin());
  return d;
}

bool RedisStore::KnownDone(const Digest& key, std::int64_t now_ms) {
  std::lock_guard lock(done_mutex_);
  auto it = done_.find(key);
  if (it == done_.end()) return false;
  if (it->second > now_ms) return true;
  done_.erase(it);
  return false;
}

void RedisStore::RememberDone(const Digest& key, std::int64_t expires_ms) {
  std::lock_guard lock(done_mutex_);
  if (done_.size() >= kDoneEntries) done_.clear();  // a cache: forgetting costs a round trip
  done_[key] = expires_ms;
}

RedisStore::Lane& RedisStore::PickLane() {
  const std::size_t n = lanes_.size();
  if (n == 1) return *lanes_[0];
  // A lane nobody is sending on (the command goes out at once), else the shortest queue.
  const std::size_t start = next_lane_.fetch_add(1, std::memory_order_relaxed);
  Lane* best = nullptr;
  std::size_t best_waiting = SIZE_MAX;
  for (std::size_t i = 0; i < n; ++i) {
    Lane& lane = *lanes_[(start + i) % n];
    if (!lane.busy.load(std::memory_order_relaxed)) return lane;
    const std::size_t waiting = lane.waiting.load(std::memory_order_relaxed);
    if (waiting < best_waiting) {
      best = &lane;
      best_waiting = waiting;
    }
  }
  return *best;
}

bool RedisStore::EnsureConnected(Lane& lane, std::string& error) {
  const std::uint64_t generation = failure_generation_.load(std::memory_order_relaxed);
  if (lane.connection && lane.generation == generation) return true;
  lane.connection = OpenConnection(error);
  if (!lane.connection) return false;
  lane.generation = generation;
  return true;
}

std::unique_ptr<RedisStore::Connection> RedisStore::OpenConnection(std::string& error) {
  {
    std::lock_guard lock(backoff_mutex_);
    if (std::chrono::steady_clock::now() < next_attempt_) return nullptr;  // error stays empty
  }
  auto connection = std::make_unique<Connection>();
  const timeval tv = ToTimeval(timeout_);
  redisContext* raw = endpoint_.socket_path.empty()
                          ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv)
                          : redisConnectUnixWithTimeout(endpoint_.socket_path.c_str(), tv);
  connection->context.reset(raw);
  if (raw == nullptr) {
    error = "out of memory";
    return nullptr;
  }
  if (raw->err != 0) {
    error = raw->errstr;
    return nullptr;
  }
  if (redisSetTimeout(raw, tv) != REDIS_OK) {
    error = "cannot set the command timeout";
    return nullptr;
  }
  // AUTH, SELECT and loading the scripts (so EVALSHA finds them) in one round trip.
  Command setup[4];
  std::vector<Command*> sent;
  const std::string db = std::to_string(endpoint_.db);
  if (!password_.empty()) sent.push_back(&setup[0].Arg("AUTH").Arg(password_));
  if (endpoint_.db != 0) sent.push_back(&setup[1].Arg("SELECT").Arg(db));
  sent.push_back(&setup[2].Arg("SCRIPT").Arg("LOAD").Arg(kKeepScript));
  sent.push_back(&setup[3].Arg("SCRIPT").Arg("LOAD").Arg(kReleaseScript));
  if (!Exchange(raw, sent, error)) return nullptr;
  const char* names[] = {"AUTH", "SELECT", "SCRIPT LOAD", "SCRIPT LOAD"};
  for (std::size_t i = 0; i < std::size(setup); ++i) {
    if (setup[i].status == Command::Status::kErrorReply) {
      error = fmt::format("{}: {}", names[i], setup[i].error);  // Redis's words: no password
      return nullptr;
    }
  }
  for (auto [i, sha] : {std::pair{2, kKeepScriptSha}, std::pair{3, kReleaseScriptSha}}) {
    const redisReply* r = setup[static_cast<std::size_t>(i)].reply.get();
    if (r->type != REDIS_REPLY_STRING || std::string_view(r->str, r->len) != sha) {
      // Only a changed script can cause this; EVAL still works (one more round trip).
      log::Error(
          fmt::format("replay store: a script's SHA-1 is not {} (update redis_store.cc)", sha));
    }
  }
  return connection;
}

void RedisStore::Run(Command& command) {
  Lane& lane = PickLane();
  bool send = false;  // this thread sends the batch (else it waits to be answered or handed it)
  {
    std::lock_guard lock(lane.mutex);
    lane.queued.push_back(&command);
    lane.waiting.store(lane.queued.size(), std::memory_order_relaxed);
    if (!lane.busy.load(std::memory_order_relaxed)) {
      lane.busy.store(true, std::memory_order_relaxed);
      send = true;
    }
  }
  if (!send) {
    command.wake.acquire();  // a sender answered it, or handed the lane over
    if (command.done) return;
  }
  SendBatches(lane, command);
}

void RedisStore::SendBatches(Lane& lane, Command& own) {
  for (int batch = 1;; ++batch) {
    {
      std::lock_guard lock(lane.mutex);
      lane.sending.swap(lane.queued);  // the first time, `own` is among them
      lane.waiting.store(0, std::memory_order_relaxed);
    }
    try {
      SendBatch(lane);
    } catch (...) {
      // Out of memory (a log line, a vector): fail what is not answered, and drop the
      // connection, which may hold answers nobody will read.
      lane.connection.reset();
      for (Command* c : lane.sending) {
        if (c->status == Command::Status::kPending) c->status = Command::Status::kFailed;
      }
    }
    // Every command of the batch is woken exactly once, answered or failed: none is left
    // waiting (the sender's own returns with it).
    for (Command* c : lane.sending) {
      if (c == &own) continue;
      c->done = true;
      c->wake.release();  // `c` may be gone from here on
    }
    lane.sending.clear();
    Command* next = nullptr;
    {
      std::lock_guard lock(lane.mutex);
      if (lane.queued.empty()) {
        lane.busy.store(false, std::memory_order_relaxed);
        return;
      }
      // Sending the next batch too costs less than waking a waiting thread to do it (on a
      // busy machine the lane would sit idle until the scheduler runs that thread), but the
      // sender's own request waits meanwhile: a few batches, then hand over.
      if (batch < kBatchesPerSender) continue;
      next = lane.queued.front();
    }
    next->wake.release();
    return;
  }
}

void RedisStore::SendBatch(Lane& lane) {
  std::string error;
  if (!EnsureConnected(lane, error)) {
    for (Command* c : lane.sending) {
      c->status = error.empty() ? Command::Status::kBackingOff : Command::Status::kFailed;
      c->error = error;
    }
    if (!error.empty()) NoteFailure(error);
    return;
  }
  if (!Exchange(lane.connection->context.get(), lane.sending, error)) {
    lane.connection.reset();
    NoteFailure(error);
    return;
  }
  // A Redis restarted (or SCRIPT FLUSH) lost the scripts: EVAL sends them again.
  std::vector<Command*> again;
  for (Command* c : lane.sending) {
    if (c->status == Command::Status::kErrorReply && c->error.starts_with("NOSCRIPT")) {
      c->argv[0] = "EVAL";
      c->lengths[0] = 4;
      c->argv[1] = c->script.data();
      c->lengths[1] = c->script.size();
      c->error.clear();
      again.push_back(c);
    }
  }
  if (!again.empty() && !Exchange(lane.connection->context.get(), again, error)) {
    lane.connection.reset();
    NoteFailure(error);
    return;
  }
  NoteSuccess();
}

bool RedisStore::Answered(Command& c, std::string_view what) {
  switch (c.status) {
    case Command::Status::kReply:
      return true;
    case Command::Status::kErrorReply:
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      NoteFailure(fmt::format("{}: {}", what, c.error));
      return false;
    case Command::Status::kFailed:  // the sender noted the failure once for its batch
      stats_.errors.fetch_add(1, std::memory_order_relaxed);
      return false;
    case Command::Status::kPending:
    case Command::Status::kBackingOff:
      return false;
  }
  return false;
}

ClaimResult RedisStore::Claim(const std::string& key, const std::string& token,
                              std::chrono::milliseconds ttl) {
  const auto start = std::chrono::steady_clock::now();
  const std::int64_t now_ms = clock_->NowUnixMillis();
  const Digest digest = DigestOf(key);
  if (KnownDone(digest, now_ms)) {
    stats_.claims[static_cast<std::size_t>(ClaimResult::kDone)].fetch_add(
        1, std::memory_order_relaxed);
    stats_.Observe(std::chrono::steady_clock::now() - start);
    return ClaimResult::kDone;
  }
  const std::string running = "running:" + token;
  const std::string px = std::to_string(ttl.count());
  ClaimResult result = ClaimResult::kUnavailable;
  for (int attempt = 0; attempt < 2; ++attempt) {
    // Redis >= 7.0: SET NX GET answers what was there in the same round trip (nil: claimed).
    if (set_get_.load(std::memory_order_relaxed)) {
      Command set;
      set.Arg("SET").Arg(key).Arg(running).Arg("NX").Arg("PX").Arg(px).Arg("GET");
      Run(set);
      if (set.status == Command::Status::kErrorReply && set.error.starts_with("ERR syntax")) {
        set_get_.store(false, std::memory_order_relaxed);  // before 7.0: SET, then GET
      } else {
        if (Answered(set, "claim")) {
          result = set.reply->type == REDIS_REPLY_NIL ? ClaimResult::kClaimed
                                                      : Existing(*set.reply, digest, now_ms, ttl);
        }
        break;
      }
    }
    Command set;
    set.Arg("SET").Arg(key).Arg(running).Arg("NX").Arg("PX").Arg(px);
    Run(set);
    if (!Answered(set, "claim")) break;
    if (set.reply->type == REDIS_REPLY_STATUS) {
      result = ClaimResult::kClaimed;
      break;
    }
    Command get;
    get.Arg("GET").Arg(key);
    Run(get);
    if (!Answered(get, "claim")) break;
    if (get.reply->type == REDIS_REPLY_STRING) {
      result = Existing(*get.reply, digest, now_ms, ttl);
      break;
    }
    result = ClaimResult::kInFlight;  // released or expired in between: try once more
  }
  stats_.claims[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  stats_.Observe(std::chrono::steady_clock::now() - start);
  if (result != ClaimResult::kUnavailable) ServeWantingLane();
  return result;
}

ClaimResult RedisStore::Existing(const redisReply& r, const Digest& digest, std::int64_t now_ms,
                                 std::chrono::milliseconds ttl) {
  // "done:<expiry>" (remembered until then), "done" (written by an older watchdog), else a
  // running claim.
  const std::string_view value =
      r.type == REDIS_REPLY_STRING ? std::string_view(r.str, r.len) : std::string_view();
  if (!value.starts_with("done")) return ClaimResult::kInFlight;
  std::int64_t expires_ms = 0;
  if (value.starts_with("done:")) {
    auto [end, ec] = std::from_chars(value.data() + 5, value.data() + value.size(), expires_ms);
    // Dated by the replica that kept it, on its clock: remembered no longer than this claim's
    // own ttl (at most the window), so a skewed clock cannot stretch the window.
    expires_ms = std::min(expires_ms, now_ms + ttl.count());
    if (ec == std::errc() && end == value.data() + value.size() && expires_ms > now_ms) {
      RememberDone(digest, expires_ms);
    }
  }
  return ClaimResult::kDone;
}

void RedisStore::Keep(const std::string& key, const std::string& token,
                      std::chrono::milliseconds ttl) {
  const auto start = std::chrono::steady_clock::now();
  const std::string running = "running:" + token;
  const std::string px = std::to_string(ttl.count());
  const std::int64_t expires_ms = clock_->NowUnixMillis() + ttl.count();
  const std::string done = "done:" + std::to_string(expires_ms);
  Command keep;
  keep.Arg("EVALSHA").Arg(kKeepScriptSha).Arg("1").Arg(key).Arg(running).Arg(px).Arg(done);
  keep.script = kKeepScript;
  Run(keep);
  if (!Answered(keep, "keep")) {
    log::Warn(
        "replay store: a success could not be recorded (Redis unreachable); the claim "
        "expires by itself");
  } else if (keep.reply->type == REDIS_REPLY_STATUS) {  // OK: it was ours, now done
    RememberDone(DigestOf(key), expires_ms);
  }
  stats_.Observe(std::chrono::steady_clock::now() - start);
}

void RedisStore::Release(const std::string& key, const std::string& token) {
  const auto start = std::chrono::steady_clock::now();
  const std::string running = "running:" + token;
  Command release;
  release.Arg("EVALSHA").Arg(kReleaseScriptSha).Arg("1").Arg(key).Arg(running);
  release.script = kReleaseScript;
  Run(release);
  if (!Answered(release, "release")) {
    log::Warn(
        "replay store: a failed delivery could not be released (Redis unreachable); "
        "retries get 409 until its claim expires");
  }
  stats_.Observe(std::chrono::steady_clock::now() - start);
}

// A front loop's connection. Commands are appended to the hiredis context's output buffer
// and written by Flush (claims: once per loop turn) or at once (keep, release); answers are
// parsed by hiredis's reader as they arrive, in the order of `ops_`.
class RedisStore::LoopLane final : public StoreLane {
 public:
  LoopLane(RedisStore& store, WatchDescriptor watch) : store_(store), watch_(std::move(watch)) {
    std::lock_guard lock(store_.lanes_mutex_);
    store_.loop_lanes_.push_back(this);
  }
  ~LoopLane() override {
    {
      std::lock_guard lock(store_.lanes_mutex_);
      std::erase(store_.loop_lanes_, this);
      std::erase(store_.wanting_, this);
      store_.any_wanting_.store(!store_.wanting_.empty(), std::memory_order_relaxed);
    }
    // After the loop ended: nothing to unwatch, and what is unanswered is not called back
    // (its requests are gone with the loop).
    connection_.reset();
  }

  Started Claim(const std::string& key, const std::string& token, std::chrono::milliseconds ttl,
                ClaimDone done) override {
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t now_ms = store_.clock_->NowUnixMillis();
    const Digest digest = DigestOf(key);
    if (store_.KnownDone(digest, now_ms)) {
      Count(ClaimResult::kDone, start);
      return {Step::kAnswered, ClaimResult::kDone};
    }
    // Before Redis 7.0 a claim takes two commands and maybe a second try: workers do that.
    if (!store_.set_get_.load(std::memory_order_relaxed) || !Usable()) return {Step::kNeedsWorker};
    const std::string running = "running:" + token;
    const std::string px = std::to_string(ttl.count());
    if (!Append({"SET", key, running, "NX", "PX", px, "GET"})) return {Step::kNeedsWorker};
    Op& op = ops_.emplace_back();
    op.kind = Op::kClaim;
    op.start = start;
    op.digest = digest;
    op.now_ms = now_ms;
    op.ttl = ttl;
    op.done = std::move(done);
    claims_waiting_.fetch_add(1, std::memory_order_relaxed);
    return {Step::kSent};
  }

  bool Keep(const std::string& key, const std::string& token,
            std::chrono::milliseconds ttl) override {
    const std::int64_t expires_ms = store_.clock_->NowUnixMillis() + ttl.count();
    return Settle(Op::kKeep,
                  {std::string(kKeepScriptSha), "1", key, "running:" + token,
                   std::to_string(ttl.count()), "done:" + std::to_string(expires_ms)},
                  DigestOf(key), expires_ms);
  }

  bool Release(const std::string& key, const std::string& token) override {
    return Settle(Op::kRelease, {std::string(kReleaseScriptSha), "1", key, "running:" + token}, {},
                  0);
  }

  int fd() const override { return connection_ ? connection_->context->fd : -1; }
  std::size_t ClaimsWaiting() const override {
    return claims_waiting_.load(std::memory_order_relaxed);
  }

  void OnReadable() override {
    if (!connection_) return;
    redisContext* c = connection_->context.get();
    if (redisBufferRead(c) != REDIS_OK) {
      if (ops_.empty()) {
        // Closed while idle (Redis's `timeout`, a proxy): not an outage. The next claim
        // goes to a worker, which opens the lane a new connection.
        Close();
        return;
      }
      Fail(c->errstr[0] != '\0' ? c->errstr : "connection closed");
      return;
    }
    while (connection_ && !ops_.empty()) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c, &raw) != REDIS_OK) {
        Fail(c->errstr[0] != '\0' ? c->errstr : "unreadable answer");
        return;
      }
      if (raw == nullptr) break;
      Reply reply(static_cast<redisReply*>(raw));
      Op op = std::move(ops_.front());
      ops_.pop_front();
      Answer(op, *reply);
    }
  }

  void Flush() override {
    if (!connection_) return;
    redisContext* c = connection_->context.get();
    int done = 0;
    // Non-blocking: a socket that takes only part of it gets the rest when it has room (the
    // loop watches for that meanwhile).
    for (int i = 0; i < 2 && done == 0; ++i) {
      if (redisBufferWrite(c, &done) != REDIS_OK) {
        Fail(c->errstr[0] != '\0' ? c->errstr : "write failed");
        return;
      }
    }
    const bool pending = done == 0;
    if (pending != writing_ && watch_(c->fd, pending ? Interest::kReadWrite : Interest::kRead)) {
      writing_ = pending;
    }
  }

  void Expire() override {
    TakeMail();
    Flush();
    if (!ops_.empty() && std::chrono::steady_clock::now() - ops_.front().start > store_.timeout_) {
      Fail(fmt::format("no answer within {} ms", store_.timeout_.count()));
    }
  }

  // From a worker, under lanes_mutex_: a connection for this lane.
  void Deliver(std::unique_ptr<Connection> connection, std::uint64_t generation) {
    mail_ = std::move(connection);
    mail_generation_ = generation;
    has_mail_.store(true, std::memory_order_release);
  }

 private:
  struct Op {
    enum Kind { kClaim, kKeep, kRelease } kind = kClaim;
    std::chrono::steady_clock::time_point start;
    Digest digest{};
    std::int64_t now_ms = 0;  // claim: when it was asked; keep: the expiry it records
    std::chrono::milliseconds ttl{0};
    ClaimDone done;                 // claim
    std::vector<std::string> args;  // keep, release: EVALSHA's, sent again as EVAL
  };

  // True when a connection is there to send on (taking one a worker opened, dropping one
  // from before the last failure when nothing waits on it); otherwise asks for one.
  bool Usable() {
    TakeMail();
    if (connection_ && ops_.empty() &&
        generation_ != store_.failure_generation_.load(std::memory_order_relaxed)) {
      Close();  // opened before a failure: most likely broken too
    }
    if (connection_) return true;
    std::lock_guard lock(store_.lanes_mutex_);
    if (std::find(store_.wanting_.begin(), store_.wanting_.end(), this) == store_.wanting_.end()) {
      store_.wanting_.push_back(this);
      store_.any_wanting_.store(true, std::memory_order_relaxed);
    }
    return false;
  }

  // Takes the connection a worker opened for this lane, if any (unless the lane's own is
  // still busy), and sends the keeps and releases that waited for one.
  void TakeMail() {
    if (!has_mail_.load(std::memory_order_acquire)) return;
    std::unique_ptr<Connection> mail;
    std::uint64_t generation = 0;
    {
      std::lock_guard lock(store_.lanes_mutex_);
      mail = std::move(mail_);
      generation = mail_generation_;
      has_mail_.store(false, std::memory_order_relaxed);
    }
    if (!mail || !ops_.empty()) return;
    Close();
    redisContext* c = mail->context.get();
    ::fcntl(c->fd, F_SETFL, ::fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->flags &= ~REDIS_BLOCK;
    if (!watch_(c->fd, Interest::kRead)) return;  // the loop cannot watch it: dropped
    connection_ = std::move(mail);
    generation_ = generation;
    std::vector<Op> waiting;
    waiting.swap(unsent_settles_);
    const auto now = std::chrono::steady_clock::now();
    for (Op& op : waiting) {
      if (!Append({"EVALSHA"}, op.args)) break;
      op.start = now;  // the timeout counts from the sending (it waited for a connection)
      ops_.push_back(std::move(op));
    }
    Flush();
  }

  // Appends one command: `head`, then `rest` (a keep's or release's arguments).
  bool Append(std::initializer_list<std::string_view> head,
              const std::vector<std::string>& rest = {}) {
    const char* argv[Command::kMaxArgs];
    std::size_t lengths[Command::kMaxArgs];
    int argc = 0;
    for (std::string_view a : head) {
      argv[argc] = a.data();
      lengths[argc++] = a.size();
    }
    for (const std::string& a : rest) {
      argv[argc] = a.data();
      lengths[argc++] = a.size();
    }
    return redisAppendCommandArgv(connection_->context.get(), argc, argv, lengths) == REDIS_OK;
  }

  // Written at once when the lane has a connection; otherwise kept (up to
  // kMaxUnsentSettles) until a worker opens one: the loop never waits on the store.
  bool Settle(Op::Kind kind, std::vector<std::string> args, const Digest& digest,
              std::int64_t expires_ms) {
    Op op;
    op.kind = kind;
    op.start = std::chrono::steady_clock::now();
    op.digest = digest;
    op.now_ms = expires_ms;
    op.args = std::move(args);
    if (Usable() && Append({"EVALSHA"}, op.args)) {
      ops_.push_back(std::move(op));
      Flush();
      return true;
    }
    if (unsent_settles_.size() >= kMaxUnsentSettles) {
      store_.stats_.errors.fetch_add(1, std::memory_order_relaxed);
      Unsettled(kind, 1);
      return false;
    }
    unsent_settles_.push_back(std::move(op));
    return true;
  }

  void Count(ClaimResult result, std::chrono::steady_clock::time_point start) {
    store_.stats_.claims[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
    store_.stats_.Observe(std::chrono::steady_clock::now() - start);
  }

  void Answer(Op& op, const redisReply& reply) {
    const bool error = reply.type == REDIS_REPLY_ERROR;
    const std::string_view text = error ? std::string_view(reply.str, reply.len) : "";
    if (op.kind == Op::kClaim) {
      ClaimResult result = ClaimResult::kUnavailable;
      if (!error) {
        store_.NoteSuccess();
        result = reply.type == REDIS_REPLY_NIL
                     ? ClaimResult::kClaimed
                     : store_.Existing(reply, op.digest, op.now_ms, op.ttl);
      } else if (text.starts_with("ERR syntax")) {
        // Before 7.0: this claim and every later one are made on a worker (two commands, and
        // maybe a second try), which counts it.
        store_.set_get_.store(false, std::memory_order_relaxed);
        claims_waiting_.fetch_sub(1, std::memory_order_relaxed);
        op.done(std::nullopt);
        return;
      } else {
        store_.stats_.errors.fetch_add(1, std::memory_order_relaxed);
        store_.NoteFailure(fmt::format("claim: {}", text));
      }
      Count(result, op.start);
      claims_waiting_.fetch_sub(1, std::memory_order_relaxed);
      op.done(result);
      return;
    }
    // A Redis that lost its scripts (restarted, SCRIPT FLUSH): EVAL sends them again.
    if (error && text.starts_with("NOSCRIPT") && !op.args.empty() && connection_) {
      op.args[0] = std::string(op.kind == Op::kKeep ? kKeepScript : kReleaseScript);
      if (Append({"EVAL"}, op.args)) {
        op.args.clear();  // once
        ops_.push_back(std::move(op));
        Flush();
        return;
      }
    }
    store_.stats_.Observe(std::chrono::steady_clock::now() - op.start);
    if (error) {
      store_.stats_.errors.fetch_add(1, std::memory_order_relaxed);
      store_.NoteFailure(fmt::format("{}: {}", op.kind == Op::kKeep ? "keep" : "release", text));
      Unsettled(op.kind, 1);
      return;
    }
    store_.NoteSuccess();
    if (op.kind == Op::kKeep && reply.type == REDIS_REPLY_STATUS) {
      store_.RememberDone(op.digest, op.now_ms);  // OK: it was ours, now done
    }
  }

  void Unsettled(Op::Kind kind, std::size_t n) {
    log::Warn(kind == Op::kKeep
                  ? fmt::format("replay store: {} success(es) could not be recorded (Redis "
                                "unreachable); their claims expire by themselves",
                                n)
                  : fmt::format("replay store: {} failed deliveries could not be released (Redis "
                                "unreachable); retries get 409 until their claims expire",
                                n));
  }

  // The connection broke or timed out: every command on it fails (claims as kUnavailable),
  // the store backs off, and the lane asks a worker for a new connection.
  void Fail(const std::string& why) {
    Close();
    store_.NoteFailure(why);
    std::deque<Op> failed;
    failed.swap(ops_);
    std::size_t keeps = 0, releases = 0;
    for (Op& op : failed) {
      store_.stats_.errors.fetch_add(1, std::memory_order_relaxed);
      if (op.kind == Op::kClaim) {
        Count(ClaimResult::kUnavailable, op.start);
        claims_waiting_.fetch_sub(1, std::memory_order_relaxed);
        op.done(ClaimResult::kUnavailable);
      } else {
        ++(op.kind == Op::kKeep ? keeps : releases);
      }
    }
    if (keeps > 0) Unsettled(Op::kKeep, keeps);
    if (releases > 0) Unsettled(Op::kRelease, releases);
  }

  void Close() {
    if (!connection_) return;
    watch_(connection_->context->fd, Interest::kNone);
    connection_.reset();
    writing_ = false;
  }

  RedisStore& store_;
  const WatchDescriptor watch_;
  std::unique_ptr<Connection> connection_;
  bool writing_ = false;  // the loop watches for room to write the rest (Interest::kReadWrite)
  std::uint64_t generation_ = 0;  // failure_generation_ when connection_ was opened
  std::deque<Op> ops_;            // sent or to be sent, oldest first: answers come in this order
  // Under store_.lanes_mutex_: a connection a worker opened for this lane.
  std::unique_ptr<Connection> mail_;
  std::uint64_t mail_generation_ = 0;
  std::atomic<bool> has_mail_{false};
  std::atomic<std::size_t> claims_waiting_{0};
  // Keeps and releases waiting for a connection (TakeMail sends them).
  static constexpr std::size_t kMaxUnsentSettles = 4096;
  std::vector<Op> unsent_settles_;
};

std::unique_ptr<StoreLane> RedisStore::NewLane(WatchDescriptor watch) {
  return std::make_unique<LoopLane>(*this, std::move(watch));
}

void RedisStore::ServeWantingLane() {
  if (!any_wanting_.load(std::memory_order_relaxed)) return;
  LoopLane* lane = nullptr;
  {
    std::lock_guard lock(lanes_mutex_);
    if (wanting_.empty()) return;
    lane = wanting_.back();
    wanting_.pop_back();
    any_wanting_.store(!wanting_.empty(), std::memory_order_relaxed);
  }
  const std::uint64_t generation = failure_generation_.load(std::memory_order_relaxed);
  std::string error;
  std::unique_ptr<Connection> connection = OpenConnection(error);
  if (!error.empty()) NoteFailure(error);
  std::lock_guard lock(lanes_mutex_);
  if (std::find(loop_lanes_.begin(), loop_lanes_.end(), lane) == loop_lanes_.end()) return;
  if (connection) {
    lane->Deliver(std::move(connection), generation);
  } else if (std::find(wanting_.begin(), wanting_.end(), lane) == wanting_.end()) {
    wanting_.push_back(lane);  // the next worker tries again (after the backoff)
    any_wanting_.store(true, std::memory_order_relaxed);
  }
}

}  // namespace hw::replay
