// Invariants over random requests, through the real binary: whatever the method, target and
// headers (names with '_', Method/Path/Query, Connection, Upgrade, Expect, % forms, copies of
// the watchdog's own headers), the function runs only for a valid signature or an exact
// allow-list match on the path it receives; its environment holds each Http_* name once with
// the watchdog's values; X-Webhook-Verified reaches it only when the watchdog set it.
// HW_PROPERTY_SEED repeats a run; HW_PROPERTY_REQUESTS sets its length.
#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "harness.h"
#include "raw_client.h"
#include "support/openssl_signature.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

constexpr char kSecret[] = "property-secret";

struct RandomRequest {
  std::string method;
  std::string target;
  Headers headers;
  std::string body;
  bool signed_ok = false;  // carries exactly one, correct, signature header
};

std::string Pick(std::mt19937& rng, const std::vector<std::string>& from) {
  return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
}

RandomRequest Generate(std::mt19937& rng) {
  static const std::vector<std::string> methods = {"GET",     "POST",   "PUT",
                                                   "OPTIONS", "DELETE", "GET"};
  static const std::vector<std::string> targets = {
      "/public", "/%70ublic",  "/%u0070ublic", "/public?x=1", "/hook",        "/public/",
      "/PUBLIC", "/public%2F", "/pub%zzlic",   "/",           "/a/../public", "/public%3Fx"};
  static const std::vector<std::string> names = {"X_Webhook_Verified",
                                                 "X-Webhook-Verified",
                                                 "Method",
                                                 "Path",
                                                 "Query",
                                                 "Connection",
                                                 "Upgrade",
                                                 "Expect",
                                                 "Http-Method",
                                                 "Content_Type",
                                                 "X-Hub-Signature-256",
                                                 "X_Hub_Signature_256",
                                                 "Host",
                                                 "Remote-Addr",
                                                 "Content-Type",
                                                 "X-Custom",
                                                 "x-custom",
                                                 "Accept",
                                                 "Transfer-Encoding",
                                                 "Raw_Path"};
  static const std::vector<std::string> values = {"POST",
                                                  "/hook",
                                                  "action=delete",
                                                  "close",
                                                  "keep-alive",
                                                  "websocket",
                                                  "100-continue",
                                                  "%u0070",
                                                  "X-Hub-Signature-256, X-Webhook-Verified, Host",
                                                  "github",
                                                  "Upgrade",
                                                  "sha256=" + std::string(64, 'a'),
                                                  "gzip",
                                                  "chunked",
                                                  "a%0Db",
                                                  "",
                                                  " spaced "};
  RandomRequest r;
  r.method = Pick(rng, methods);
  r.target = Pick(rng, targets);
  std::uniform_int_distribution<int> count(0, 6);
  for (int i = count(rng); i > 0; --i) r.headers.emplace_back(Pick(rng, names), Pick(rng, values));
  if (std::uniform_int_distribution<int>(0, 2)(rng) > 0) {
    r.body = "{\"n\":" + std::to_string(rng()) + "}";
  }
  switch (std::uniform_int_distribution<int>(0, 2)(rng)) {
    case 0: {
      r.headers.emplace_back("X-Hub-Signature-256", OpenSslGithubSignature(kSecret, r.body));
      break;
    }
    case 1:
      r.headers.emplace_back("X-Hub-Signature-256", OpenSslGithubSignature("wrong", r.body));
      break;
    default:
      break;
  }
  int signatures = 0;
  bool correct = false;
  for (const auto& [k, v] : r.headers) {
    if (strcasecmp(k.c_str(), "X-Hub-Signature-256") == 0) {
      ++signatures;
      correct = correct || v == OpenSslGithubSignature(kSecret, r.body);
    }
  }
  r.signed_ok = signatures == 1 && correct;
  return r;
}

std::string Wire(const RandomRequest& r) {
  std::string raw = r.method + " " + r.target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (const auto& [k, v] : r.headers) {
    if (strcasecmp(k.c_str(), "Transfer-Encoding") == 0 || strcasecmp(k.c_str(), "Host") == 0) {
      continue;  // framing and Host stay the client's own (a second Host is a 400 anyway)
    }
    raw += k + ": " + v + "\r\n";
  }
  raw +=
      "Connection: close\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
  return raw;
}

// The final (non-1xx) response to `raw`.
Response Send(int port, const std::string& raw) {
  RawConnection c(port);
  c.Send(raw);
  auto all = ParseResponses(c.ReadToClose(10s));
  for (auto it = all.rbegin(); it != all.rend(); ++it) {
    if (it->status >= 200) return *it;
  }
  return {};
}

// The path as the allow-list sees it: decoded once (only valid %XX escapes).
std::string DecodedPath(const std::string& target) {
  std::string path = target.substr(0, target.find('?'));
  std::string out;
  for (std::size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '%' && i + 2 < path.size() + 0 && std::isxdigit(path[i + 1]) &&
        std::isxdigit(path[i + 2])) {
      out += static_cast<char>(std::stoi(path.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += path[i];
    }
  }
  return out;
}

std::uint32_t Seed() {
  if (const char* s = std::getenv("HW_PROPERTY_SEED"))
    return static_cast<std::uint32_t>(std::atol(s));
  return std::random_device{}();
}

int Rounds() {
  if (const char* s = std::getenv("HW_PROPERTY_REQUESTS")) return std::atoi(s);
  return kMemoryFiguresMeaningful ? 300 : 120;
}

}  // namespace

TEST_CASE("property: random headers never steer a forked function") {
  TempDir tmp;
  tmp.Write("secrets/webhook-secret", kSecret);
  auto w = Watchdog::Start({{"fprocess", ProgramPath("fn") + " env"},
                            {"mode", "serializing"},
                            {"hmac_scheme", "github"},
                            {"hmac_allow_unsigned", "GET /public"},
                            {"secrets_path", tmp.path() + "/secrets"},
                            {"TMPDIR", tmp.path()}});
  const auto seed = Seed();
  std::mt19937 rng(seed);
  int admitted = 0;
  for (int i = 0; i < Rounds(); ++i) {
    RandomRequest r = Generate(rng);
    const std::string raw = Wire(r);
    INFO("seed " << seed << " request " << i << ":\n" << raw);
    Response got = Send(w->port(), raw);
    REQUIRE(got.status != 0);
    CHECK((got.status < 500 || got.status == 501));  // 501: a WebSocket upgrade
    if (got.status != 200) continue;
    ++admitted;
    const bool allow_listed = r.method == "GET" && DecodedPath(r.target) == "/public";
    CHECK((r.signed_ok || allow_listed));
    std::map<std::string, std::string> env;
    std::istringstream lines(got.body);
    for (std::string line; std::getline(lines, line);) {
      auto eq = line.find('=');
      REQUIRE(eq != std::string::npos);
      auto [it, inserted] = env.emplace(line.substr(0, eq), line.substr(eq + 1));
      CHECK(inserted);  // each Http_* name once
    }
    CHECK(env["Http_Method"] == r.method);
    CHECK(env["Http_Path"] == DecodedPath(r.target));
    if (env.count("Http_X_Webhook_Verified")) CHECK(r.signed_ok);
    if (r.signed_ok && !allow_listed) CHECK(env["Http_X_Webhook_Verified"] == "github");
  }
  INFO("seed " << seed);
  CHECK(admitted > 0);
}

TEST_CASE("property: random headers never steer an http-mode function") {
  TempDir tmp;
  tmp.Write("secrets/webhook-secret", kSecret);
  int up = FreePort();
  auto w = Watchdog::Start({{"mode", "http"},
                            {"fprocess", ProgramPath("upstream") + " " + std::to_string(up)},
                            {"upstream_url", "http://127.0.0.1:" + std::to_string(up)},
                            {"hmac_scheme", "github"},
                            {"hmac_allow_unsigned", "GET /public"},
                            {"secrets_path", tmp.path() + "/secrets"},
                            {"TMPDIR", tmp.path()}});
  const auto seed = Seed();
  std::mt19937 rng(seed);
  int admitted = 0;
  for (int i = 0; i < Rounds(); ++i) {
    RandomRequest r = Generate(rng);
    const std::string raw = Wire(r);
    INFO("seed " << seed << " request " << i << ":\n" << raw);
    Response got = Send(w->port(), raw);
    REQUIRE(got.status != 0);
    if (!got.Header("X-Upstream")) continue;  // the watchdog answered itself
    ++admitted;
    const bool allow_listed = r.method == "GET" && DecodedPath(r.target) == "/public";
    CHECK((r.signed_ok || allow_listed));
    // The upstream echoes "method=...\ntarget=...\n<headers>\n\n<body>".
    std::istringstream lines(got.body.substr(0, got.body.find("\n\n")));
    int verified = 0;
    for (std::string line; std::getline(lines, line);) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      CHECK(name.find('_') == std::string::npos);
      if (strcasecmp(name.c_str(), "X-Webhook-Verified") == 0) ++verified;
    }
    CHECK(verified <= 1);
    if (verified == 1) CHECK(r.signed_ok);
  }
  INFO("seed " << seed);
  CHECK(admitted > 0);
}
