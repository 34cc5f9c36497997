#include "replay/redis_store.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <charconv>
#include <cstring>
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
  lane.connection.reset();
  {
    std::lock_guard lock(backoff_mutex_);
    if (std::chrono::steady_clock::now() < next_attempt_) return false;  // error stays empty
  }
  auto connection = std::make_unique<Connection>();
  const timeval tv = ToTimeval(timeout_);
  redisContext* raw = endpoint_.socket_path.empty()
                          ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv)
                          : redisConnectUnixWithTimeout(endpoint_.socket_path.c_str(), tv);
  connection->context.reset(raw);
  if (raw == nullptr) {
    error = "out of memory";
    return false;
  }
  if (raw->err != 0) {
    error = raw->errstr;
    return false;
  }
  if (redisSetTimeout(raw, tv) != REDIS_OK) {
    error = "cannot set the command timeout";
    return false;
  }
  // AUTH, SELECT and loading the scripts (so EVALSHA finds them) in one round trip.
  Command setup[4];
  std::vector<Command*> sent;
  const std::string db = std::to_string(endpoint_.db);
  if (!password_.empty()) sent.push_back(&setup[0].Arg("AUTH").Arg(password_));
  if (endpoint_.db != 0) sent.push_back(&setup[1].Arg("SELECT").Arg(db));
  sent.push_back(&setup[2].Arg("SCRIPT").Arg("LOAD").Arg(kKeepScript));
  sent.push_back(&setup[3].Arg("SCRIPT").Arg("LOAD").Arg(kReleaseScript));
  if (!Exchange(raw, sent, error)) return false;
  const char* names[] = {"AUTH", "SELECT", "SCRIPT LOAD", "SCRIPT LOAD"};
  for (std::size_t i = 0; i < std::size(setup); ++i) {
    if (setup[i].status == Command::Status::kErrorReply) {
      error = fmt::format("{}: {}", names[i], setup[i].error);  // Redis's words: no password
      return false;
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
  lane.connection = std::move(connection);
  lane.generation = generation;
  return true;
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
  // What was there: "done:<expiry>" (remembered until then), "done" (written by an older
  // watchdog), else a running claim.
  auto done_or_in_flight = [&](const redisReply& r) {
    const std::string_view value =
        r.type == REDIS_REPLY_STRING ? std::string_view(r.str, r.len) : std::string_view();
    if (!value.starts_with("done")) return ClaimResult::kInFlight;
    std::int64_t expires_ms = 0;
    if (value.starts_with("done:")) {
      auto [end, ec] = std::from_chars(value.data() + 5, value.data() + value.size(), expires_ms);
      // Dated by the replica that kept it, on its clock: remembered no longer than this
      // claim's own ttl (at most the window), so a skewed clock cannot stretch the window.
      expires_ms = std::min(expires_ms, now_ms + ttl.count());
      if (ec == std::errc() && end == value.data() + value.size() && expires_ms > now_ms) {
        RememberDone(digest, expires_ms);
      }
    }
    return ClaimResult::kDone;
  };
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
                                                      : done_or_in_flight(*set.reply);
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
      result = done_or_in_flight(*get.reply);
      break;
    }
    result = ClaimResult::kInFlight;  // released or expired in between: try once more
  }
  stats_.claims[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  stats_.Observe(std::chrono::steady_clock::now() - start);
  return result;
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

}  // namespace hw::replay
