#include "replay/redis_store.h"

#include <hiredis/hiredis.h>

#include <charconv>
#include <optional>

#include <fmt/format.h>

#include "logging/log.h"

namespace hw::replay {
namespace {

constexpr std::string_view kKeepScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('SET', KEYS[1], 'done', 'PX', ARGV[2]) else return 0 end";
constexpr std::string_view kReleaseScript =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) else return 0 end";
constexpr std::chrono::milliseconds kMaxBackoff{2000};
constexpr std::chrono::milliseconds kFirstBackoff{50};

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

  // One command; null (and a message in `error`) when the connection failed or Redis
  // answered with an error.
  Reply Command(const std::vector<std::string>& args, std::string& error) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    Reply reply(static_cast<redisReply*>(redisCommandArgv(
        context.get(), static_cast<int>(argv.size()), argv.data(), lengths.data())));
    if (!reply) {
      error = context->errstr[0] != '\0' ? context->errstr : "no reply";
      return nullptr;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      error = std::string(reply->str, reply->len);
      return nullptr;
    }
    return reply;
  }
};

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

RedisStore::RedisStore(RedisEndpoint endpoint, std::string password,
                       std::chrono::milliseconds timeout, std::size_t connections)
    : endpoint_(std::move(endpoint)),
      password_(std::move(password)),
      timeout_(timeout),
      max_connections_(connections == 0 ? 1 : connections) {}

RedisStore::~RedisStore() = default;

void RedisStore::NoteFailure(const std::string& why) {
  std::lock_guard lock(mutex_);
  stats_.errors.fetch_add(1, std::memory_order_relaxed);
  // The idle connections are most likely broken too (Redis restarted or gone).
  open_ -= idle_.size();
  idle_.clear();
  backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
  next_attempt_ = std::chrono::steady_clock::now() + backoff_;
  if (!down_) {
    down_ = true;
    log::Error(fmt::format("replay store {} unreachable: {}", endpoint_.display, why));
  }
}

void RedisStore::NoteSuccess() {
  std::lock_guard lock(mutex_);
  backoff_ = std::chrono::milliseconds(0);
  if (down_) {
    down_ = false;
    log::Info(fmt::format("replay store {} reachable again", endpoint_.display));
  }
}

std::unique_ptr<RedisStore::Connection> RedisStore::Borrow() {
  {
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (idle_.empty() && open_ >= max_connections_) {
      if (returned_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty()) {
        return nullptr;
      }
    }
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
    if (std::chrono::steady_clock::now() < next_attempt_) return nullptr;  // backing off
    ++open_;
  }
  auto connection = std::make_unique<Connection>();
  const timeval tv = ToTimeval(timeout_);
  redisContext* raw = endpoint_.socket_path.empty()
                          ? redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv)
                          : redisConnectUnixWithTimeout(endpoint_.socket_path.c_str(), tv);
  connection->context.reset(raw);
  std::string error;
  if (raw == nullptr) {
    error = "out of memory";
  } else if (raw->err != 0) {
    error = raw->errstr;
  } else if (redisSetTimeout(raw, tv) != REDIS_OK) {
    error = "cannot set the command timeout";
  } else if (!password_.empty() && !connection->Command({"AUTH", password_}, error)) {
    error = "AUTH: " + error;
  } else if (endpoint_.db != 0 &&
             !connection->Command({"SELECT", std::to_string(endpoint_.db)}, error)) {
    error = "SELECT: " + error;
  }
  if (!error.empty()) {
    {
      std::lock_guard lock(mutex_);
      --open_;
    }
    returned_.notify_one();
    NoteFailure(error);
    return nullptr;
  }
  return connection;
}

void RedisStore::Return(std::unique_ptr<Connection> connection, bool healthy) {
  {
    std::lock_guard lock(mutex_);
    if (healthy) {
      idle_.push_back(std::move(connection));
    } else {
      --open_;
    }
  }
  returned_.notify_one();
}

ClaimResult RedisStore::Claim(const std::string& key, const std::string& token,
                              std::chrono::milliseconds ttl) {
  const auto start = std::chrono::steady_clock::now();
  ClaimResult result = ClaimResult::kUnavailable;
  if (auto c = Borrow()) {
    std::string error;
    const std::string running = "running:" + token;
    bool healthy = true;
    for (int attempt = 0; attempt < 2; ++attempt) {
      // Redis 7: SET NX GET answers what was there in the same round trip (nil: claimed).
      if (set_get_.load(std::memory_order_relaxed)) {
        Reply set = c->Command(
            {"SET", key, running, "NX", "PX", std::to_string(ttl.count()), "GET"}, error);
        if (set) {
          if (set->type == REDIS_REPLY_NIL) {
            result = ClaimResult::kClaimed;
          } else {
            result =
                set->type == REDIS_REPLY_STRING && std::string_view(set->str, set->len) == "done"
                    ? ClaimResult::kDone
                    : ClaimResult::kInFlight;
          }
          break;
        }
        if (c->context->err != 0) {
          healthy = false;
          break;
        }
        set_get_.store(false, std::memory_order_relaxed);  // before 7.0: SET then GET
        error.clear();
      }
      Reply set = c->Command({"SET", key, running, "NX", "PX", std::to_string(ttl.count())}, error);
      if (!set) {
        healthy = false;
        break;
      }
      if (set->type == REDIS_REPLY_STATUS) {
        result = ClaimResult::kClaimed;
        break;
      }
      Reply get = c->Command({"GET", key}, error);
      if (!get) {
        healthy = false;
        break;
      }
      if (get->type == REDIS_REPLY_STRING) {
        result = std::string_view(get->str, get->len) == "done" ? ClaimResult::kDone
                                                                : ClaimResult::kInFlight;
        break;
      }
      result = ClaimResult::kInFlight;  // released or expired in between: try once more
    }
    const bool broken = !healthy && c->context->err != 0;
    Return(std::move(c), !broken);
    if (healthy) {
      NoteSuccess();
    } else {
      result = ClaimResult::kUnavailable;
      NoteFailure(error);
    }
  }
  stats_.claims[static_cast<std::size_t>(result)].fetch_add(1, std::memory_order_relaxed);
  stats_.Observe(std::chrono::steady_clock::now() - start);
  return result;
}

void RedisStore::Keep(const std::string& key, const std::string& token,
                      std::chrono::milliseconds ttl) {
  const auto start = std::chrono::steady_clock::now();
  auto c = Borrow();
  if (!c) {
    log::Warn(
        "replay store: a success could not be recorded (Redis unreachable); the claim "
        "expires by itself");
    return;
  }
  std::string error;
  Reply r = c->Command(
      {"EVAL", std::string(kKeepScript), "1", key, "running:" + token, std::to_string(ttl.count())},
      error);
  const bool broken = !r && c->context->err != 0;
  Return(std::move(c), !broken);
  if (!r) NoteFailure("keep: " + error);
  stats_.Observe(std::chrono::steady_clock::now() - start);
}

void RedisStore::Release(const std::string& key, const std::string& token) {
  const auto start = std::chrono::steady_clock::now();
  auto c = Borrow();
  if (!c) {
    log::Warn(
        "replay store: a failed delivery could not be released (Redis unreachable); "
        "retries get 409 until its claim expires");
    return;
  }
  std::string error;
  Reply r = c->Command({"EVAL", std::string(kReleaseScript), "1", key, "running:" + token}, error);
  const bool broken = !r && c->context->err != 0;
  Return(std::move(c), !broken);
  if (!r) NoteFailure("release: " + error);
  stats_.Observe(std::chrono::steady_clock::now() - start);
}

}  // namespace hw::replay
