// Replay and duplicate protection through the real binary (issue 16): a real redis-server
// (Debian's) on a loopback port and a Unix socket shared by several watchdog replicas, and
// the memory store. The function counts its runs in a file.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.h"

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
// no persistence. Stopped (SIGKILL if it must) when destroyed.
class Redis {
 public:
  Redis() : port_(FreePort()), socket_(dir_.path() + "/redis.sock") { Start(); }
  ~Redis() { Stop(); }
  void Start() {
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execlp("redis-server", "redis-server", "--port", std::to_string(port_).c_str(), "--bind",
               "127.0.0.1", "--unixsocket", socket_.c_str(), "--unixsocketperm", "700", "--dir",
               dir_.path().c_str(), "--save", "", "--appendonly", "no", "--daemonize", "no",
               "--loglevel", "warning", "--logfile", (dir_.path() + "/redis.log").c_str(),
               static_cast<char*>(nullptr));
      ::_exit(127);
    }
    REQUIRE(Eventually([&] { return Cli("PING") == "PONG\n"; }));
  }
  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(10ms);
    }
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
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
  std::string UnixUrl() const { return "redis+unix://" + socket_ + "?db=1"; }

 private:
  TempDir dir_;
  int port_;
  std::string socket_;
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
  CHECK(redis.Cli("GET " + key) == "done\n");
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
  std::this_thread::sleep_for(300ms);
  CHECK(fn.Runs() - runs_while_down <= 4);  // only requests already past their claim
  redis.Start();
  CHECK(Eventually([&] { return ok > ok_at_stop + 10; }));
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
  redis.Pause();
  const auto start = std::chrono::steady_clock::now();
  Response r = Post(*w, fn.SignGithub("slow"), "slow");
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
  for (const char* url : {"memcached://x", "redis://h:0/1"}) {
    Env env = fn.Base();
    env["hmac_replay_store"] = url;
    auto w = Watchdog::Start(env, {}, false);
    CHECK(w->WaitExit() == 2);
    CHECK(w->Log().find("hmac_replay_store") != std::string::npos);
  }
}
