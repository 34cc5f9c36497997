// hmac-watchdog: the entry point, and the only place that sees every module. It parses the
// configuration, wires verifier, executor, metrics and server together, and runs the
// SIGTERM sequence (README "Shutdown").
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <openssl/opensslv.h>
#include <CLI/CLI.hpp>

#include "auth/gate.h"
#include "auth/policy.h"
#include "common/clock.h"
#include "common/unique_fd.h"
#include "config/config.h"
#include "executor/factory.h"
#include "executor/process.h"
#include "logging/log.h"
#include "metrics/metrics.h"
#include "server/health.h"
#include "server/http_server.h"
#include "signature/commands.h"
#include "signature/verifier.h"

namespace {

constexpr int kExitConfig = 2;
constexpr int kExitRuntime = 1;

// Go's flag package takes "-version" and "-port=8080"; CLI11 wants two dashes for long
// names. Single-dash words longer than one letter get a second dash.
std::vector<std::string> NormalizeArgs(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.size() > 2 && a[0] == '-' && a[1] != '-' && a[2] != '=') a = "-" + a;
    args.push_back(std::move(a));
  }
  return args;
}

int Fail(int code, const std::string& message) {
  hw::log::Flush();  // earlier lines first
  std::fprintf(stderr, "hmac-watchdog: %s\n", message.c_str());
  return code;
}

std::string VersionText() {
  return fmt::format("hmac-watchdog version {} (cpp-httplib {}, {})", HW_VERSION,
                     HW_HTTPLIB_VERSION, OPENSSL_VERSION_TEXT);
}

// Waits for SIGTERM/SIGINT (blocked in every thread); returns the signal, or 0 on timeout.
int WaitForSignal(const sigset_t& set, std::optional<std::chrono::milliseconds> timeout) {
  while (true) {
    int sig = 0;
    if (!timeout) {
      if (sigwait(&set, &sig) == 0) return sig;
      continue;
    }
    timespec ts{};
    ts.tv_sec = timeout->count() / 1000;
    ts.tv_nsec = (timeout->count() % 1000) * 1000000;
    sig = sigtimedwait(&set, nullptr, &ts);
    if (sig > 0) return sig;
    if (errno == EAGAIN) return 0;
  }
}

int Serve(const hw::config::Config& cfg) {
  using namespace hw;
  log::Init(cfg.log_format == config::LogFormat::kJson ? log::Format::kJson : log::Format::kText);

  // SIGTERM/SIGINT are taken with sigwait by this thread only; SIGUSR1 carries a fatal
  // error from another thread. Blocked before any thread starts, so all threads inherit it.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  // SIGUSR2 is blocked and never taken: one sent from outside does not stop the watchdog
  // (functions start with an empty mask).
  sigset_t blocked = signals;
  sigaddset(&blocked, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // The function's start is waited for on these (below): made before any thread starts, so
  // failing to make them leaves nothing running.
  UniqueFd started_fd(::eventfd(0, EFD_CLOEXEC));
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC));
  if (!started_fd || !signal_fd) {
    return Fail(kExitRuntime,
                fmt::format("cannot wait for the function's start: {}", std::strerror(errno)));
  }

  if (auto reaper = executor::StartReaper(); !reaper) {
    return Fail(kExitRuntime, reaper.error().message);
  }

  // auth_routes decides whether the signature check is used at all: hmac_scheme is required
  // only when a rule names hmac.
  auto policy = cfg.auth.routes.empty() ? Expected<auth::Policy>(auth::Policy::Default())
                                        : auth::Policy::Parse(cfg.auth.routes);
  if (!policy) return Fail(kExitConfig, policy.error().message);
  const bool uses_hmac = policy->Uses(auth::Method::kHmac);
  config::SignatureOptions signature_options = cfg.signature;
  if (!uses_hmac && signature_options.schemes.empty()) signature_options.schemes = {"none"};
  if (cfg.exec_timeout.count() > 0) {
    signature_options.replay_claim_ttl = cfg.exec_timeout + std::chrono::seconds(30);
  }
  auto verifier = signature::Verifier::Create(signature_options, std::make_shared<SystemClock>());
  if (!verifier) return Fail(kExitConfig, verifier.error().message);
  if ((*verifier)->Disabled() && uses_hmac) {
    log::Warn(
        "hmac_scheme=none: signature verification is OFF, every request reaches the function");
  }

  metrics::Metrics metrics;
  const signature::Verifier* v = verifier->get();
  metrics.SetSecretReloadSource([v] {
    auto s = v->GetStats();
    return std::pair<std::uint64_t, std::uint64_t>(s.reloads, s.reload_failures);
  });
  if (const replay::StoreStats* rs = v->ReplayStats()) {
    metrics.SetReplayStoreSource([rs] {
      metrics::Metrics::ReplayStoreSample out;
      for (std::size_t i = 0; i < replay::kClaimResultCount; ++i) {
        out.claims.emplace_back(replay::ClaimResultName(static_cast<replay::ClaimResult>(i)),
                                rs->claims[i].load(std::memory_order_relaxed));
      }
      out.errors = rs->errors.load(std::memory_order_relaxed);
      for (std::size_t i = 0; i < rs->kBuckets.size(); ++i) {
        out.buckets.emplace_back(rs->kBuckets[i], rs->latency_buckets[i].load());
      }
      out.count = rs->latency_count.load();
      out.sum_seconds = static_cast<double>(rs->latency_sum_ns.load()) / 1e9;
      return out;
    });
  }

  std::string fatal_reason;
  std::mutex fatal_mutex;
  auto on_fatal = [&fatal_reason, &fatal_mutex](std::string why) {
    {
      std::lock_guard lock(fatal_mutex);
      if (fatal_reason.empty()) fatal_reason = std::move(why);
    }
    kill(getpid(), SIGUSR1);
  };
  auto executor = executor::MakeExecutor(cfg, &metrics, on_fatal);
  if (!executor) return Fail(kExitConfig, executor.error().message);

  server::Health health(cfg.max_inflight);
  // Not ready until the jwt issuer's keys are in (at once without jwt).
  health.SetAuthReady(false);
  auto gate = auth::Gate::Create(cfg.auth, std::make_shared<SystemClock>(),
                                 [&health] { health.SetAuthReady(true); });
  if (!gate) return Fail(kExitConfig, gate.error().message);
  if (cfg.auth.routes != config::AuthOptions{}.routes && !cfg.auth.routes.empty()) {
    log::Info(fmt::format("auth_routes: {}", (*gate)->policy().Text()));
  }
  const config::ServerOptions& server_options = cfg;
  server::ServerDeps deps{&server_options, v, executor->get(), &metrics, &health, gate->get()};
  auto server = server::HttpServer::Create(deps);
  if (!server) return Fail(kExitRuntime, server.error().message);

  std::promise<void> stopped;
  auto stopped_future = stopped.get_future();
  std::thread serving([&] {
    (*server)->Run();
    stopped.set_value();
  });
  // The socket already listens (connections wait in its backlog), so readiness need not
  // wait for the accept loop to start.
  log::Info(fmt::format("listening on port {} (mode={}, hmac_scheme={}, metrics_port={})",
                        (*server)->port(), config::ModeName(cfg.mode), (*verifier)->SchemesText(),
                        (*server)->metrics_port()));

  server::LockFile lock(cfg.tmpdir);
  int exit_code = 0;
  int early_signal = 0;
  bool early_fatal = false;
  // Takes one signal from signal_fd if it has one: SIGTERM or SIGINT before the function is
  // ready stops the watchdog at once (cancelling a start that waits); SIGUSR1 (a fatal error)
  // is acted on below.
  auto take_signal = [&] {
    signalfd_siginfo info{};
    if (::read(signal_fd.get(), &info, sizeof info) != sizeof info) return false;
    const int sig = static_cast<int>(info.ssi_signo);
    if (sig == SIGUSR1) early_fatal = true;
    if ((sig == SIGTERM || sig == SIGINT) && early_signal == 0) {
      early_signal = sig;
      (*executor)->CancelStart();
    }
    return true;
  };
  Status start = Ok{};
  if (!(*executor)->StartMayWait()) {
    // Nothing to wait for (the fork modes): readiness is not held up by a thread's start and
    // wake-up (P8). Signals that came while the watchdog set up are taken now, as they would
    // have been while a start waited.
    start = (*executor)->Start();
    for (pollfd p{signal_fd.get(), POLLIN, 0};
         ::poll(&p, 1, 0) > 0 && (p.revents & POLLIN) != 0 && take_signal();) {
    }
  } else {
    // Start may wait (http mode: up to upstream_ready_timeout for the function to listen), so
    // it runs on a thread of its own while this one keeps taking signals: SIGTERM meanwhile
    // cancels the wait and the watchdog stops at once, as it would once ready.
    // When it ends, that thread makes its result ready and then writes an eventfd, which this
    // one polls together with a signalfd: no timeout, so readiness waits for nothing else (a
    // 50 ms sigtimedwait woken by SIGUSR2 let one start in five wait out the whole timeout).
    std::promise<Status> start_promise;
    std::future<Status> starting = start_promise.get_future();
    std::thread starter([&] {
      try {
        start_promise.set_value((*executor)->Start());
      } catch (...) {
        start_promise.set_exception(std::current_exception());
      }
      const std::uint64_t one = 1;
      while (::write(started_fd.get(), &one, sizeof one) < 0 && errno == EINTR) {
      }
    });
    for (bool started = false; !started;) {
      pollfd fds[2] = {{started_fd.get(), POLLIN, 0}, {signal_fd.get(), POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        // Not expected (ENOMEM): wait for the start below without taking signals meanwhile;
        // any that came stay pending for the wait after it.
        log::Warn(fmt::format("poll while the function starts: {}", std::strerror(errno)));
        break;
      }
      started = (fds[0].revents & POLLIN) != 0;
      if ((fds[1].revents & POLLIN) != 0) take_signal();
    }
    starter.join();
    start = starting.get();
  }
  started_fd.reset();
  signal_fd.reset();
  if (early_signal != 0) {
    log::Info(fmt::format("{} received before the function was ready: stopping",
                          early_signal == SIGTERM ? "SIGTERM" : "SIGINT"));
  } else if (!start) {
    log::Error(start.error().message);
    exit_code = kExitRuntime;
  } else if (early_fatal) {
    std::lock_guard guard(fatal_mutex);
    log::Error(fmt::format("stopping: {}", fatal_reason));
    exit_code = kExitRuntime;
  } else {
    health.SetFunctionReady();
    if (!cfg.suppress_lock) {
      if (auto s = lock.Write(); !s) {
        log::Error(s.error().message);
        exit_code = kExitRuntime;
      }
    }
  }

  if (exit_code == 0 && early_signal == 0 && !early_fatal) {
    log::Info(fmt::format("ready: {}",
                          cfg.suppress_lock ? "lock file suppressed" : "lock file " + lock.path()));
    int sig = WaitForSignal(signals, std::nullopt);
    if (sig == SIGUSR1) {
      std::lock_guard guard(fatal_mutex);
      log::Error(fmt::format("stopping: {}", fatal_reason));
      exit_code = kExitRuntime;
    } else {
      log::Info(fmt::format("{} received: lock file removed, health 503; draining after {} ms",
                            sig == SIGTERM ? "SIGTERM" : "SIGINT",
                            cfg.healthcheck_interval.count()));
      lock.Remove();
      health.SetDraining();
      // Stay up (unhealthy) so the orchestrator stops routing here; a second signal cuts
      // the wait short.
      if (cfg.healthcheck_interval.count() > 0) {
        int again = WaitForSignal(signals, cfg.healthcheck_interval);
        if (again == SIGUSR1) exit_code = kExitRuntime;
      }
    }
  }

  lock.Remove();
  health.SetDraining();
  (*server)->WaitUntilReady();  // a Stop() before the accept loop runs would be lost
  (*server)->Stop();
  // The server gives requests in flight write_timeout; the margin lets its workers end.
  if (stopped_future.wait_for(cfg.write_timeout + std::chrono::seconds(2)) ==
      std::future_status::timeout) {
    log::Warn(fmt::format("drain: {} request(s) still running after write_timeout ({} ms); exiting",
                          health.inflight(), cfg.write_timeout.count()));
    (*executor)->Shutdown();
    log::Flush();
    std::fflush(nullptr);
    std::_Exit(exit_code);
  }
  serving.join();
  (*executor)->Shutdown();
  log::Info(fmt::format("shutdown complete (exit {})", exit_code));
  log::Flush();
  return exit_code;
}

// Request bodies up to body_memory_bytes are held in memory. glibc hands out blocks above
// 128 KiB with mmap and trims freed memory above 256 KiB back to the kernel, so every such
// body cost fresh zeroed pages and a page fault per 4 KiB (a 256 KiB forged body: 40 % of the
// watchdog's CPU). Serving them from the heap, and keeping up to two such bodies' worth of
// freed memory resident, makes them cost what hashing them costs.
void TuneMallocForBodies(std::size_t body_memory_bytes) {
  constexpr std::size_t kCeiling = 32 * 1024 * 1024;  // glibc's largest mmap threshold
  std::size_t threshold = std::min(body_memory_bytes + 64 * 1024, kCeiling);
  if (threshold <= 128 * 1024) return;  // glibc's default already covers it
  ::mallopt(M_MMAP_THRESHOLD, static_cast<int>(threshold));
  ::mallopt(M_TRIM_THRESHOLD, static_cast<int>(2 * threshold));
}

// Loads the configuration from the environment and the command line's flags, and serves.
int LoadAndServe(const hw::config::Environment& env,
                 const std::map<std::string, std::string>& flags) {
  auto cfg = hw::config::Load(env, flags);
  if (!cfg) return Fail(kExitConfig, cfg.error().message);
  TuneMallocForBodies(cfg->body_memory_bytes);
  return Serve(*cfg);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace hw;
  // Workers come and go (up to max_connections); glibc would give each its own malloc arena
  // (up to 8 per core), whose freed chunks stay resident. Two arenas keep the footprint flat
  // on the small machines functions run on, at no measurable cost on two cores.
  ::mallopt(M_ARENA_MAX, 2);
  // Started without arguments, as a function's image starts it, the environment is the whole
  // configuration: the command line's parser (a hundred options, each with its help text) is
  // not built, which was a third of the start-up's own CPU time (README "Performance", P8).
  if (argc <= 1) return LoadAndServe(config::CurrentEnvironment(), {});
  CLI::App app{
      "hmac-watchdog: an OpenFaaS watchdog that verifies webhook signatures before "
      "it runs the function. Every option is also read from the environment variable "
      "of the same name (lower case, '_' for '-'); flags win.",
      "hmac-watchdog"};
  app.set_version_flag("--version", VersionText());
  bool run_healthcheck = false;
  app.add_flag("--run-healthcheck", run_healthcheck,
               "exit 0 if the lock file exists, else 1 (for Docker HEALTHCHECK)");
  std::map<std::string, std::string> flags;
  for (const auto& key : config::Keys()) {
    if (key.env.find('<') != std::string::npos) continue;
    std::string help =
        fmt::format("{} (env {}{}; default {})", key.help, key.env,
                    key.alias.empty() ? "" : ", alias " + key.alias, key.default_text);
    app.add_option_function<std::string>(
        "--" + key.flag, [&flags, flag = key.flag](const std::string& v) { flags[flag] = v; },
        help);
  }
  app.add_option_function<std::string>(
      "--hmac-secret-for", [&flags](const std::string& v) { flags["hmac-secret-for"] = v; },
      "per-scheme secret names, SCHEME=NAMES[;SCHEME=NAMES] (env hmac_secret_<scheme>)");

  signature::SignRequest sign;
  std::string sign_timestamp;
  auto* sign_cmd = app.add_subcommand(
      "sign",
      "print the signature header(s) a sender of --scheme would send for the body on stdin");
  sign_cmd->add_option("--scheme", sign.scheme, "scheme name")->required();
  sign_cmd->add_option("--secret-file", sign.secret_file, "file holding the secret")->required();
  sign_cmd->add_option("--timestamp", sign_timestamp, "Unix time to sign (default: now)");
  sign_cmd->add_option("--id", sign.id, "delivery/message id (default: random)");
  sign_cmd->add_option("--header,--signature-header", sign.header,
                       "signature header name (faas-cli, generic)");
  sign_cmd->add_option("--method", sign.method, "request method (hubspot; default POST)");
  sign_cmd->add_option("--path", sign.path, "request path and ?query (default /)");
  sign_cmd->add_flag("--value", sign.value_only, "print only the signature value");

  signature::VerifyRequest verify;
  std::string verify_now;
  auto* verify_cmd = app.add_subcommand(
      "verify", "check a recorded request: body on stdin, headers with -H; exit 0 only if valid");
  verify_cmd->add_option("--scheme", verify.scheme, "scheme name")->required();
  verify_cmd->add_option("--secret-file", verify.secret_file, "file holding the secret")
      ->required();
  verify_cmd->add_option("-H,--header", verify.headers, "a request header, 'Name: value'");
  verify_cmd->add_option("--now", verify_now, "Unix time to check timestamps against");
  verify_cmd->add_option("--method", verify.method, "request method (default POST)");
  verify_cmd->add_option("--path", verify.path, "request path (default /)");
  verify_cmd->add_option_function<std::string>(
      "--signature-header", [&flags](const std::string& v) { flags["hmac-header"] = v; },
      "signature header name (faas-cli, generic)");
  for (auto* cmd : {sign_cmd, verify_cmd}) {
    cmd->add_option_function<std::string>(
        "--algorithm", [&flags](const std::string& v) { flags["hmac-algorithm"] = v; },
        "generic: sha1, sha256, sha512");
    cmd->add_option_function<std::string>(
        "--encoding", [&flags](const std::string& v) { flags["hmac-encoding"] = v; },
        "generic: hex or base64");
    cmd->add_option_function<std::string>(
        "--prefix", [&flags](const std::string& v) { flags["hmac-prefix"] = v; },
        "generic: value prefix such as sha256=");
    cmd->add_option_function<std::string>(
        "--tolerance", [&flags](const std::string& v) { flags["hmac-tolerance"] = v; },
        "timestamp tolerance (verify)");
    cmd->add_option_function<std::string>(
        "--public-url", [&flags](const std::string& v) { flags["hmac-public-url"] = v; },
        "URL the sender signs (twilio, square, hubspot)");
  }

  auto args = NormalizeArgs(argc, argv);
  std::reverse(args.begin(), args.end());
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    std::cout << VersionText() << "\n";
    return 0;
  } catch (const CLI::ParseError& e) {
    return Fail(kExitConfig, e.what());
  }

  config::Environment env = config::CurrentEnvironment();
  if (run_healthcheck) {
    auto tmp = env.find("TMPDIR");
    return server::RunHealthcheck(tmp != env.end() && !tmp->second.empty() ? tmp->second : "/tmp");
  }

  if (sign_cmd->parsed() || verify_cmd->parsed()) {
    // The signature options come from the flags above, or from the environment.
    auto options = config::LoadSignature(env, flags);
    if (!options) return Fail(kExitConfig, options.error().message);
    auto parse_time = [](const std::string& text, std::optional<std::int64_t>& out) -> bool {
      if (text.empty()) return true;
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc() || p != text.data() + text.size() || v < 0) return false;
      out = v;
      return true;
    };
    if (sign_cmd->parsed()) {
      sign.options = *options;
      if (!parse_time(sign_timestamp, sign.timestamp)) {
        return Fail(kExitConfig, "invalid value for --timestamp: expected Unix seconds");
      }
      return signature::RunSign(sign, std::cin, std::cout, std::cerr);
    }
    verify.options = *options;
    if (!parse_time(verify_now, verify.now)) {
      return Fail(kExitConfig, "invalid value for --now: expected Unix seconds");
    }
    return signature::RunVerify(verify, std::cin, std::cout, std::cerr);
  }

  return LoadAndServe(env, flags);
}
