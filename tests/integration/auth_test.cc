// Authentication per path (auth_routes) through the real binary, against real parts: a real
// OpenID Connect provider (oidc-provider from npm, tests/auth/oidc_server.mjs) issuing
// client-credentials tokens, an auth plugin speaking the gateway's protocol
// (tests/auth/plugin_server.py), basic auth from rotated secret files, and the mixed policy
// of one function (hmac on /webhook, jwt on /admin, basic on /).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.h"
#include "support/openssl_signature.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

const std::string kAuthDir = std::string(HW_TEST_SCRIPTS_DIR) + "/../../auth";

std::string B64(const std::string& in) {
  static constexpr char k[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += {k[(v >> 18) & 63], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (in.size() - i == 1) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {k[(v >> 18) & 63], k[(v >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {k[(v >> 18) & 63], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}
std::string B64Url(const std::string& in) {
  std::string s = B64(in);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return s;
}

Headers BasicHeader(const std::string& user, const std::string& password) {
  return {{"Authorization", "Basic " + B64(user + ":" + password)}};
}
Headers BearerHeader(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// A child process (test server), stopped with SIGTERM when destroyed.
class Child {
 public:
  explicit Child(std::vector<std::string> argv) {
    pid_ = fork();
    if (pid_ == 0) {
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      int null = ::open("/dev/null", O_WRONLY);
      dup2(null, 1);
      dup2(null, 2);
      execvp(args[0], args.data());
      _exit(127);
    }
  }
  ~Child() { Stop(); }
  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
};

bool WaitHttp(int port, const std::string& path, std::chrono::milliseconds timeout = 15s) {
  return Eventually([&] { return Request(port, "GET", path, {}, "", 1s).status == 200; }, timeout);
}

// node and oidc-provider, or a reason to skip.
std::string NodeUnavailable() {
  static const std::string reason = [] {
    // oidc-provider 9 needs Node.js 20 or later, and npm to install it.
    if (std::system(
            "node -e 'process.exit(Number(process.versions.node.split(\".\")[0]) >= 20 ? 0 : 1)' "
            ">/dev/null 2>&1") != 0) {
      return std::string("Node.js 20 or later is not installed");
    }
    if (std::system("npm --version >/dev/null 2>&1") != 0)
      return std::string("npm is not installed");
    // Installed once for every test process: ctest runs several of these tests at a time, and
    // `npm ci` starts by deleting node_modules, so a second install running while another
    // test's issuer loads its modules breaks that issuer (it never listens). The install runs
    // under a lock, and a marker written after it succeeded says it is complete.
    const std::string marker = kAuthDir + "/node_modules/.hw-installed";
    if (std::filesystem::exists(marker)) return std::string();
    const int lock =
        ::open((kAuthDir + "/.npm-install.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
      if (lock >= 0) ::close(lock);
      return std::string("cannot lock tests/auth/.npm-install.lock");
    }
    std::string reason;
    if (!std::filesystem::exists(marker)) {
      std::string cmd = "cd '" + kAuthDir + "' && npm ci --no-audit --no-fund >/dev/null 2>&1";
      if (std::system(cmd.c_str()) != 0) {
        reason = "`npm ci` failed in tests/auth (no npm registry?)";
      } else {
        std::ofstream(marker) << "installed by auth_test.cc\n";
      }
    }
    ::close(lock);  // releases the lock
    return reason;
  }();
  return reason;
}

#define REQUIRE_NODE()                                                                \
  do {                                                                                \
    if (!NodeUnavailable().empty()) {                                                 \
      WARN("SKIPPED: the OpenID Connect provider cannot run: " << NodeUnavailable()); \
      return;                                                                         \
    }                                                                                 \
  } while (0)

class Oidc {
 public:
  Oidc(int port, const std::string& kid) : port_(port) { Start(kid); }
  // The issuer at https://127.0.0.1:tls_port with this certificate (the plain port stays for
  // the tests' token requests).
  Oidc(int port, const std::string& kid, int tls_port, std::string cert, std::string key)
      : port_(port), tls_port_(tls_port), cert_(std::move(cert)), key_(std::move(key)) {
    Start(kid);
  }
  void Start(const std::string& kid) {
    std::vector<std::string> argv{"node", kAuthDir + "/oidc_server.mjs", std::to_string(port_),
                                  kid};
    if (tls_port_ != 0) argv.insert(argv.end(), {std::to_string(tls_port_), cert_, key_});
    child_ = std::make_unique<Child>(argv);
    REQUIRE(WaitHttp(port_, "/.well-known/openid-configuration"));
  }
  void Stop() { child_.reset(); }
  std::string issuer() const {
    return tls_port_ != 0 ? "https://127.0.0.1:" + std::to_string(tls_port_)
                          : "http://127.0.0.1:" + std::to_string(port_);
  }
  // A real token from the token endpoint (client credentials grant).
  std::string Token() const {
    auto r = Request(port_, "POST", "/token",
                     {{"Authorization", "Basic " + B64("fn-client:fn-secret")},
                      {"Content-Type", "application/x-www-form-urlencoded"}},
                     "grant_type=client_credentials&scope=read%20admin");
    REQUIRE(r.status == 200);
    std::smatch m;
    REQUIRE(std::regex_search(r.body, m, std::regex("\"access_token\":\"([^\"]+)\"")));
    return m[1];
  }
  // Any claims, signed by the provider's current key.
  std::string Sign(const std::string& claims) const {
    auto r = Request(port_, "POST", "/test/sign", {}, claims);
    REQUIRE(r.status == 200);
    return r.body;
  }
  std::string Jwks() const {
    auto r = Request(port_, "GET", "/jwks");
    return r.body;
  }

 private:
  int port_;
  int tls_port_ = 0;
  std::string cert_, key_;
  std::unique_ptr<Child> child_;
};

std::string Claims(const std::string& iss, const std::string& aud, long exp_offset,
                   long nbf_offset = -10) {
  long now = static_cast<long>(std::time(nullptr));
  return "{\"iss\":\"" + iss + "\",\"aud\":\"" + aud +
         "\",\"sub\":\"tester\",\"exp\":" + std::to_string(now + exp_offset) +
         ",\"nbf\":" + std::to_string(now + nbf_offset) + "}";
}

struct Function {
  TempDir tmp;
  std::string secrets;
  std::unique_ptr<Watchdog> w;
  explicit Function(Env extra, bool wait_ready = true) {
    secrets = tmp.path() + "/secrets";
    tmp.Write("secrets/webhook-secret", "hook-s3cret\n");
    tmp.Write("secrets/basic-auth-user", "admin\n");
    tmp.Write("secrets/basic-auth-password", "pa55word \n");
    Env env = {{"fprocess", ProgramPath("fn") + " env"},
               {"mode", "serializing"},
               {"secrets_path", secrets},
               {"hmac_reload_interval", "200ms"},
               {"TMPDIR", tmp.path()}};
    for (auto& [k, v] : extra) env[k] = v;
    w = Watchdog::Start(env, {}, wait_ready);
  }
  Response Call(const std::string& path, const Headers& headers = {}, const std::string& body = "",
                const std::string& method = "POST") const {
    return Request(w->port(), method, path, headers, body);
  }
};

}  // namespace

TEST_CASE("basic auth admits the user of the secret files and refuses everything else", "[auth]") {
  Function f(Env{{"auth_routes", "/=basic"}, {"basic_auth_max_failures", "0"}});
  auto ok = f.Call("/", [] {
    auto h = BasicHeader("admin", "pa55word");
    h.push_back({"X-Auth-Subject", "forged"});
    return h;
  }());
  REQUIRE(ok.status == 200);
  CHECK(ok.body.find("Http_X_Auth_Subject=admin") != std::string::npos);
  CHECK(ok.body.find("forged") == std::string::npos);
  CHECK(ok.body.find("Http_X_Auth_Method=basic") != std::string::npos);

  for (const Headers& h : std::vector<Headers>{{},
                                               BasicHeader("admin", "wrong"),
                                               BasicHeader("root", "pa55word"),
                                               BasicHeader("admin", "pa55word "),
                                               {{"Authorization", "Basic"}},
                                               {{"Authorization", "Basic !!!"}},
                                               {{"Authorization", "Basic " + B64("nocolon")}},
                                               {{"Authorization", "Bearer x"}},
                                               {{"Authorization", "Digest a=b"}}}) {
    auto r = f.Call("/", h);
    CHECK(r.status == 401);
    CHECK(r.Header("WWW-Authenticate").value_or("").rfind("Basic realm=", 0) == 0);
    CHECK(r.body.find("pa55word") == std::string::npos);
    CHECK(r.body.find("Http_") == std::string::npos);  // the function never ran
  }

  // Rotation: the new password is used without a restart, the old one refused.
  f.tmp.Write("secrets/basic-auth-password", "n3w-pass\n");
  CHECK(Eventually([&] { return f.Call("/", BasicHeader("admin", "n3w-pass")).status == 200; }));
  CHECK(f.Call("/", BasicHeader("admin", "pa55word")).status == 401);
  CHECK(f.w->Log().find("pa55word") == std::string::npos);
  CHECK(f.w->Log().find("n3w-pass") == std::string::npos);
}

TEST_CASE("a burst of wrong basic auth guesses from one address gets 429; other addresses get in",
          "[auth]") {
  Function f(Env{{"auth_routes", "/=basic"}, {"basic_auth_max_failures", "5"}});
  for (int i = 0; i < 5; ++i)
    CHECK(f.Call("/", BasicHeader("admin", "guess" + std::to_string(i))).status == 401);
  auto r = f.Call("/", BasicHeader("admin", "pa55word"));
  CHECK(r.status == 429);
  auto retry = r.Header("Retry-After");
  REQUIRE(retry);
  CHECK(std::stoi(*retry) >= 1);
  CHECK(std::stoi(*retry) <= 60);
  // Counted per client, by the address the connection came from: another one (127.0.0.2 is
  // loopback too) is still let in, and its own wrong guesses get 401, not 429.
  CHECK(
      RequestFrom("127.0.0.2", f.w->port(), "POST", "/", BasicHeader("admin", "pa55word")).status ==
      200);
  CHECK(RequestFrom("127.0.0.2", f.w->port(), "POST", "/", BasicHeader("admin", "nope")).status ==
        401);
  CHECK(f.Call("/", BasicHeader("admin", "pa55word")).status == 429);
}

TEST_CASE("none admits, an unmatched path is refused, and auth_routes errors stop startup",
          "[auth]") {
  {
    Function f(Env{{"auth_routes", "/public=none;/private=basic"}});
    CHECK(f.Call("/public/x").status == 200);
    CHECK(f.Call("/publicity").status == 401);  // no rule matches
    CHECK(f.Call("/private").status == 401);
  }
  struct Case {
    Env env;
    std::string message;
  };
  for (const auto& c : std::vector<Case>{
           {{{"auth_routes", "/a=jwt;admin=basic"}}, "rule \"admin=basic\""},
           {{{"auth_routes", "/=kerberos"}}, "unknown method \"kerberos\""},
           {{{"auth_routes", "/=jwt"}, {"jwt_issuer", "http://127.0.0.1:1"}},
            "jwt_audience is not set"},
           {{{"auth_routes", "/=jwt"}, {"jwt_audience", "fn"}}, "jwt_issuer is not set"},
           {{{"auth_routes", "/=plugin"}}, "auth_proxy_url is not set"},
           {{{"auth_routes", "/=plugin"}, {"auth_proxy_url", "ftp://x/"}},
            "invalid value for auth_proxy_url: \"ftp://x/\""},
           {{{"auth_routes", "/=plugin"},
             {"auth_proxy_url", "https://127.0.0.1:1/v"},
             {"auth_tls_ca_file", "/nonexistent/ca.pem"}},
            "invalid value for auth_tls_ca_file: \"/nonexistent/ca.pem\": the file cannot be read"},
           {{{"auth_routes", "/=plugin"},
             {"auth_proxy_url", "http://127.0.0.1:1/v"},
             {"auth_proxy_cache", "10s"},
             {"auth_pass_body", "true"}},
            "auth_proxy_cache is set with auth_pass_body=true"},
           {{{"auth_routes", "/=plugin"},
             {"auth_proxy_url", "http://127.0.0.1:1/v"},
             {"auth_proxy_cache", "10s"},
             {"auth_proxy_cache_headers", ""}},
            "auth_proxy_cache_headers is empty"},
           {{{"auth_routes", "/=plugin"},
             {"auth_proxy_url", "http://127.0.0.1:1/v"},
             {"auth_proxy_cache_entries", "0"}},
            "invalid value for auth_proxy_cache_entries"},
           {{{"auth_routes", "/=hmac"}}, "hmac_scheme is required"},
       }) {
    Function f(c.env, false);
    auto code = f.w->WaitExit(10s);
    REQUIRE(code);
    CHECK(*code == 2);
    CHECK(f.w->Log().find(c.message) != std::string::npos);
  }
  // hmac_scheme is not required when no rule uses hmac (the basic function above started).
}

TEST_CASE(
    "the auth plugin gets the exact request, and its allow, deny, slowness and absence "
    "decide",
    "[auth]") {
  const int plugin_port = FreePort();
  Child plugin({"python3", kAuthDir + "/plugin_server.py", std::to_string(plugin_port)});
  REQUIRE(WaitHttp(plugin_port, "/_last"));
  Function f(
      Env{{"auth_routes", "/=plugin"},
          {"auth_proxy_url", "http://127.0.0.1:" + std::to_string(plugin_port) + "/validate"},
          {"auth_pass_body", "true"},
          {"auth_proxy_timeout", "1s"}});

  auto ok = f.Call(
      "/fn/path?q=1",
      {{"X-Test-Plugin", "allow"}, {"X-Custom", "v1"}, {"Authorization", "Bearer opaque-token"}},
      "the body");
  CHECK(ok.status == 200);
  CHECK(ok.body.find("Http_X_Custom=v1") != std::string::npos);
  auto last = Request(plugin_port, "GET", "/_last");
  CHECK(last.body.find("\"method\": \"GET\"") != std::string::npos);
  CHECK(last.body.find("\"path\": \"/validate\"") != std::string::npos);
  CHECK(last.body.find("[\"X-Custom\", \"v1\"]") != std::string::npos);
  CHECK(last.body.find("[\"Authorization\", \"Bearer opaque-token\"]") != std::string::npos);
  CHECK(last.body.find("\"body\": \"the body\"") != std::string::npos);

  auto denied = f.Call("/", {{"X-Test-Plugin", "deny"}}, "x");
  CHECK(denied.status == 403);
  CHECK(denied.body == "denied by plugin\n");
  CHECK(denied.Header("X-Plugin-Reason") == "not-on-the-list");

  auto slow = f.Call("/", {{"X-Test-Plugin", "slow"}}, "x");
  CHECK(slow.status == 503);
  CHECK(slow.body.find("127.0.0.1") == std::string::npos);

  plugin.Stop();
  auto down = f.Call("/", {{"X-Test-Plugin", "allow"}}, "x");
  CHECK(down.status == 503);
  CHECK(down.body.find("127.0.0.1") == std::string::npos);
  CHECK(down.body.find("onnect") == std::string::npos);
  CHECK(f.w->Log().find("auth plugin") != std::string::npos);
}

TEST_CASE(
    "jwt admits real client-credentials tokens of an OpenID Connect provider and refuses "
    "forged, stale and misdirected ones",
    "[auth][oidc]") {
  REQUIRE_NODE();
  const int port = FreePort();
  Oidc oidc(port, "k1");
  Function f(Env{{"auth_routes", "/=jwt"},
                 {"jwt_issuer", oidc.issuer()},
                 {"jwt_audience", "fn"},
                 {"jwt_required_scopes", "admin"},
                 {"jwt_forward_claims", "client_id"}});
  REQUIRE(WaitHttp(f.w->port(), "/_/health"));
  const std::string token = oidc.Token();
  auto ok = f.Call("/", BearerHeader(token));
  REQUIRE(ok.status == 200);
  CHECK(ok.body.find("Http_X_Auth_Subject=fn-client") != std::string::npos);
  CHECK(ok.body.find("Http_X_Auth_Claim_Client_id=fn-client") != std::string::npos);
  CHECK(f.w->Log().find(token) == std::string::npos);

  CHECK(f.Call("/").status == 401);
  CHECK(f.Call("/", BearerHeader(oidc.Sign(Claims(oidc.issuer(), "fn", -120)))).status == 401);
  CHECK(f.Call("/", BearerHeader(oidc.Sign(Claims(oidc.issuer(), "fn", 600, 300)))).status == 401);
  CHECK(f.Call("/", BearerHeader(oidc.Sign(Claims(oidc.issuer(), "other-fn", 600)))).status == 401);
  CHECK(f.Call("/", BearerHeader(oidc.Sign(Claims("http://evil.test", "fn", 600)))).status == 401);
  // Signed by the provider's key but without the required scope: 403.
  CHECK(f.Call("/", BearerHeader(oidc.Sign(Claims(oidc.issuer(), "fn", 600)))).status == 403);

  const std::string payload = B64Url(Claims(oidc.issuer(), "fn", 600));
  CHECK(f.Call("/", BearerHeader(B64Url("{\"alg\":\"none\",\"kid\":\"k1\"}") + "." + payload + "."))
            .status == 401);
  // HS256 keyed with the provider's public key (the JWKS text, and the key's JSON).
  const std::string jwks = oidc.Jwks();
  const std::string input = B64Url("{\"alg\":\"HS256\",\"kid\":\"k1\"}") + "." + payload;
  std::string mac = OpenSslGithubSignature(jwks, input).substr(7);  // hex
  std::string raw;
  for (std::size_t i = 0; i < mac.size(); i += 2)
    raw += static_cast<char>(std::stoi(mac.substr(i, 2), nullptr, 16));
  CHECK(f.Call("/", BearerHeader(input + "." + B64Url(raw))).status == 401);
  // Unknown kid.
  std::string unknown = token;
  const std::string header = B64Url("{\"alg\":\"RS256\",\"kid\":\"nope\"}");
  unknown = header + unknown.substr(unknown.find('.'));
  CHECK(f.Call("/", BearerHeader(unknown)).status == 401);

  // The provider stopped: the last good keys still decide.
  oidc.Stop();
  CHECK(f.Call("/", BearerHeader(token)).status == 200);
  CHECK(f.Call("/", BearerHeader(unknown)).status == 401);

  // Rotation: the provider comes back with a new key only. New tokens are accepted without a
  // restart (the unknown kid fetches the new set); the old key is gone, so old tokens are not.
  oidc.Start("k2");
  const std::string token2 = oidc.Token();
  CHECK(Eventually([&] { return f.Call("/", BearerHeader(token2)).status == 200; }, 10s));
  CHECK(f.Call("/", BearerHeader(token)).status == 401);
}

TEST_CASE("the watchdog is not ready until the issuer's keys are in, and turns ready by itself",
          "[auth][oidc]") {
  REQUIRE_NODE();
  // Seconds pass before the issuer listens on its port: FreePort's comes from outside the
  // ephemeral range, so no outgoing connection meanwhile (the watchdog's key fetches, or the
  // soak's thousands running alongside) can be given it as its own.
  const int port = FreePort();
  Function f(Env{{"auth_routes", "/=jwt"},
                 {"jwt_issuer", "http://127.0.0.1:" + std::to_string(port)},
                 {"jwt_audience", "fn"}},
             false);
  REQUIRE(f.w->WaitForPort());
  CHECK(Eventually([&] { return Request(f.w->port(), "GET", "/_/health").status == 503; }, 5s));
  std::this_thread::sleep_for(1500ms);  // time passes: retries (1 s apart) keep failing
  CHECK(Request(f.w->port(), "GET", "/_/health").status == 503);
  Oidc oidc(port, "k1");
  CHECK(Eventually([&] { return Request(f.w->port(), "GET", "/_/health").status == 200; }, 10s));
  CHECK(f.Call("/", BearerHeader(oidc.Token())).status == 200);
}

TEST_CASE(
    "one function: hmac on /webhook, jwt on /admin, basic on /, each refusing the others' "
    "credentials",
    "[auth][oidc]") {
  REQUIRE_NODE();
  const int port = FreePort();
  Oidc oidc(port, "k1");
  const int metrics_port = FreePort();
  Function f(Env{{"auth_routes", "/webhook=hmac;/admin=jwt;/=basic"},
                 {"hmac_scheme", "github"},
                 {"jwt_issuer", oidc.issuer()},
                 {"jwt_audience", "fn"},
                 {"metrics_port", std::to_string(metrics_port)}});
  REQUIRE(WaitHttp(f.w->port(), "/_/health"));
  const std::string body = "{\"action\":\"opened\"}";
  const Headers hmac = {{"X-Hub-Signature-256", OpenSslGithubSignature("hook-s3cret", body)}};
  const Headers bearer = BearerHeader(oidc.Token());
  const Headers basic = BasicHeader("admin", "pa55word");

  CHECK(f.Call("/webhook", hmac, body).status == 200);
  CHECK(f.Call("/webhook", bearer, body).status == 401);
  CHECK(f.Call("/webhook", basic, body).status == 401);

  CHECK(f.Call("/admin/users", bearer, body).status == 200);
  CHECK(f.Call("/admin/users", hmac, body).status == 401);
  CHECK(f.Call("/admin/users", basic, body).status == 401);

  CHECK(f.Call("/", basic, body).status == 200);
  CHECK(f.Call("/other", hmac, body).status == 401);
  CHECK(f.Call("/other", bearer, body).status == 401);

  auto metrics = Request(metrics_port, "GET", "/metrics").body;
  CHECK(metrics.find("auth_decisions_total{method=\"hmac\",outcome=\"valid\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("auth_decisions_total{method=\"jwt\",outcome=\"valid\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("auth_decisions_total{method=\"basic\",outcome=\"valid\"} 1") !=
        std::string::npos);
  CHECK(metrics.find("auth_decisions_total{method=\"basic\",outcome=\"missing\"} 2") !=
        std::string::npos);
}

namespace {

// Certificates made with the openssl command for the https tests: a CA the watchdog trusts
// (ca.pem), another it does not (other-ca.pem), and server certificates (P-256 keys) signed
// by them: good (127.0.0.1 and localhost, from ca), untrusted (same names, from other-ca),
// wronghost (other.example only, from ca), expired (127.0.0.1, from ca, ended yesterday).
struct Certs {
  TempDir dir;
  std::string ca, other_ca;
  Certs() {
    const std::string d = dir.path();
    auto run = [](const std::string& cmd) {
      INFO(cmd);
      REQUIRE(std::system((cmd + " >/dev/null 2>&1").c_str()) == 0);
    };
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
    for (const std::string ca : {"ca", "other-ca"}) {
      run("openssl req -x509 " + ec + " -days 2 -subj /CN=hw-test-" + ca + " -keyout " + d + "/" +
          ca + ".key -out " + d + "/" + ca + ".pem");
    }
    auto leaf = [&](const std::string& name, const std::string& ca, const std::string& san,
                    const std::string& days) {
      dir.Write(name + ".ext", "subjectAltName=" + san + "\n");
      run("openssl req -new " + ec + " -subj /CN=" + name + " -keyout " + d + "/" + name +
          ".key -out " + d + "/" + name + ".csr");
      run("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/" + ca + ".pem -CAkey " +
          d + "/" + ca + ".key -CAcreateserial -days " + days + " -extfile " + d + "/" + name +
          ".ext -out " + d + "/" + name + ".pem");
    };
    leaf("good", "ca", "IP:127.0.0.1,DNS:localhost", "1");
    leaf("untrusted", "other-ca", "IP:127.0.0.1,DNS:localhost", "1");
    leaf("wronghost", "ca", "DNS:other.example", "1");
    leaf("expired", "ca", "IP:127.0.0.1", "-1");  // notAfter a day before notBefore (now)
    ca = d + "/ca.pem";
    other_ca = d + "/other-ca.pem";
  }
  std::string Cert(const std::string& name) const { return dir.path() + "/" + name + ".pem"; }
  std::string Key(const std::string& name) const { return dir.path() + "/" + name + ".key"; }
};

// The test plugin, also answering over https on tls_port with certificate `name`.
class TlsPlugin {
 public:
  TlsPlugin(const Certs& certs, const std::string& name)
      : port_(FreePort()),
        tls_port_(FreePort()),
        child_({"python3", kAuthDir + "/plugin_server.py", std::to_string(port_),
                std::to_string(tls_port_), certs.Cert(name), certs.Key(name)}) {
    REQUIRE(WaitHttp(port_, "/_last"));
  }
  int port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(tls_port_) + "/validate"; }
  std::string host() const { return "127.0.0.1:" + std::to_string(tls_port_); }
  int Count() const { return std::stoi(Request(port_, "GET", "/_count").body); }

 private:
  int port_;
  int tls_port_;
  Child child_;
};

}  // namespace

TEST_CASE(
    "jwt over https: discovery and JWKS from an issuer whose certificate chains to "
    "auth_tls_ca_file",
    "[auth][oidc][tls]") {
  REQUIRE_NODE();
  Certs certs;
  Oidc oidc(FreePort(), "k1", FreePort(), certs.Cert("good"), certs.Key("good"));
  Function f(Env{{"auth_routes", "/=jwt"},
                 {"jwt_issuer", oidc.issuer()},
                 {"jwt_audience", "fn"},
                 {"auth_tls_ca_file", certs.ca}});
  REQUIRE(WaitHttp(f.w->port(), "/_/health"));
  CHECK(f.w->WaitForLog("signing key(s) from " + oidc.issuer() + "/jwks", 5s));
  const std::string token = oidc.Token();
  auto ok = f.Call("/", BearerHeader(token));
  CHECK(ok.status == 200);
  CHECK(ok.body.find("Http_X_Auth_Subject=fn-client") != std::string::npos);
  CHECK(f.Call("/", BearerHeader(token + "x")).status == 401);
  CHECK(f.w->Log().find(token) == std::string::npos);
}

TEST_CASE(
    "an issuer whose TLS certificate cannot be trusted leaves the watchdog not ready, the "
    "host and the reason logged",
    "[auth][tls]") {
  Certs certs;
  struct Case {
    std::string cert;
    std::string ca_file;  // "" = the system's store
    std::string reason;
  };
  for (const auto& c : std::vector<Case>{
           {"untrusted", certs.ca, "unable to get local issuer certificate"},
           {"wronghost", certs.ca, "it is not for this host name"},
           {"expired", certs.ca, "certificate has expired"},
           // Without auth_tls_ca_file the system's store decides: a private CA is not in it.
           {"good", "", "unable to get local issuer certificate"},
       }) {
    DYNAMIC_SECTION(c.cert << (c.ca_file.empty() ? " (system store)" : "")) {
      TlsPlugin server(certs, c.cert);  // serves anything over TLS: the handshake decides
      const std::string jwks = "https://" + server.host() + "/jwks?key=do-not-log";
      Env env{{"auth_routes", "/=jwt"}, {"jwks_url", jwks}, {"jwt_audience", "fn"}};
      if (!c.ca_file.empty()) env["auth_tls_ca_file"] = c.ca_file;
      Function f(env, false);
      REQUIRE(f.w->WaitForPort());
      CHECK(f.w->WaitForLog(c.reason, 10s));
      CHECK(Request(f.w->port(), "GET", "/_/health").status == 503);
      const std::string log = f.w->Log();
      CHECK(log.find("JWKS https://" + server.host() + "/jwks: TLS certificate not trusted") !=
            std::string::npos);
      CHECK(log.find("do-not-log") == std::string::npos);
      CHECK(server.Count() == 0);  // no request was sent over the untrusted connection
      auto r = f.Call("/", BearerHeader("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"));
      CHECK(r.status == 503);
    }
  }
}

TEST_CASE(
    "the auth plugin over https: allow and deny with a trusted certificate, 503 and a "
    "logged reason with an untrusted one",
    "[auth][tls]") {
  Certs certs;
  TlsPlugin good(certs, "good");
  TlsPlugin bad(certs, "untrusted");
  {
    Function f(Env{{"auth_routes", "/=plugin"},
                   {"auth_proxy_url", good.url()},
                   {"auth_tls_ca_file", certs.ca},
                   {"auth_proxy_timeout", "5s"}});
    auto ok = f.Call("/x", {{"X-Test-Plugin", "allow"}, {"Authorization", "Bearer tls-t0ken"}});
    CHECK(ok.status == 200);
    CHECK(ok.body.find("Http_X_Auth_Method=plugin") != std::string::npos);
    auto last = Request(good.port(), "GET", "/_last");
    CHECK(last.body.find("[\"Authorization\", \"Bearer tls-t0ken\"]") != std::string::npos);
    auto denied = f.Call("/x", {{"X-Test-Plugin", "deny"}});
    CHECK(denied.status == 403);
    CHECK(denied.body == "denied by plugin\n");
    CHECK(denied.Header("X-Plugin-Reason") == "not-on-the-list");
    // Many calls, one after another and at once, over kept-alive TLS connections.
    for (int i = 0; i < 20; ++i) CHECK(f.Call("/x", {{"X-Test-Plugin", "allow"}}).status == 200);
    std::vector<std::thread> threads;
    std::mutex mutex;
    std::vector<int> statuses;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 5; ++i) {
          const int status = f.Call("/x", {{"X-Test-Plugin", "allow"}}).status;
          std::lock_guard lock(mutex);
          statuses.push_back(status);
        }
      });
    }
    for (auto& t : threads) t.join();
    INFO(f.w->Log());
    CHECK(statuses == std::vector<int>(40, 200));
    CHECK(good.Count() == 62);
  }
  {
    Function f(Env{{"auth_routes", "/=plugin"},
                   {"auth_proxy_url", bad.url()},
                   {"auth_tls_ca_file", certs.ca}});
    auto r = f.Call("/x", {{"X-Test-Plugin", "allow"}, {"Authorization", "Bearer tls-t0ken"}});
    CHECK(r.status == 503);
    CHECK(r.body.find("127.0.0.1") == std::string::npos);
    CHECK(r.body.find("certificate") == std::string::npos);
    CHECK(bad.Count() == 0);
    // The line is written before the answer, but the harness reads the watchdog's stderr on a
    // thread of its own: wait for it rather than race that thread.
    CHECK(f.w->WaitForLog("auth plugin " + bad.url() +
                          ": TLS certificate not trusted: unable to get local issuer certificate"));
    const std::string log = f.w->Log();
    INFO(log);
    CHECK(log.find("tls-t0ken") == std::string::npos);
  }
  // The same untrusted plugin, trusted once its CA is the configured one.
  {
    Function f(Env{{"auth_routes", "/=plugin"},
                   {"auth_proxy_url", bad.url()},
                   {"auth_tls_ca_file", certs.other_ca}});
    CHECK(f.Call("/x", {{"X-Test-Plugin", "allow"}}).status == 200);
  }
  // A file without a certificate stops startup naming the key.
  {
    Function f(Env{{"auth_routes", "/=plugin"},
                   {"auth_proxy_url", good.url()},
                   {"auth_tls_ca_file", certs.Key("good")}},
               false);
    auto code = f.w->WaitExit(10s);
    REQUIRE(code);
    CHECK(*code == 2);
    CHECK(f.w->Log().find("invalid value for auth_tls_ca_file") != std::string::npos);
    CHECK(f.w->Log().find("holds no PEM certificate") != std::string::npos);
  }
}

TEST_CASE(
    "auth_proxy_cache: an admission is remembered for the same credentials until its TTL, "
    "a refusal never",
    "[auth][cache]") {
  const int plugin_port = FreePort();
  Child plugin({"python3", kAuthDir + "/plugin_server.py", std::to_string(plugin_port)});
  REQUIRE(WaitHttp(plugin_port, "/_last"));
  auto count = [&] { return std::stoi(Request(plugin_port, "GET", "/_count").body); };
  const int metrics_port = FreePort();
  Function f(
      Env{{"auth_routes", "/=plugin"},
          {"auth_proxy_url", "http://127.0.0.1:" + std::to_string(plugin_port) + "/validate"},
          {"auth_proxy_cache", "1500ms"},
          {"metrics_port", std::to_string(metrics_port)}});
  const Headers alice = {{"Authorization", "Bearer alice"}};
  CHECK(f.Call("/", alice).status == 200);
  CHECK(count() == 1);
  auto again = f.Call("/", alice);
  CHECK(again.status == 200);
  CHECK(again.body.find("Http_X_Auth_Method=plugin") != std::string::npos);
  CHECK(count() == 1);  // answered from the cache
  // Other credentials, or the same with a cookie added, are other keys.
  CHECK(f.Call("/", {{"Authorization", "Bearer bob"}}).status == 200);
  CHECK(count() == 2);
  CHECK(f.Call("/", {{"Authorization", "Bearer alice"}, {"Cookie", "s=1"}}).status == 200);
  CHECK(count() == 3);
  CHECK(f.Call("/", {{"authorization", "Bearer alicf"}}).status == 200);
  CHECK(count() == 4);
  // No credentials: never cached.
  CHECK(f.Call("/").status == 200);
  CHECK(f.Call("/").status == 200);
  CHECK(count() == 6);
  // A refusal is never cached.
  const Headers mallory = {{"Authorization", "Bearer mallory"}, {"X-Test-Plugin", "deny"}};
  CHECK(f.Call("/", mallory).status == 403);
  CHECK(f.Call("/", mallory).status == 403);
  CHECK(count() == 8);
  // After the TTL the plugin is asked again.
  std::this_thread::sleep_for(1600ms);  // time passes: the cache TTL runs out
  CHECK(f.Call("/", alice).status == 200);
  CHECK(count() == 9);
  auto metrics = Request(metrics_port, "GET", "/metrics").body;
  CHECK(metrics.find("auth_decisions_total{method=\"plugin\",outcome=\"cached\"} 1") !=
        std::string::npos);
  CHECK(f.w->Log().find("alice") == std::string::npos);
}
