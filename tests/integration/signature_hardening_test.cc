// Regression tests for issue 10 (holes found by testing from outside), through the real
// binary over loopback: timestamps that wrap past 2^64 onto "now", a FIFO as the secret
// file, bytes that are not UTF-8 in JSON log lines, and the sign/verify command lines.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <thread>

#include <sys/wait.h>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

std::string Hex(const unsigned char* data, std::size_t size) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    out += kHex[data[i] >> 4];
    out += kHex[data[i] & 15];
  }
  return out;
}

std::string Base64(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

// HMAC-SHA256 with OpenSSL's own HMAC(), independent of the watchdog's crypto code.
std::string Mac(const std::string& key, const std::string& message) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &size);
  return std::string(reinterpret_cast<const char*>(mac), size);
}

// Unix seconds whose x1000 passes 2^64 and wraps onto the current time (within a second):
// the timestamp issue 10 found "fresh".
std::string WrappingSeconds() {
  const auto now_ms =
      static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  // (2^64 + now_ms) / 1000, rounded up, without leaving 64 bits: 2^64 = 1000 q + r.
  const unsigned long long q = 18'446'744'073'709'551ull, r = 616;
  return std::to_string(q + (r + now_ms + 999) / 1000);
}

struct Started {
  TempDir tmp;
  std::string secrets;
  std::unique_ptr<Watchdog> w;
  Started(const std::string& scheme, const std::string& secret, Env extra = {}) {
    secrets = tmp.path() + "/secrets";
    tmp.Write("secrets/webhook-secret", secret);
    Env env = {{"fprocess", "cat"},
               {"mode", "serializing"},
               {"hmac_scheme", scheme},
               {"secrets_path", secrets},
               {"TMPDIR", tmp.path()}};
    for (auto& [k, v] : extra) env[k] = v;
    w = Watchdog::Start(env);
  }
};

// Runs the binary with `args` (shell words), `stdin_text` on stdin; returns exit code and
// stdout+stderr.
std::pair<int, std::string> RunBinary(const std::string& args, const std::string& stdin_text) {
  TempDir dir;
  const std::string in = dir.Write("in", stdin_text);
  const std::string cmd = std::string(HW_BINARY) + " " + args + " < '" + in + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out};
}

}  // namespace

TEST_CASE("timestamps whose milliseconds wrap past 2^64 onto now are refused over the wire") {
  const std::string body = R"({"id":"evt_1"})";
  SECTION("stripe") {
    Started s("stripe", "whsec_test_secret");
    const std::string ts = WrappingSeconds();
    const std::string v1 = Mac("whsec_test_secret", ts + "." + body);
    auto r = Request(
        s.w->port(), "POST", "/hook",
        {{"Stripe-Signature",
          "t=" + ts + ",v1=" + Hex(reinterpret_cast<const unsigned char*>(v1.data()), v1.size())}},
        body);
    CHECK(r.status == 401);
    CHECK(s.w->WaitForLog("outcome=malformed"));
  }
  SECTION("slack") {
    Started s("slack", "slack-signing-secret");
    const std::string ts = WrappingSeconds();
    const std::string mac = Mac("slack-signing-secret", "v0:" + ts + ":" + body);
    auto r =
        Request(s.w->port(), "POST", "/hook",
                {{"X-Slack-Request-Timestamp", ts},
                 {"X-Slack-Signature",
                  "v0=" + Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size())}},
                body);
    CHECK(r.status == 401);
    CHECK(s.w->WaitForLog("outcome=malformed"));
  }
  SECTION("standard-webhooks") {
    const std::string key = "0123456789abcdef0123456789abcdef";
    Started s("standard-webhooks", "whsec_" + Base64(key));
    const std::string ts = WrappingSeconds();
    const std::string mac = Mac(key, "msg_1." + ts + "." + body);
    auto r = Request(s.w->port(), "POST", "/hook",
                     {{"webhook-id", "msg_1"},
                      {"webhook-timestamp", ts},
                      {"webhook-signature", "v1," + Base64(mac)}},
                     body);
    CHECK(r.status == 401);
    CHECK(s.w->WaitForLog("outcome=malformed"));
    // Control: the same construction at the real time is accepted.
    const std::string now = std::to_string(std::time(nullptr));
    const std::string good = Mac(key, "msg_2." + now + "." + body);
    CHECK(Request(s.w->port(), "POST", "/hook",
                  {{"webhook-id", "msg_2"},
                   {"webhook-timestamp", now},
                   {"webhook-signature", "v1," + Base64(good)}},
                  body)
              .status == 200);
  }
}

TEST_CASE("a secret file replaced by a FIFO: warning, old secret kept, SIGTERM still exits") {
  Started s(
      "github", "s3cret\n",
      {{"hmac_reload_interval", "100ms"}, {"healthcheck_interval", "0"}, {"write_timeout", "2s"}});
  const std::string body = R"({"n":1})";
  const std::string path = s.secrets + "/webhook-secret";
  const Headers headers = Sign("github", path, body);
  REQUIRE(Request(s.w->port(), "POST", "/hook", headers, body).status == 200);

  std::filesystem::remove(path);
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  CHECK(s.w->WaitForLog("is a FIFO, expected a regular file"));
  CHECK(s.w->WaitForLog("keeping the last good secret"));
  // The reload thread is not stuck: the old secret still works, and a restored regular file
  // is picked up again.
  CHECK(Request(s.w->port(), "POST", "/hook", headers, body).status == 200);
  std::filesystem::remove(path);
  s.tmp.Write("secrets/webhook-secret", "s3cret\n");
  CHECK(s.w->WaitForLog("is readable again"));
  std::filesystem::remove(path);
  REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
  std::this_thread::sleep_for(300ms);  // time passes: a few reload passes over the FIFO

  s.w->Signal(SIGTERM);
  const auto exited = s.w->WaitExit(5s);
  REQUIRE(exited.has_value());
  CHECK(*exited == 0);
}

TEST_CASE("a FIFO as the secret file at startup is a startup error naming it") {
  TempDir tmp;
  const std::string secrets = tmp.path() + "/secrets";
  std::filesystem::create_directories(secrets);
  REQUIRE(::mkfifo((secrets + "/webhook-secret").c_str(), 0600) == 0);
  auto w = Watchdog::Start({{"fprocess", "cat"},
                            {"mode", "serializing"},
                            {"hmac_scheme", "github"},
                            {"secrets_path", secrets},
                            {"TMPDIR", tmp.path()}},
                           {}, false);
  const auto code = w->WaitExit(5s);
  REQUIRE(code.has_value());
  CHECK(*code == 2);
  CHECK_THAT(w->Log(), Catch::Contains(secrets + "/webhook-secret"));
  CHECK_THAT(w->Log(), Catch::Contains("FIFO"));
}

TEST_CASE("log_format=json lines stay JSON when path and headers carry bytes that are not UTF-8") {
  TempDir tmp;
  auto w = Watchdog::Start({{"fprocess", "cat"},
                            {"mode", "serializing"},
                            {"hmac_scheme", "none"},
                            {"log_format", "json"},
                            {"healthcheck_interval", "0"},
                            {"TMPDIR", tmp.path()}});
  const std::string raw =
      "POST /p%FF%FE/x HTTP/1.1\r\nHost: localhost\r\n"
      "X-Call-Id: id\xff\xfe\r\nUser-Agent: agent\xfe\xff\r\n"
      "Content-Length: 1\r\nConnection: close\r\n\r\nx";
  const Response r = RawRequest(w->port(), raw);
  CHECK(r.status == 200);
  REQUIRE(w->WaitForLog("\\ufffd"));
  w->Signal(SIGTERM);
  w->WaitExit(15s);
  const std::string log = w->Log();
  // The access log line is there, with the bytes replaced by U+FFFD escapes.
  CHECK_THAT(log, Catch::Contains("\"path\":\"/p\\ufffd\\ufffd/x\""));
  CHECK_THAT(log, Catch::Contains("\"call_id\":\"id\\ufffd\\ufffd\""));
  // Every line parses as JSON under a strict UTF-8 decoder.
  const std::string log_file = tmp.Write("log.txt", log);
  const std::string check =
      "python3 -c 'import json,sys\n"
      "n=0\n"
      "for raw in open(sys.argv[1],\"rb\").read().split(b\"\\n\"):\n"
      "    if raw:\n"
      "        json.loads(raw.decode(\"utf-8\")); n+=1\n"
      "sys.exit(0 if n>=2 else 3)' '" +
      log_file + "'";
  CHECK(std::system(check.c_str()) == 0);
}

TEST_CASE("sign --value and verify --signature-header work from the command line") {
  TempDir tmp;
  const std::string secret = tmp.Write("secret", "It's a Secret to Everybody\n");
  const std::string expected = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
  // generic with only the header set: hmac_algorithm's documented default (sha256) applies.
  auto [sign_code, sign_out] = RunBinary(
      "sign --scheme generic --signature-header X-Sig --value --secret-file '" + secret + "'",
      "Hello, World!");
  CHECK(sign_code == 0);
  CHECK(sign_out == expected + "\n");
  auto [verify_code, verify_out] =
      RunBinary("verify --scheme generic --signature-header X-Sig -H 'X-Sig: " + expected +
                    "' --secret-file '" + secret + "'",
                "Hello, World!");
  CHECK(verify_code == 0);
  CHECK(verify_out == "valid\n");
  auto [github_code, github_out] = RunBinary(
      "sign --scheme github --value --id abc --secret-file '" + secret + "'", "Hello, World!");
  CHECK(github_code == 0);
  CHECK(github_out == "sha256=" + expected + "\n");
}
