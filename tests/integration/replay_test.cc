// Replay and duplicate protection through the real binary (issue 16): a real redis-server
// (Debian's) on a loopback port and a Unix socket shared by several watchdog replicas, and
// the memory store. The function counts its runs in a file.
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "harness.h"
#include "raw_client.h"

#include "replay/redis_store.h"
#include "support/openssl_signature.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

std::string Shell(const std::string& cmd) {
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return "";
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

// A redis-server of its own: loopback port, Unix socket, data directory under a TempDir,
// no persistence unless `durable` (an append-only file written before every answer, so a
// claim Redis acknowledged survives a SIGKILL). Stopped (SIGKILL if it must) when destroyed.
class Redis {
 public:
  explicit Redis(bool durable = false)
      : port_(FreePort()), socket_(dir_.path() + "/redis.sock"), durable_(durable) {
    Start();
  }
  ~Redis() { Stop(); }
  void Start() { REQUIRE(StartQuietly()); }
  // Start without Catch2's REQUIRE (which must not run on other threads): true when it answers.
  bool StartQuietly() {
    // Everything is allocated before fork: the child of a process whose other threads
    // allocate may inherit a held allocator lock (ASan's), so it only calls execvp.
    const std::vector<std::string> args = {"redis-server",
                                           "--port",
                                           std::to_string(port_),
                                           "--bind",
                                           "127.0.0.1",
                                           "--unixsocket",
                                           socket_,
                                           "--unixsocketperm",
                                           "700",
                                           "--dir",
                                           dir_.path(),
                                           "--save",
                                           "",
                                           "--appendonly",
                                           durable_ ? "yes" : "no",
                                           "--appendfsync",
                                           "always",
                                           "--daemonize",
                                           "no",
                                           "--loglevel",
                                           "warning",
                                           "--logfile",
                                           dir_.path() + "/redis.log"};
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    return Eventually([&] { return Cli("PING") == "PONG\n"; });
  }
  // SIGKILL: no shutdown, connections reset, whatever it had not written is lost.
  void Kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGTERM);
    int status = 0;
    const bool exited = Eventually([&] { return ::waitpid(pid_, &status, WNOHANG) != 0; }, 5s);
    if (!exited) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  void Pause() const { ::kill(pid_, SIGSTOP); }
  void Resume() const { ::kill(pid_, SIGCONT); }
  std::string Cli(const std::string& args) const {
    return Shell("redis-cli -p " + std::to_string(port_) + " " + args + " 2>&1");
  }
  std::string Url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  int port() const { return port_; }
  // What redis-server logged (warnings only): why a start failed.
  std::string Log() const { return ReadFile(dir_.path() + "/redis.log"); }
  std::string UnixUrl() const { return "redis+unix://" + socket_ + "?db=1"; }

 private:
  TempDir dir_;
  int port_;
  std::string socket_;
  bool durable_;
  pid_t pid_ = -1;
};

// A function that counts its runs, then fails with exit 1 while FILE.fail exists, else
// sleeps `ms` and echoes.
struct Function {
  TempDir tmp;
  std::string secrets = tmp.path() + "/secrets";
  std::string runs = tmp.path() + "/runs";
  std::string fail = tmp.path() + "/fail";
  std::string script;
  explicit Function(int sleep_ms = 0) {
    tmp.Write("secrets/webhook-secret", "s3cret\n");
    script = tmp.Write("fn.sh", "#!/bin/sh\necho run >> " + runs + "\n[ -e " + fail +
                                    " ] && exit 1\nsleep " + std::to_string(sleep_ms / 1000.0) +
                                    "\nexec cat\n");
    ::chmod(script.c_str(), 0755);
  }
  int Runs() const {
    std::string s = ReadFile(runs);
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }
  Env Base(const std::string& scheme = "github") const {
    return {{"fprocess", script},
            {"mode", "serializing"},
            {"hmac_scheme", scheme},
            {"secrets_path", secrets},
            {"TMPDIR", tmp.path()}};
  }
  Headers SignGithub(const std::string& body, const std::string& id = "d-1") const {
    return Sign("github", secrets + "/webhook-secret", body, {"--id", id});
  }
};

Response Post(const Watchdog& w, const Headers& h, const std::string& body) {
  return Request(w.port(), "POST", "/hook", h, body);
}

bool IsDuplicate(const Response& r) {
  return r.status == 200 && r.body.empty() && r.Header("X-Webhook-Duplicate") == "true";
}

// Sanitizer builds report into the watchdog's log; the harness does not look there.
bool Clean(const Watchdog& w) { return w.Log().find("Sanitizer") == std::string::npos; }

std::string Metrics(const Watchdog& w) { return Get(w.metrics_port(), "/metrics").body; }

std::vector<std::unique_ptr<Watchdog>> Replicas(int n, const Env& env) {
  std::vector<std::unique_ptr<Watchdog>> out;
  for (int i = 0; i < n; ++i) out.push_back(Watchdog::Start(env));
  return out;
}

// Sends the same request to every replica at the same instant; returns the responses.
std::vector<Response> AllAtOnce(const std::vector<std::unique_ptr<Watchdog>>& replicas,
                                const Headers& h, const std::string& body) {
  std::vector<Response> out(replicas.size());
  std::barrier start(static_cast<std::ptrdiff_t>(replicas.size()));
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      out[i] = Post(*replicas[i], h, body);
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace

TEST_CASE("replicas sharing redis run each delivery sent to all of them at once exactly once") {
  Redis redis;
  Function fn(100);
  for (int n : {2, 3}) {
    Env env = fn.Base();
    env["hmac_replay_store"] = redis.Url();
    env["hmac_replay_namespace"] = "fn" + std::to_string(n);
    auto replicas = Replicas(n, env);
    const int before = fn.Runs();
    constexpr int kRounds = 25;
    for (int round = 0; round < kRounds; ++round) {
      const std::string body = "delivery " + std::to_string(n) + "/" + std::to_string(round);
      const Headers h = fn.SignGithub(body);
      std::vector<Response> got = AllAtOnce(replicas, h, body);
      int ran = 0;
      for (const Response& r : got) {
        if (r.status == 200 && r.body == body) {
          ++ran;
        } else {
          INFO("status " << r.status << " body " << r.body);
          CHECK((IsDuplicate(r) || (r.status == 409 && r.Header("Retry-After"))));
        }
      }
      CHECK(ran == 1);
      // Once it succeeded, a retry (with a new unsigned delivery id) is a duplicate anywhere.
      for (auto& w : replicas) CHECK(IsDuplicate(Post(*w, fn.SignGithub(body, "retry"), body)));
    }
    CHECK(fn.Runs() - before == kRounds);
    CHECK_THAT(
        Metrics(*replicas[0]),
        Catch::Contains("hmac_verifications_total{scheme=\"github\",outcome=\"duplicate\"}"));
    for (auto& w : replicas) CHECK(Clean(*w));
  }
}

TEST_CASE("with redis a retry after a function failure runs, after a success it is a duplicate") {
  Redis redis;
  Function fn;
  Env env = fn.Base();
  env["hmac_replay_store"] = redis.Url();
  auto replicas = Replicas(2, env);
  const std::string body = "retried";
  const Headers h = fn.SignGithub(body);
  fn.tmp.Write("fail", "");
  CHECK(Post(*replicas[0], h, body).status == 500);
  CHECK(Post(*replicas[1], h, body).status == 500);  // released: the retry ran (and failed)
  CHECK(fn.Runs() == 2);
  std::remove(fn.fail.c_str());
  auto ok = Post(*replicas[1], h, body);
  CHECK(ok.status == 200);
  CHECK(ok.body == body);
  CHECK(IsDuplicate(Post(*replicas[0], h, body)));
  CHECK(fn.Runs() == 3);
}

TEST_CASE("redis keys are namespaced, hashed and all expire") {
  Redis redis;
  Function fn;
  Env env = fn.Base();
  env["hmac_replay_store"] = redis.Url();
  env["hmac_replay_namespace"] = "orders";
  env["hmac_dedupe_window"] = "1h";
  auto w = Watchdog::Start(env);
  const std::string body = "secret-looking-body";
  const Headers h = fn.SignGithub(body, "delivery-id-123");
  REQUIRE(Post(*w, h, body).status == 200);
  const std::string keys = redis.Cli("--scan");
  CHECK(std::regex_match(keys, std::regex("hw:replay:orders:github:[0-9a-f]{64}\n")));
  CHECK(keys.find("delivery-id-123") == std::string::npos);
  for (const auto& [name, value] : h) CHECK(keys.find(value.substr(7)) == std::string::npos);
  const std::string key = keys.substr(0, keys.size() - 1);
  // The value says until when it is done (so a replica that sees it remembers it until then).
  const std::string done = redis.Cli("GET " + key);
  REQUIRE(std::regex_match(done, std::regex("done:[0-9]{13}\n")));
  const long long until =
      std::stoll(done.substr(5)) - std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count();
  CHECK(until > 3'500'000);
  CHECK(until <= 3'600'000);
  const long ttl = std::stol(redis.Cli("PTTL " + key));
  CHECK(ttl > 3'500'000);
  CHECK(ttl <= 3'600'000);
}

TEST_CASE("the redis store over a unix socket, with the password from a secret file") {
  Redis redis;
  redis.Cli("CONFIG SET requirepass hunter2");
  Function fn;
  fn.tmp.Write("secrets/redis-password", "hunter2\n");
  Env env = fn.Base();
  env["hmac_replay_store"] = redis.UnixUrl();
  env["hmac_replay_store_password_secret"] = "redis-password";
  auto w = Watchdog::Start(env);
  const Headers h = fn.SignGithub("via socket");
  CHECK(Post(*w, h, "via socket").status == 200);
  CHECK(IsDuplicate(Post(*w, h, "via socket")));
  CHECK(redis.Cli("-a hunter2 --no-auth-warning -n 1 DBSIZE") == "1\n");
  CHECK(fn.Runs() == 1);
}

TEST_CASE(
    "redis stopped mid-load: fail closed answers 503 without running; restarted, claims resume") {
  Redis redis;
  Function fn;
  Env env = fn.Base();
  env["hmac_replay_store"] = redis.Url();
  auto w = Watchdog::Start(env);
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, unavailable{0}, other{0};
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const std::string body = "load " + std::to_string(t) + "/" + std::to_string(i);
        const Headers h = fn.SignGithub(body);
        Response r = Post(*w, h, body);
        if (r.status == 200 && r.body == body) {
          ++ok;
        } else if (r.status == 503 && r.Header("Retry-After")) {
          ++unavailable;
        } else {
          ++other;
        }
      }
    });
  }
  REQUIRE(Eventually([&] { return ok > 5; }));
  redis.Stop();
  const int ok_at_stop = ok;
  REQUIRE(Eventually([&] { return unavailable > 5; }));
  const int runs_while_down = fn.Runs();
  std::this_thread::sleep_for(300ms);       // time passes with Redis down: nothing new may run
  CHECK(fn.Runs() - runs_while_down <= 4);  // only requests already past their claim
  redis.Start();
  // A bound on liveness, not speed: each request is signed by a `sign` process, about a
  // second apiece under a sanitizer on a busy machine.
  CHECK(Eventually([&] { return ok > ok_at_stop + 10; }, 60s));
  stop = true;
  for (auto& t : load) t.join();
  CHECK(other == 0);
  CHECK(w->Log().find("unreachable") != std::string::npos);
  CHECK(w->Log().find("reachable again") != std::string::npos);
  CHECK_THAT(Metrics(*w), Catch::Contains("hmac_replay_store_errors_total"));
  CHECK_THAT(Metrics(*w), Catch::Contains("outcome=\"replay_unavailable\""));
  CHECK(Clean(*w));
}

TEST_CASE("redis unreachable with hmac_replay_store_fail_open admits and warns once") {
  Redis redis;
  Function fn;
  Env env = fn.Base();
  env["hmac_replay_store"] = redis.Url();
  env["hmac_replay_store_fail_open"] = "true";
  auto w = Watchdog::Start(env);
  redis.Stop();
  for (int i = 0; i < 5; ++i) {
    const std::string body = "open " + std::to_string(i);
    CHECK(Post(*w, fn.SignGithub(body), body).status == 200);
  }
  CHECK(fn.Runs() == 5);
  REQUIRE(w->WaitForLog("fail_open=true"));  // the harness reads stderr on a thread of its own
  const std::string log = w->Log();
  const auto first = log.find("fail_open=true");
  CHECK(first != std::string::npos);
  CHECK(log.find("fail_open=true", first + 1) == std::string::npos);
}

TEST_CASE("a slow redis is cut off at hmac_replay_store_timeout") {
  Redis redis;
  Function fn;
  Env env = fn.Base();
  env["hmac_replay_store"] = redis.Url();
  env["hmac_replay_store_timeout"] = "300ms";
  auto w = Watchdog::Start(env);
  REQUIRE(Post(*w, fn.SignGithub("warm"), "warm").status == 200);  // a pooled connection
  // Signed before the clock starts: `sign` is a process of its own, which takes about a
  // second to start and end under a sanitizer on a busy machine.
  const Headers slow = fn.SignGithub("slow");
  redis.Pause();
  const auto start = std::chrono::steady_clock::now();
  Response r = Post(*w, slow, "slow");
  const auto took = std::chrono::steady_clock::now() - start;
  redis.Resume();
  CHECK(r.status == 503);
  CHECK(r.Header("Retry-After"));
  CHECK(took >= 250ms);
  CHECK(took < 1500ms);
  CHECK(fn.Runs() == 1);
  CHECK(Eventually([&] { return Post(*w, fn.SignGithub("after"), "after").status == 200; }, 10s));
  CHECK(Clean(*w));
}

TEST_CASE("memory store: full of live entries answers 503 with Retry-After, never forgets") {
  Function fn;
  Env env = fn.Base("standard-webhooks");
  env["hmac_replay_cache"] = "2";
  fn.tmp.Write("secrets/webhook-secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  auto w = Watchdog::Start(env);
  auto sign = [&](const std::string& id, const std::string& body) {
    return Sign("standard-webhooks", fn.secrets + "/webhook-secret", body, {"--id", id});
  };
  // Regression (issue 16): m1 was accepted again after m2 and m3 with hmac_replay_cache=2.
  const Headers m1 = sign("m1", "a");
  CHECK(Post(*w, m1, "a").status == 200);
  CHECK(Post(*w, sign("m2", "b"), "b").status == 200);
  Response full = Post(*w, sign("m3", "c"), "c");
  CHECK(full.status == 503);
  CHECK(full.Header("Retry-After"));
  CHECK(IsDuplicate(Post(*w, m1, "a")));
  CHECK(fn.Runs() == 2);
  CHECK_THAT(Metrics(*w), Catch::Contains("outcome=\"replay_full\""));
}

TEST_CASE("memory store: a github body resent with a new X-GitHub-Delivery is a duplicate") {
  Function fn;
  Env env = fn.Base();
  env["hmac_replay_cache"] = "100";
  auto w = Watchdog::Start(env);
  CHECK(Post(*w, fn.SignGithub("same", "id-1"), "same").status == 200);
  CHECK(IsDuplicate(Post(*w, fn.SignGithub("same", "id-2"), "same")));
  CHECK(fn.Runs() == 1);
}

TEST_CASE("an unknown replay store URL is a startup error naming hmac_replay_store (exit 2)") {
  Function fn;
  for (const char* url :
       {"memcached://x", "redis://h:0/1", "redis://h/16", "REDIS://h", "redis+unix://relative.sock",
        "redis://user:hunter2@h:6379/0", "redis://:hunter2@h", "rediss://:hunter2@h:6380"}) {
    INFO(url);
    Env env = fn.Base();
    env["hmac_replay_store"] = url;
    auto w = Watchdog::Start(env, {}, false);
    CHECK(w->WaitExit() == 2);
    CHECK(w->Log().find("hmac_replay_store") != std::string::npos);
    // A password put in the URL by mistake is never printed.
    CHECK(w->Log().find("hunter2") == std::string::npos);
  }
}

TEST_CASE("a delivery whose first attempt is still running gets 409 with Retry-After") {
  Redis redis;
  Function fn(1500);
  for (const std::string store : {"memory", "redis"}) {
    INFO(store);
    Env env = fn.Base();
    env["exec_timeout"] = "10s";
    if (store == "memory") {
      env["hmac_replay_cache"] = "10";
    } else {
      env["hmac_replay_store"] = redis.Url();
    }
    auto w = Watchdog::Start(env);
    const std::string body = "slow " + store;
    const Headers h = fn.SignGithub(body);
    // Signed before the first attempt starts (`sign` is a process, slow to start under a
    // sanitizer): the retry must arrive while the first attempt still runs.
    const Headers retry = fn.SignGithub(body, "another-delivery-id");
    const int before = fn.Runs();
    Response first;
    std::jthread t([&] { first = Post(*w, h, body); });  // joined even if a REQUIRE fails
    REQUIRE(Eventually([&] { return fn.Runs() == before + 1; }));
    if (store == "redis") {
      // While it runs the claim holds a random token (no id, no signature) and lives
      // exec_timeout + 30 s.
      const std::string keys = redis.Cli("--scan");
      REQUIRE(std::regex_match(keys, std::regex("hw:replay:function:github:[0-9a-f]{64}\n")));
      const std::string key = keys.substr(0, keys.size() - 1);
      CHECK(std::regex_match(redis.Cli("GET " + key), std::regex("running:[0-9a-f]{32}\n")));
      const long ttl = std::stol(redis.Cli("PTTL " + key));
      CHECK(ttl > 30'000);
      CHECK(ttl <= 40'000);
    }
    Response second = Post(*w, retry, body);
    CHECK(second.status == 409);
    REQUIRE(second.Header("Retry-After"));
    CHECK(std::regex_match(*second.Header("Retry-After"), std::regex("[1-9][0-9]*")));
    t.join();
    CHECK(first.status == 200);
    CHECK(IsDuplicate(Post(*w, h, body)));
    CHECK(fn.Runs() == before + 1);
    CHECK_THAT(
        Metrics(*w),
        Catch::Contains("hmac_verifications_total{scheme=\"github\",outcome=\"in_flight\"}"));
  }
}

TEST_CASE("redis holds no raw signed id either, and every key of a busy store expires") {
  Redis redis;
  Function fn;
  fn.tmp.Write("secrets/webhook-secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
  Env env = fn.Base("standard-webhooks");
  env["hmac_replay_store"] = redis.Url();
  auto w = Watchdog::Start(env);
  std::vector<Headers> sent;
  for (int i = 0; i < 20; ++i) {
    const std::string body = "event " + std::to_string(i);
    sent.push_back(Sign("standard-webhooks", fn.secrets + "/webhook-secret", body,
                        {"--id", "msg_SECRETID" + std::to_string(i)}));
    if (i % 4 == 0) fn.tmp.Write("fail", "");  // some fail (released), the rest are kept
    Post(*w, sent.back(), body);
    std::remove(fn.fail.c_str());
  }
  const std::string keys = redis.Cli("--scan");
  CHECK(keys.find("SECRETID") == std::string::npos);
  std::istringstream lines(keys);
  int n = 0;
  for (std::string key; std::getline(lines, key); ++n) {
    INFO(key);
    CHECK(std::regex_match(key, std::regex("hw:replay:function:standard-webhooks:[0-9a-f]{64}")));
    CHECK(std::regex_match(redis.Cli("GET " + key), std::regex("done:[0-9]+\n")));
    CHECK(std::stol(redis.Cli("PTTL " + key)) > 0);
  }
  CHECK(n == 15);
  for (const Headers& h : sent) {
    for (const auto& [name, value] : h) {
      if (value.size() > 8) CHECK(keys.find(value.substr(value.size() - 8)) == std::string::npos);
    }
  }
}

namespace {
// How many calls of COMMAND Redis counted ("cmdstat_evalsha:calls=4,...").
long Calls(const Redis& redis, const std::string& command) {
  std::smatch m;
  const std::string stats = redis.Cli("INFO commandstats");
  if (!std::regex_search(stats, m, std::regex("cmdstat_" + command + ":calls=([0-9]+)"))) return 0;
  return std::stol(m[1]);
}
}  // namespace

TEST_CASE("keep and release are one EVALSHA each; a redis that lost its scripts still records") {
  Redis redis;
  Function fn;
  Env env = fn.Base();
  env["hmac_replay_store"] = redis.Url();
  auto w = Watchdog::Start(env);
  for (int i = 0; i < 4; ++i) {
    const std::string body = "kept " + std::to_string(i);
    CHECK(Post(*w, fn.SignGithub(body), body).status == 200);
  }
  fn.tmp.Write("fail", "");
  CHECK(Post(*w, fn.SignGithub("released"), "released").status == 500);
  std::remove(fn.fail.c_str());
  CHECK(Calls(redis, "evalsha") == 5);
  CHECK(Calls(redis, "eval") == 0);
  CHECK(redis.Cli("INFO commandstats").find("failed_calls=1") == std::string::npos);
  CHECK(Post(*w, fn.SignGithub("released"), "released").status == 200);  // the retry ran

  redis.Cli("SCRIPT FLUSH");
  CHECK(Post(*w, fn.SignGithub("after flush"), "after flush").status == 200);
  CHECK(IsDuplicate(Post(*w, fn.SignGithub("after flush"), "after flush")));
  CHECK(Calls(redis, "eval") == 1);
  CHECK(fn.Runs() == 7);
  CHECK(Clean(*w));
}

TEST_CASE("a replica answers repeats of a done delivery itself, until the window ends") {
  Redis redis;
  Function fn;
  Env env = fn.Base();
  env["hmac_replay_store"] = redis.Url();
  env["hmac_dedupe_window"] = "2s";
  auto replicas = Replicas(2, env);
  const Headers h = fn.SignGithub("once");
  REQUIRE(Post(*replicas[0], h, "once").status == 200);
  const long sets = Calls(redis, "set");
  for (int i = 0; i < 5; ++i) CHECK(IsDuplicate(Post(*replicas[0], h, "once")));
  CHECK(Calls(redis, "set") == sets);  // the replica that kept it knows
  CHECK(IsDuplicate(Post(*replicas[1], h, "once")));
  CHECK(Calls(redis, "set") == sets + 1);  // the other asked Redis once ...
  CHECK(IsDuplicate(Post(*replicas[1], h, "once")));
  CHECK(Calls(redis, "set") == sets + 1);  // ... and knows too
  CHECK(fn.Runs() == 1);
  // Once the window has ended the delivery runs again, whichever replica gets it.
  std::this_thread::sleep_for(2100ms);
  CHECK(Post(*replicas[1], h, "once").status == 200);
  CHECK(fn.Runs() == 2);
  CHECK(IsDuplicate(Post(*replicas[0], h, "once")));
  CHECK(fn.Runs() == 2);
}

TEST_CASE("a key kept by an older watchdog (\"done\") is a duplicate too") {
  Redis redis;
  auto endpoint = hw::replay::ParseRedisUrl(redis.Url());
  REQUIRE(endpoint);
  hw::replay::RedisStore store(*endpoint, "", 5s, 1, std::make_shared<hw::SystemClock>());
  redis.Cli("SET old done PX 60000");
  CHECK(store.Claim("old", "t", 10s) == hw::replay::ClaimResult::kDone);
  CHECK(store.Claim("old", "t", 10s) == hw::replay::ClaimResult::kDone);
  redis.Cli("SET garbled done:x PX 60000");
  CHECK(store.Claim("garbled", "t", 10s) == hw::replay::ClaimResult::kDone);
  redis.Cli("SET running running:abc PX 60000");
  CHECK(store.Claim("running", "t", 10s) == hw::replay::ClaimResult::kInFlight);
}

TEST_CASE("threads sharing one or two redis connections each get their own answer") {
  Redis redis;
  auto endpoint = hw::replay::ParseRedisUrl(redis.Url());
  REQUIRE(endpoint);
  for (std::size_t connections : {1, 2}) {
    INFO(connections << " connections");
    hw::replay::RedisStore store(*endpoint, "", 5s, connections,
                                 std::make_shared<hw::SystemClock>());
    constexpr int kThreads = 24;
    constexpr int kRounds = 30;
    std::array<std::atomic<int>, kRounds> winners{};
    std::atomic<int> wrong{0};
    std::barrier sync(kThreads);
    std::vector<std::thread> threads;
    using hw::replay::ClaimResult;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int r = 0; r < kRounds; ++r) {
          const std::string prefix = std::to_string(connections) + ":" + std::to_string(r);
          const std::string own = "own:" + prefix + ":" + std::to_string(t);
          const std::string token = hw::replay::NewToken();
          sync.arrive_and_wait();
          if (store.Claim(own, token, 10s) != ClaimResult::kClaimed) ++wrong;
          const ClaimResult shared = store.Claim("shared:" + prefix, token, 10s);
          if (shared == ClaimResult::kClaimed) {
            ++winners[static_cast<std::size_t>(r)];
          } else if (shared != ClaimResult::kInFlight) {
            ++wrong;
          }
          if (t % 2 == 0) {
            store.Keep(own, "not the owner", 10s);  // no effect
            store.Keep(own, token, 10s);
          } else {
            store.Release(own, token);
          }
          const ClaimResult again = store.Claim(own, hw::replay::NewToken(), 10s);
          if (again != (t % 2 == 0 ? ClaimResult::kDone : ClaimResult::kClaimed)) ++wrong;
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(wrong == 0);
    for (auto& w : winners) CHECK(w == 1);
    CHECK(store.stats().errors == 0);
    std::smatch m;
    const std::string clients = redis.Cli("INFO clients");
    REQUIRE(std::regex_search(clients, m, std::regex("connected_clients:([0-9]+)")));
    CHECK(std::stoul(m[1]) <= connections + 1);  // + redis-cli itself
  }
}

// Many threads claim, keep and release overlapping keys through a few shared connections
// while Redis is SIGKILLed and restarted under them (durable: an acknowledged claim survives).
// Invariants: never two winners of one key; a round nobody saw fail has exactly one; a
// thread's own fresh key is claimed or unavailable, never someone else's answer; after its
// keep it is never claimable again, after its release never "done"; every call returns
// (a lost answer would hang: the test aborts after 120 s rather than wait forever); claims
// resume once Redis is back, without a new store.
TEST_CASE("the redis store hammered by many threads while redis is killed and restarted") {
  Redis redis(/*durable=*/true);
  auto endpoint = hw::replay::ParseRedisUrl(redis.Url());
  REQUIRE(endpoint);
  constexpr auto kTimeout = 300ms;
  hw::replay::RedisStore store(*endpoint, "", kTimeout, 3, std::make_shared<hw::SystemClock>());
  using hw::replay::ClaimResult;
  constexpr int kThreads = 16;
  constexpr int kMaxRounds = 4000;
  constexpr int kKills = 3;
  std::vector<std::atomic<int>> winners(kMaxRounds), failed(kMaxRounds);
  std::atomic<int> wrong{0}, calls{0}, finished{0}, kills{0}, restart_failures{0};
  std::atomic<long> slowest_ms{0};
  std::atomic<bool> killer_done{false};
  std::string first_wrong;
  std::mutex first_wrong_mutex;
  std::string restart_log;  // redis-server's log when a restart did not answer (killer only)
  int phases = 0;           // three a round
  bool go_on = true;
  // Runs when every thread arrived at a barrier: rounds go on until the killer is done, and
  // a few more on the restarted Redis.
  int after_killer = 0;
  std::barrier sync(kThreads, [&]() noexcept {
    ++phases;
    if (killer_done) ++after_killer;
    go_on = phases / 3 < kMaxRounds - 1 && after_killer < 30;
  });
  auto note_wrong = [&](const std::string& what) {
    ++wrong;
    std::lock_guard lock(first_wrong_mutex);
    if (first_wrong.empty()) first_wrong = what;
  };
  // Each call, timed: the longest is reported and bounded.
  auto timed = [&](auto fn) {
    const auto start = std::chrono::steady_clock::now();
    auto result = fn();
    const long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    long seen = slowest_ms.load();
    while (ms > seen && !slowest_ms.compare_exchange_weak(seen, ms)) {
    }
    ++calls;
    return result;
  };
  std::thread killer([&] {
    for (int k = 0; k < kKills; ++k) {
      std::this_thread::sleep_for(400ms);
      redis.Kill();
      ++kills;
      std::this_thread::sleep_for(100ms);
      if (!redis.StartQuietly()) {
        ++restart_failures;
        if (restart_log.empty()) restart_log = redis.Log();
      }
    }
    killer_done = true;
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      bool more = true;
      for (int r = 0; more; ++r) {
        const std::string round = std::to_string(r);
        const std::string own = "own:" + round + ":" + std::to_string(t);
        const std::string shared = "shared:" + round;
        const std::string token = hw::replay::NewToken();
        sync.arrive_and_wait();
        const ClaimResult mine = timed([&] { return store.Claim(own, token, 20s); });
        if (mine != ClaimResult::kClaimed && mine != ClaimResult::kUnavailable) {
          note_wrong("own key " + own + ": " + std::string(hw::replay::ClaimResultName(mine)));
        }
        const ClaimResult got = timed([&] { return store.Claim(shared, token, 20s); });
        if (got == ClaimResult::kClaimed) ++winners[static_cast<std::size_t>(r)];
        if (got == ClaimResult::kUnavailable) ++failed[static_cast<std::size_t>(r)];
        if (got == ClaimResult::kDone || got == ClaimResult::kFull) {
          note_wrong("shared key " + shared + ": " + std::string(hw::replay::ClaimResultName(got)));
        }
        sync.arrive_and_wait();  // every claim of the shared key is in before it is settled
        if (got == ClaimResult::kClaimed) {
          timed([&] {
            (r % 2 == 0) ? store.Keep(shared, token, 20s) : store.Release(shared, token);
            return 0;
          });
        }
        if (mine == ClaimResult::kClaimed) {
          const bool keep = (t + r) % 2 == 0;
          timed([&] {
            store.Keep(own, "not the owner", 20s);  // no effect
            keep ? store.Keep(own, token, 20s) : store.Release(own, token);
            return 0;
          });
          const ClaimResult again =
              timed([&] { return store.Claim(own, hw::replay::NewToken(), 20s); });
          // A keep or release that failed leaves the claim running (kInFlight).
          if (again == (keep ? ClaimResult::kClaimed : ClaimResult::kDone) ||
              again == ClaimResult::kFull) {
            note_wrong("own key " + own + " after " + (keep ? "keep: " : "release: ") +
                       std::string(hw::replay::ClaimResultName(again)));
          }
        }
        sync.arrive_and_wait();
        more = go_on;  // written by the completion of the barrier just passed
      }
      ++finished;
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  while (finished < kThreads) {
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "redis store hammer: %d of %d threads still waiting after 120 s\n",
                   kThreads - finished.load(), kThreads);
      std::abort();  // a lost answer: nothing else would end this test
    }
    std::this_thread::sleep_for(50ms);
  }
  for (auto& th : threads) th.join();
  killer.join();
  const int rounds = phases / 3;
  WARN(rounds << " rounds, " << calls << " calls, slowest " << slowest_ms << " ms, "
              << store.stats().errors << " errors; first wrong: " << first_wrong);
  INFO("redis-server's log when a restart failed: " << restart_log);
  CHECK(restart_failures == 0);
  CHECK(kills == kKills);
  CHECK(wrong == 0);
  int rounds_failed = 0;
  for (int r = 0; r < rounds; ++r) {
    const auto i = static_cast<std::size_t>(r);
    INFO("round " << r << ": " << winners[i] << " winners, " << failed[i] << " unavailable");
    CHECK(winners[i] <= 1);
    if (failed[i] == 0) CHECK(winners[i] == 1);
    if (failed[i] > 0) ++rounds_failed;
  }
  CHECK(rounds_failed > 0);  // the kills were felt (else this tested nothing)
  CHECK(store.stats().errors > 0);
  // Not a speed check: a bound that only a lost wakeup or an unbounded wait can exceed (a
  // call waits for the batch in flight, then its own: each a connect and a read at most,
  // 4 x 300 ms, plus scheduling on a busy machine under a sanitizer).
  CHECK(slowest_ms < 10000);
  // Back without a new store: the backoff (at most 2 s) runs out and claims resume.
  CHECK(Eventually([&] { return store.Claim("after", "t", 20s) == ClaimResult::kClaimed; }));
}

namespace {

// A Redis store at `url` (a test's redis-server or a proxy in front of one).
std::unique_ptr<hw::replay::RedisStore> StoreAt(const std::string& url,
                                                std::chrono::milliseconds timeout,
                                                std::size_t connections = 2) {
  auto endpoint = hw::replay::ParseRedisUrl(url);
  REQUIRE(endpoint);
  return std::make_unique<hw::replay::RedisStore>(*endpoint, "", timeout, connections,
                                                  std::make_shared<hw::SystemClock>());
}

// Drives a store lane as a front loop does: Flush before each wait, poll on the descriptor it
// asked to be watched, OnReadable when readable, Expire every turn.
struct LaneDriver {
  int watched = -1;
  bool writable = false;  // the lane asked to hear of room to write too
  int write_watches = 0;  // times it asked
  std::unique_ptr<hw::replay::StoreLane> lane;
  explicit LaneDriver(hw::replay::Store& store)
      : lane(store.NewLane([this](int fd, hw::replay::Interest interest) {
          watched = interest == hw::replay::Interest::kNone ? -1 : fd;
          writable = interest == hw::replay::Interest::kReadWrite;
          write_watches += writable ? 1 : 0;
          return true;
        })) {}
  void Turn(int timeout_ms = 20) {
    lane->Flush();
    if (watched >= 0) {
      pollfd p{watched, static_cast<short>(POLLIN | (writable ? POLLOUT : 0)), 0};
      if (::poll(&p, 1, timeout_ms) > 0) lane->OnReadable();
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(timeout_ms));
    }
    lane->Expire();
  }
  // A lane without a connection refers its claim to a worker, whose claim opens one for it;
  // then the lane claims on it ("k:lane", with SET ... GET on Redis 7). True when it did.
  bool Connect(hw::replay::Store& store) {
    using hw::replay::ClaimResult;
    const bool referred =
        lane->Claim("k:first", "t0", 10s, [](std::optional<ClaimResult>) {}).step ==
        hw::replay::StoreLane::Step::kNeedsWorker;
    return referred &&
           store.Claim("k:worker", hw::replay::NewToken(), 10s) == ClaimResult::kClaimed &&
           Claim("k:lane", "t1") == ClaimResult::kClaimed;
  }
  // Claims on the lane and turns until it is answered (within `turns`).
  std::optional<hw::replay::ClaimResult> Claim(const std::string& key, const std::string& token,
                                               int turns = 200) {
    std::optional<hw::replay::ClaimResult> got;
    auto started =
        lane->Claim(key, token, 10s, [&](std::optional<hw::replay::ClaimResult> r) { got = r; });
    if (started.step == hw::replay::StoreLane::Step::kAnswered) return started.result;
    if (started.step == hw::replay::StoreLane::Step::kNeedsWorker) return std::nullopt;
    for (int i = 0; i < turns && !got; ++i) Turn();
    return got;
  }
};

}  // namespace

TEST_CASE(
    "a loop's redis lane claims without waiting, in order, and gets its connection from a worker") {
  using hw::replay::ClaimResult;
  using Step = hw::replay::StoreLane::Step;
  Redis redis;
  auto owned = StoreAt(redis.Url(), 300ms);
  hw::replay::RedisStore& store = *owned;
  LaneDriver d(store);
  REQUIRE(d.lane);
  CHECK(d.lane->fd() < 0);
  // No connection yet: the lane never connects itself (that waits); a worker's claim opens
  // one for it.
  bool called = false;
  CHECK(d.lane->Claim("k:first", "t1", 10s, [&](std::optional<ClaimResult>) { called = true; })
            .step == Step::kNeedsWorker);
  CHECK(store.Claim("k:worker", hw::replay::NewToken(), 10s) == ClaimResult::kClaimed);
  CHECK(d.Claim("k:first", "t1") == ClaimResult::kClaimed);
  CHECK(d.watched >= 0);
  CHECK(d.watched == d.lane->fd());
  CHECK_FALSE(called);  // the first attempt, refused, is never called back

  // Many claims in one turn, two per key: each answer reaches its own caller, in order.
  constexpr int kKeys = 200;
  std::vector<std::optional<ClaimResult>> first(kKeys), second(kKeys);
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "k:batch:" + std::to_string(i);
    REQUIRE(
        d.lane->Claim(key, "a", 10s, [&, i](std::optional<ClaimResult> r) { first[i] = r; }).step ==
        Step::kSent);
    REQUIRE(d.lane->Claim(key, "b", 10s, [&, i](std::optional<ClaimResult> r) { second[i] = r; })
                .step == Step::kSent);
  }
  for (int turn = 0; turn < 200 && !second[kKeys - 1]; ++turn) d.Turn();
  for (int i = 0; i < kKeys; ++i) {
    CHECK(first[i] == ClaimResult::kClaimed);
    CHECK(second[i] == ClaimResult::kInFlight);
  }

  // Keep: written at once; Redis then holds it as done, and the lane remembers it.
  REQUIRE(d.lane->Keep("k:first", "t1", 10s));
  for (int i = 0; i < 20; ++i) d.Turn(5);
  CHECK(redis.Cli("GET k:first").rfind("done:", 0) == 0);
  auto again = d.lane->Claim("k:first", "t2", 10s, [](std::optional<ClaimResult>) {});
  CHECK(again.step == Step::kAnswered);
  CHECK(again.result == ClaimResult::kDone);
  // Release: a retry may claim it again, on the lane or on the store.
  REQUIRE(d.lane->Release("k:batch:0", "a"));
  for (int i = 0; i < 20; ++i) d.Turn(5);
  CHECK(store.Claim("k:batch:0", "c", 10s) == ClaimResult::kClaimed);
  CHECK(d.Claim("k:batch:1", "z") == ClaimResult::kInFlight);

  // Scripts lost (SCRIPT FLUSH): the keep is sent again with EVAL, and still recorded.
  redis.Cli("SCRIPT FLUSH");
  REQUIRE(d.lane->Keep("k:batch:1", "a", 10s));
  for (int i = 0; i < 40 && redis.Cli("GET k:batch:1").rfind("done:", 0) != 0; ++i) d.Turn(5);
  CHECK(redis.Cli("GET k:batch:1").rfind("done:", 0) == 0);
  CHECK(store.stats().errors == 0);

  // Redis stops answering: the claim fails as unavailable after the timeout, the connection
  // is dropped, and the lane goes back to the workers.
  REQUIRE(store.Claim("k:queued", "q", 10s) == ClaimResult::kClaimed);
  redis.Pause();
  const auto start = std::chrono::steady_clock::now();
  CHECK(d.Claim("k:paused", "t", 200) == ClaimResult::kUnavailable);
  CHECK(std::chrono::steady_clock::now() - start >= 250ms);
  CHECK(d.watched < 0);
  CHECK(d.lane->fd() < 0);
  CHECK(store.stats().errors >= 1);
  redis.Resume();
  CHECK(d.lane->Claim("k:after", "t", 10s, [](std::optional<ClaimResult>) {}).step ==
        Step::kNeedsWorker);
  // A release with no connection waits in the lane (the loop never waits on the store) and
  // goes out once a worker has opened the lane a connection.
  CHECK(d.lane->Release("k:queued", "q"));
  CHECK(redis.Cli("GET k:queued") == "running:q\n");
  // It waits longer than the store's timeout, which counts from its sending, not from now.
  std::this_thread::sleep_for(400ms);
  const auto errors_before = store.stats().errors.load();
  // Workers' claims, past the backoff, reconnect and open the lane a connection again, which
  // the lane takes on its next tick (Expire) and sends the waiting release on.
  REQUIRE(Eventually([&] {
    store.Claim("k:worker:" + hw::replay::NewToken(), "w", 10s);
    d.lane->Expire();
    return d.lane->fd() >= 0;
  }));
  REQUIRE(d.watched >= 0);
  CHECK(d.Claim("k:after", "t") == ClaimResult::kClaimed);
  for (int i = 0; i < 40 && redis.Cli("EXISTS k:queued") != "0\n"; ++i) d.Turn(5);
  CHECK(redis.Cli("EXISTS k:queued") == "0\n");
  for (int i = 0; i < 30; ++i) d.Turn(20);  // past the timeout: the connection stays
  CHECK(d.watched >= 0);
  CHECK(store.stats().errors == errors_before);

  // Redis killed with a claim in flight: answered unavailable at once (connection closed).
  bool answered = false;
  std::optional<ClaimResult> killed;
  redis.Pause();
  REQUIRE(d.lane
              ->Claim("k:killed", "t", 10s,
                      [&](std::optional<ClaimResult> r) {
                        answered = true;
                        killed = r;
                      })
              .step == Step::kSent);
  d.lane->Flush();
  redis.Kill();
  for (int i = 0; i < 50 && !answered; ++i) d.Turn();
  CHECK(answered);
  CHECK(killed == ClaimResult::kUnavailable);
}

namespace {

// A watchdog in http mode (github) in front of the test upstream, sharing `redis`.
// A Redis before 7.0, as seen by the watchdog: a proxy in front of a real redis-server that,
// once told to, answers SET ... GET (7.0's form) with "ERR syntax error" as Redis 6 does, and
// passes every other command on. Commands are answered one at a time, in order. Its switch is
// a failover to an older server while the watchdog runs.
class OldRedisProxy {
 public:
  explicit OldRedisProxy(int redis_port) : redis_port_(redis_port) {
    listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    REQUIRE(::listen(listen_, 64) == 0);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~OldRedisProxy() {
    stop_ = true;
    acceptor_.join();
    for (std::thread& t : served_) t.join();
    ::close(listen_);
  }
  std::string Url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/0"; }
  void RefuseSetGet() { refuse_ = true; }
  int Refused() const { return refused_.load(); }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{listen_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const int client = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client >= 0) served_.emplace_back([this, client] { Serve(client); });
    }
  }
  static bool IsSetWithGet(const redisReply& cmd) {
    if (cmd.type != REDIS_REPLY_ARRAY || cmd.elements < 3) return false;
    auto word = [&](std::size_t i) {
      std::string w(cmd.element[i]->str, cmd.element[i]->len);
      for (char& c : w) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return w;
    };
    if (word(0) != "SET") return false;
    for (std::size_t i = 3; i < cmd.elements; ++i) {
      if (word(i) == "GET") return true;
    }
    return false;
  }
  static void Encode(const redisReply& r, std::string& out) {
    switch (r.type) {
      case REDIS_REPLY_STATUS:
        out += "+" + std::string(r.str, r.len) + "\r\n";
        break;
      case REDIS_REPLY_ERROR:
        out += "-" + std::string(r.str, r.len) + "\r\n";
        break;
      case REDIS_REPLY_INTEGER:
        out += ":" + std::to_string(r.integer) + "\r\n";
        break;
      case REDIS_REPLY_NIL:
        out += "$-1\r\n";
        break;
      case REDIS_REPLY_ARRAY:
        out += "*" + std::to_string(r.elements) + "\r\n";
        for (std::size_t i = 0; i < r.elements; ++i) Encode(*r.element[i], out);
        break;
      default:  // a string
        out += "$" + std::to_string(r.len) + "\r\n" + std::string(r.str, r.len) + "\r\n";
    }
  }
  void Serve(int client) {
    redisContext* up = redisConnect("127.0.0.1", redis_port_);
    redisReader* reader = redisReaderCreate();
    char buf[16384];
    bool open = up != nullptr && up->err == 0;
    while (open && !stop_) {
      pollfd p{client, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      const ssize_t n = ::recv(client, buf, sizeof buf, 0);
      if (n <= 0) break;
      redisReaderFeed(reader, buf, static_cast<std::size_t>(n));
      void* parsed = nullptr;
      while (open && redisReaderGetReply(reader, &parsed) == REDIS_OK && parsed != nullptr) {
        auto* cmd = static_cast<redisReply*>(parsed);
        std::string out;
        if (refuse_ && IsSetWithGet(*cmd)) {
          out = "-ERR syntax error\r\n";
          ++refused_;
        } else {
          std::vector<const char*> argv;
          std::vector<std::size_t> lens;
          for (std::size_t i = 0; i < cmd->elements; ++i) {
            argv.push_back(cmd->element[i]->str);
            lens.push_back(cmd->element[i]->len);
          }
          auto* r = static_cast<redisReply*>(
              redisCommandArgv(up, static_cast<int>(argv.size()), argv.data(), lens.data()));
          if (r == nullptr) {
            open = false;
          } else {
            Encode(*r, out);
            freeReplyObject(r);
          }
        }
        freeReplyObject(cmd);
        if (open)
          open = ::send(client, out.data(), out.size(), MSG_NOSIGNAL) ==
                 static_cast<ssize_t>(out.size());
      }
    }
    redisReaderFree(reader);
    if (up != nullptr) redisFree(up);
    ::close(client);
  }

  int redis_port_;
  int listen_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false}, refuse_{false};
  std::atomic<int> refused_{0};
  std::thread acceptor_;
  std::vector<std::thread> served_;  // only the acceptor adds, before the destructor joins
};

struct HttpReplica {
  TempDir tmp;
  int upstream_port = FreePort();
  std::unique_ptr<Watchdog> w;
  HttpReplica(const Redis& redis, Env extra = {}) {
    tmp.Write("secrets/webhook-secret", "s3cret");
    Env env = {{"mode", "http"},
               {"fprocess", ProgramPath("upstream") + " " + std::to_string(upstream_port)},
               {"upstream_url", "http://127.0.0.1:" + std::to_string(upstream_port)},
               {"hmac_scheme", "github"},
               {"hmac_replay_store", redis.Url()},
               {"secrets_path", tmp.path() + "/secrets"},
               {"metrics_port", std::to_string(FreePort())},
               {"TMPDIR", tmp.path()}};
    for (auto& [k, v] : extra) env[k] = v;
    w = Watchdog::Start(env);
  }
  long Upstream() const {
    return static_cast<long>(MetricValue(*w, "hmac_upstream_requests_total").value_or(-1));
  }
  // A few signed requests on new connections: each loop's lane gets its Redis connection
  // from a worker.
  void WarmUp() const;
};

std::string SignedPost(const std::string& target, const std::string& body) {
  return RawPost(target, {{"X-Hub-Signature-256", OpenSslGithubSignature("s3cret", body)}}, body);
}

void HttpReplica::WarmUp() const {
  for (int i = 0; i < 8; ++i) {
    RawConnection c(w->port());
    REQUIRE(c.Send(SignedPost("/echo", "warm " + std::to_string(i))));
    auto got = ReadResponses(c, 1);
    REQUIRE(got.size() == 1);
    REQUIRE(got[0].status == 200);
  }
}

}  // namespace

TEST_CASE(
    "http mode with redis: deliveries on 40 pipelined connections are claimed on the loops, "
    "run once, repeats are duplicates, no thread added") {
  Redis redis;
  HttpReplica h(redis);
  h.WarmUp();
  const long threads_before = ProcStatusKb(h.w->pid(), "Threads");
  const long upstream_before = h.Upstream();
  constexpr int kConnections = 40;
  constexpr int kDeliveries = 5;  // each sent twice in a row on its connection
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int c = 0; c < kConnections; ++c) {
    conns.push_back(std::make_unique<RawConnection>(h.w->port()));
    std::string pipelined;
    for (int i = 0; i < kDeliveries; ++i) {
      const std::string body = "delivery " + std::to_string(c) + "/" + std::to_string(i);
      pipelined += SignedPost("/echo", body) + SignedPost("/echo", body);
    }
    REQUIRE(conns.back()->Send(pipelined));
  }
  int wrong = 0;
  for (int c = 0; c < kConnections; ++c) {
    auto got = ReadResponses(*conns[static_cast<std::size_t>(c)], 2 * kDeliveries);
    REQUIRE(got.size() == 2 * kDeliveries);
    for (int i = 0; i < kDeliveries; ++i) {
      const Response& run = got[static_cast<std::size_t>(2 * i)];
      const Response& repeat = got[static_cast<std::size_t>(2 * i + 1)];
      const std::string body = "delivery " + std::to_string(c) + "/" + std::to_string(i);
      if (run.status != 200 || run.body.find(body) == std::string::npos) ++wrong;
      if (!IsDuplicate(repeat)) ++wrong;
    }
  }
  CHECK(wrong == 0);
  CHECK(h.Upstream() - upstream_before == kConnections * kDeliveries);
  CHECK(ProcStatusKb(h.w->pid(), "Threads") <= threads_before);
  const std::string m = Get(h.w->metrics_port(), "/metrics").body;
  CHECK_THAT(m, Catch::Contains("outcome=\"duplicate\""));
  CHECK(Clean(*h.w));
}

TEST_CASE(
    "http mode with redis paused: claims waiting on the loops fail at the timeout with 503, "
    "health answers meanwhile, the function never runs, then claims resume") {
  Redis redis;
  HttpReplica h(redis, {{"hmac_replay_store_timeout", "400ms"}});
  h.WarmUp();
  const long upstream_before = h.Upstream();
  redis.Pause();
  constexpr int kConnections = 20;
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int c = 0; c < kConnections; ++c) {
    conns.push_back(std::make_unique<RawConnection>(h.w->port()));
    REQUIRE(conns.back()->Send(SignedPost("/echo", "paused " + std::to_string(c))));
  }
  CHECK(Get(h.w->port(), "/_/health").status == 200);  // the loops are not blocked
  int unavailable = 0;
  for (auto& c : conns) {
    auto got = ReadResponses(*c, 1);
    if (got.size() == 1 && got[0].status == 503 && got[0].Header("Retry-After")) ++unavailable;
  }
  redis.Resume();
  CHECK(unavailable == kConnections);
  CHECK(h.Upstream() == upstream_before);
  CHECK(Eventually(
      [&] {
        RawConnection c(h.w->port());
        const std::string body = "after " + hw::replay::NewToken();
        if (!c.Send(SignedPost("/echo", body))) return false;
        auto got = ReadResponses(c, 1);
        return got.size() == 1 && got[0].status == 200;
      },
      10s));
  CHECK(Clean(*h.w));
}

TEST_CASE("SIGTERM while a claim waits on redis: the drain waits for its answer, then serves it") {
  Redis redis;
  // Drain at once (no health-check grace), and give requests in flight up to 10 s.
  HttpReplica h(redis, {{"hmac_replay_store_timeout", "5s"},
                        {"healthcheck_interval", "0"},
                        {"write_timeout", "10s"}});
  h.WarmUp();
  redis.Pause();
  constexpr int kConnections = 4;
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int c = 0; c < kConnections; ++c) {
    conns.push_back(std::make_unique<RawConnection>(h.w->port()));
    REQUIRE(conns.back()->Send(SignedPost("/echo", "draining " + std::to_string(c))));
  }
  std::this_thread::sleep_for(200ms);  // the claims are out, unanswered
  h.w->Signal(SIGTERM);
  std::this_thread::sleep_for(300ms);
  redis.Resume();
  int served = 0;
  for (int c = 0; c < kConnections; ++c) {
    auto got = ReadResponses(*conns[static_cast<std::size_t>(c)], 1);
    if (got.size() == 1 && got[0].status == 200 &&
        got[0].body.find("draining " + std::to_string(c)) != std::string::npos) {
      ++served;
    }
  }
  CHECK(served == kConnections);
  const auto code = h.w->WaitExit();
  INFO(h.w->Log());
  CHECK(code == 0);
  CHECK(Clean(*h.w));
}

TEST_CASE(
    "http mode replicas sharing redis, the CPU made busy on purpose: a delivery sent to both "
    "at once runs once, the other gets 409 or duplicate") {
  Redis redis;
  HttpReplica a(redis), b(redis);
  a.WarmUp();
  b.WarmUp();
  const long before = a.Upstream() + b.Upstream();
  BusyCpu busy;
  constexpr int kDeliveries = 40;
  int runs = 0, wrong = 0;
  for (int i = 0; i < kDeliveries; ++i) {
    const std::string body = "race " + std::to_string(i);
    const std::string raw = SignedPost("/echo", body);
    RawConnection ca(a.w->port()), cb(b.w->port());
    REQUIRE(ca.Send(raw));
    REQUIRE(cb.Send(raw));
    for (RawConnection* c : {&ca, &cb}) {
      auto got = ReadResponses(*c, 1);
      if (got.size() != 1) {
        ++wrong;
      } else if (got[0].status == 200 && got[0].body.find(body) != std::string::npos) {
        ++runs;
      } else if (!IsDuplicate(got[0]) && !(got[0].status == 409 && got[0].Header("Retry-After"))) {
        ++wrong;
      }
    }
  }
  CHECK(wrong == 0);
  CHECK(runs == kDeliveries);
  CHECK(a.Upstream() + b.Upstream() - before == kDeliveries);
  CHECK(Clean(*a.w));
  CHECK(Clean(*b.w));
}

TEST_CASE(
    "property: with redis shared by two replicas and the CPU busy, whatever the headers, the "
    "function runs only for a valid signature, and once per delivery") {
  // Random requests over a small pool of deliveries: valid signatures (with any delivery id),
  // forged ones, the signature of another body, none, malformed or doubled headers, and the
  // watchdog's own headers sent by the client; to either replica, or to both at once. The
  // function logs every body it runs.
  Redis redis;
  TempDir tmp;
  tmp.Write("secrets/webhook-secret", "s3cret");
  const std::string log = tmp.path() + "/ran";
  const std::string script =
      tmp.Write("fn.sh", "#!/bin/sh\nbody=$(cat)\nprintf '%s\\n' \"$body\" >> " + log +
                             "\nprintf '%s' \"$body\"\n");
  ::chmod(script.c_str(), 0755);
  Env env = {{"fprocess", script},
             {"mode", "serializing"},
             {"hmac_scheme", "github"},
             {"secrets_path", tmp.path() + "/secrets"},
             {"hmac_replay_store", redis.Url()},
             {"TMPDIR", tmp.path()}};
  auto replicas = Replicas(2, env);
  BusyCpu busy;

  const char* seed_text = std::getenv("HW_PROPERTY_SEED");
  const unsigned seed = seed_text != nullptr ? static_cast<unsigned>(std::atoi(seed_text)) : 2026;
  INFO("HW_PROPERTY_SEED=" << seed);
  std::mt19937 rng(seed);
  constexpr int kDeliveries = 12;
  constexpr int kRequests = 120;
  std::vector<std::string> bodies;
  for (int i = 0; i < kDeliveries; ++i) {
    bodies.push_back("{\"delivery\":" + std::to_string(i) + ",\"seed\":" + std::to_string(seed) +
                     "}");
  }
  std::set<std::string> sent_valid;   // bodies sent at least once with a valid signature
  std::map<std::string, int> ran_ok;  // bodies answered 200 with their echo
  const std::vector<Headers> junk = {{{"X-Webhook-Verified", "github"}},
                                     {{"X-Webhook-Duplicate", "false"}},
                                     {{"Connection", "X-Hub-Signature-256"}},
                                     {{"X-GitHub-Delivery", "same-id"}},
                                     {}};
  for (int n = 0; n < kRequests; ++n) {
    const std::size_t index = rng() % bodies.size();
    const std::string& body = bodies[index];
    const std::string valid = OpenSslGithubSignature("s3cret", body);
    Headers h = junk[rng() % junk.size()];
    h.push_back({"X-GitHub-Delivery", "id-" + std::to_string(rng() % 1000)});
    bool is_valid = false;
    const unsigned kind = rng() % 7;
    switch (kind) {
      case 0:
      case 1:
      case 2:
        h.push_back({"X-Hub-Signature-256", valid});
        is_valid = true;
        break;
      case 3:
        h.push_back({"X-Hub-Signature-256", OpenSslGithubSignature("wrong", body)});
        break;
      case 4:
        h.push_back({"X-Hub-Signature-256",
                     OpenSslGithubSignature("s3cret", bodies[(index + 1) % bodies.size()])});
        break;
      case 5:
        h.push_back({"X-Hub-Signature-256", valid});
        h.push_back({"X-Hub-Signature-256", valid});  // doubled: ambiguous, refused
        break;
      default:
        h.push_back({"X-Hub-Signature-256", valid.substr(0, valid.size() - 1) + "g"});
        break;
    }
    if (is_valid) sent_valid.insert(body);
    std::vector<Response> got;
    if (rng() % 3 == 0) {
      got = AllAtOnce(replicas, h, body);
    } else {
      got.push_back(Post(*replicas[rng() % replicas.size()], h, body));
    }
    for (const Response& r : got) {
      INFO("request " << n << " kind " << kind << ": status " << r.status << " body " << r.body
                      << " duplicate " << r.Header("X-Webhook-Duplicate").value_or("-"));
      if (!is_valid) {
        CHECK(r.status >= 400);
        CHECK(r.status < 500);
        continue;
      }
      if (r.status == 200 && r.body == body) {
        ++ran_ok[body];
      } else {
        CHECK((IsDuplicate(r) || (r.status == 409 && r.Header("Retry-After"))));
      }
    }
  }
  // What the function ran: only bodies sent with a valid signature, each at most once, and
  // exactly the deliveries answered with their echo.
  std::map<std::string, int> ran;
  std::istringstream lines(ReadFile(log));
  for (std::string line; std::getline(lines, line);) ++ran[line];
  for (const auto& [body, count] : ran) {
    INFO("the function ran " << body << " " << count << " time(s)");
    CHECK(sent_valid.count(body) == 1);
    CHECK(count == 1);
    CHECK(ran_ok[body] == 1);
  }
  for (const auto& [body, count] : ran_ok) CHECK(ran.count(body) == 1);
  CHECK(!ran.empty());
  for (auto& w : replicas) CHECK(Clean(*w));
}

TEST_CASE(
    "a redis before 7.0 behind a running watchdog (failover to an older server): SET ... GET "
    "refused, every delivery is still claimed once, none answered 503") {
  Redis redis;
  OldRedisProxy proxy(redis.port());
  HttpReplica h(redis, {{"hmac_replay_store", proxy.Url()}});
  // Connections are dealt to the loops in turn: every loop's lane gets its connection, and
  // claims with SET ... GET.
  h.WarmUp();
  h.WarmUp();
  proxy.RefuseSetGet();
  auto claims = [&h] {  // every result summed
    double sum = 0;
    std::istringstream lines(Metrics(*h.w));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("hmac_replay_store_claims_total{", 0) == 0) {
        sum += std::stod(line.substr(line.rfind(' ') + 1));
      }
    }
    return sum;
  };
  const double claims_before = claims();
  const long before = h.Upstream();
  constexpr int kDeliveries = 12;
  for (int i = 0; i < kDeliveries; ++i) {
    const std::string body = "after failover " + std::to_string(i);
    RawConnection c(h.w->port());
    REQUIRE(c.Send(SignedPost("/echo", body)));
    REQUIRE(c.Send(SignedPost("/echo", body)));  // the same delivery again, pipelined
    auto got = ReadResponses(c, 2);
    REQUIRE(got.size() == 2);
    INFO("delivery " << i << ": " << got[0].status << " then " << got[1].status);
    CHECK(got[0].status == 200);
    CHECK(got[0].body.find(body) != std::string::npos);
    CHECK(IsDuplicate(got[1]));
  }
  CHECK(proxy.Refused() >= 1);  // a lane's SET ... GET met the old server
  CHECK(h.Upstream() - before == kDeliveries);
  // A new delivery on a new connection, and a repeat of an old one: still right.
  RawConnection c(h.w->port());
  REQUIRE(c.Send(SignedPost("/echo", "after failover 0")));
  REQUIRE(c.Send(SignedPost("/echo", "one more")));
  auto got = ReadResponses(c, 2);
  REQUIRE(got.size() == 2);
  CHECK(IsDuplicate(got[0]));
  CHECK(got[1].status == 200);
  CHECK(h.Upstream() - before == kDeliveries + 1);
  // Each request claimed once, counted once (the lane's refused attempt is not a claim).
  CHECK(claims() - claims_before == 2 * kDeliveries + 2);
  CHECK(Clean(*h.w));
}

TEST_CASE(
    "a redis lane meeting a server before 7.0 hands its claim to a worker, whose two-command "
    "claim decides right") {
  using hw::replay::ClaimResult;
  using Step = hw::replay::StoreLane::Step;
  Redis redis;
  OldRedisProxy proxy(redis.port());
  auto owned = StoreAt(proxy.Url(), 300ms);
  hw::replay::RedisStore& store = *owned;
  LaneDriver d(store);
  REQUIRE(d.lane);
  REQUIRE(d.Connect(store));  // the lane claims with SET ... GET
  proxy.RefuseSetGet();       // the server is now an older one
  bool called = false;
  std::optional<ClaimResult> got = ClaimResult::kClaimed;
  REQUIRE(d.lane
              ->Claim("k:old", "t2", 10s,
                      [&](std::optional<ClaimResult> r) {
                        called = true;
                        got = r;
                      })
              .step == Step::kSent);
  for (int i = 0; i < 100 && !called; ++i) d.Turn();
  CHECK(called);
  CHECK_FALSE(got.has_value());  // not answered: a worker claims
  CHECK(d.lane->ClaimsWaiting() == 0);
  CHECK(proxy.Refused() == 1);
  // From now on the lane sends its claims to workers at once, which claim with SET NX and GET.
  CHECK(d.lane->Claim("k:next", "t3", 10s, [](std::optional<ClaimResult>) {}).step ==
        Step::kNeedsWorker);
  CHECK(store.Claim("k:old", hw::replay::NewToken(), 10s) == ClaimResult::kClaimed);
  CHECK(store.Claim("k:old", hw::replay::NewToken(), 10s) == ClaimResult::kInFlight);
  CHECK(store.Claim("k:lane", hw::replay::NewToken(), 10s) == ClaimResult::kInFlight);
  CHECK(proxy.Refused() == 1);  // SET ... GET is not tried again
}

TEST_CASE(
    "a redis lane whose commands the socket cannot take at once asks the loop to watch for "
    "room, sends the rest, and goes back to watching for answers only") {
  using hw::replay::ClaimResult;
  using Step = hw::replay::StoreLane::Step;
  Redis redis;
  // A long timeout: the claims sent while Redis is stopped must not expire meanwhile.
  auto owned = StoreAt(redis.Url(), 20s);
  hw::replay::RedisStore& store = *owned;
  LaneDriver d(store);
  REQUIRE(d.lane);
  REQUIRE(d.Connect(store));
  CHECK_FALSE(d.writable);
  // Redis stopped: claims pile up until the socket takes no more.
  redis.Pause();
  std::vector<std::optional<ClaimResult>> got;
  got.reserve(1 << 17);
  const std::string pad(200, 'p');  // longer commands fill the buffers sooner
  while (!d.writable && got.size() < (1u << 17)) {
    for (int i = 0; i < 2000; ++i) {
      const std::size_t n = got.size();
      got.emplace_back();
      REQUIRE(d.lane
                  ->Claim("k:fill:" + std::to_string(n) + pad, "t", 10s,
                          [&got, n](std::optional<ClaimResult> r) { got[n] = r; })
                  .step == Step::kSent);
    }
    d.lane->Flush();
  }
  REQUIRE(d.writable);  // the socket was full: the lane waits for room
  CHECK(d.write_watches == 1);
  redis.Resume();
  for (int turn = 0; turn < 3000 && (d.writable || !got.back()); ++turn) d.Turn(50);
  CHECK_FALSE(d.writable);  // all sent: answers only
  std::size_t claimed = 0;
  for (const auto& r : got) claimed += r == ClaimResult::kClaimed ? 1 : 0;
  CHECK(claimed == got.size());
  INFO(got.size() << " claims queued behind a full socket");
  CHECK(d.lane->ClaimsWaiting() == 0);
}
