// Malformed and hostile HTTP against the real binary: each gets a clear 4xx or a closed
// connection, the function never sees it, and other clients are unaffected.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <future>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  TempDir tmp;
  std::unique_ptr<Watchdog> w;
  std::string spawns;

  explicit Fixture(Env extra = {}) {
    spawns = tmp.path() + "/spawns";
    Env env = {{"fprocess", ProgramPath("fn") + " count " + spawns},
               {"mode", "serializing"},
               {"hmac_scheme", "none"},
               {"read_timeout", "1s"},
               {"TMPDIR", tmp.path()}};
    for (auto& [k, v] : extra) env[k] = v;
    w = Watchdog::Start(env);
  }
  int SpawnCount() const {
    std::string s = ReadFile(spawns);
    return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
  }
  bool Healthy() const { return Get(w->port(), "/_/health").status == 200; }
};

int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  return fd;
}

// Sends `text` one byte every `gap`, until the server closes the connection or `limit`
// passes. Returns how long the server let it go on.
std::chrono::milliseconds Dribble(int port, const std::string& text, std::chrono::milliseconds gap,
                                  std::chrono::milliseconds limit) {
  int fd = Connect(port);
  auto start = std::chrono::steady_clock::now();
  std::size_t i = 0;
  while (std::chrono::steady_clock::now() - start < limit) {
    char c = text[i++ % text.size()];
    if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) break;
    std::this_thread::sleep_for(gap);  // time passes: one byte per gap is the attack
    char buf[256];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) break;  // closed
    if (n > 0) break;   // answered (e.g. 408)
  }
  ::close(fd);
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                               start);
}

}  // namespace

// cpp-httplib's server percent-decoded header values, so an encoded CR LF became a real line
// break and had to be refused. The parser now keeps the wire bytes: the value reaches the
// function exactly as sent, as with of-watchdog, and can never become a second header.
TEST_CASE("percent-encoded CR LF in a header value reaches the function verbatim, never decoded") {
  TempDir tmp;
  auto w = Watchdog::Start({{"fprocess", ProgramPath("fn") + " env"},
                            {"mode", "serializing"},
                            {"hmac_scheme", "none"},
                            {"TMPDIR", tmp.path()}});
  auto r = Request(w->port(), "POST", "/", {{"X-Test", "a%0D%0AX-Injected: yes"}}, "x");
  CHECK(r.status == 200);
  CHECK_THAT(r.body, Catch::Contains("Http_X_Test=a%0D%0AX-Injected: yes"));
  CHECK_THAT(r.body, !Catch::Contains("Http_X_Injected"));
  auto nul = Request(w->port(), "POST", "/", {{"X-Test", "a%00b"}}, "x");
  CHECK(nul.status == 200);
  CHECK_THAT(nul.body, Catch::Contains("Http_X_Test=a%00b"));
}

TEST_CASE("raw control characters in a header are refused") {
  Fixture f;
  static const char kRaw[] =
      "POST / HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\nContent-Length: 1\r\n\r\nx";
  auto r = RawRequest(f.w->port(), std::string(kRaw, sizeof kRaw - 1));
  CHECK(r.status == 400);
  CHECK(f.SpawnCount() == 0);
}

TEST_CASE("oversized heads are refused: header line, header count, request line, total size") {
  Fixture f;
  auto line = Request(f.w->port(), "POST", "/", {{"X-Big", std::string(100 * 1024, 'a')}}, "x");
  CHECK(line.status >= 400);
  CHECK(line.status < 500);
  Headers many;
  for (int i = 0; i < 1000; ++i) many.emplace_back("X-H" + std::to_string(i), "v");
  auto count = Request(f.w->port(), "POST", "/", many, "x");
  CHECK(count.status >= 400);
  CHECK(count.status < 500);
  auto uri = Request(f.w->port(), "GET", "/" + std::string(20000, 'u'));
  CHECK(uri.status == 414);
  Headers big;
  for (int i = 0; i < 20; ++i) big.emplace_back("X-H" + std::to_string(i), std::string(4000, 'v'));
  auto total = Request(f.w->port(), "POST", "/", big, "x");
  CHECK(total.status == 431);
  CHECK(f.SpawnCount() == 0);
  CHECK(f.Healthy());
}

TEST_CASE("Content-Length with Transfer-Encoding, and two different Content-Lengths, get 400") {
  Fixture f;
  auto both = RawRequest(f.w->port(),
                         "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  CHECK(both.status == 400);
  auto two = RawRequest(
      f.w->port(),
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
  CHECK(two.status == 400);
  CHECK(f.SpawnCount() == 0);
}

TEST_CASE("a huge chunk size is refused before it is read") {
  Fixture f(Env{{"max_body_bytes", "1MiB"}});
  auto r = RawRequest(f.w->port(),
                      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "ffffffffffff\r\nabc");
  CHECK(r.status >= 400);
  CHECK(r.status < 500);
  CHECK(f.SpawnCount() == 0);
  CHECK(f.Healthy());
}

TEST_CASE("a Content-Length longer than the body is cut at read_timeout") {
  Fixture f;
  auto start = std::chrono::steady_clock::now();
  auto r = RawRequest(f.w->port(), "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nshort",
                      10s);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK((r.status == 408 || r.status == 400 || r.status == 0));
  CHECK(f.SpawnCount() == 0);
}

TEST_CASE("a slowloris head is cut at read_timeout while other clients are served") {
  Fixture f;
  auto slow = std::async(std::launch::async, [&] {
    return Dribble(f.w->port(), "POST / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                   200ms, 10s);
  });
  std::this_thread::sleep_for(300ms);  // time passes: the slow head is under way
  for (int i = 0; i < 5; ++i) CHECK(Request(f.w->port(), "POST", "/", {}, "fine").status == 200);
  auto lasted = slow.get();
  CHECK(lasted < 4s);  // read_timeout is 1 s
}

TEST_CASE("a body sent byte by byte is cut at read_timeout") {
  Fixture f;
  auto lasted = Dribble(f.w->port(),
                        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
                        "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
                        "bbbbbbbbbbbbbbbbbbbbbbbbbbbb",
                        200ms, 10s);
  CHECK(lasted < 4s);
  CHECK(f.SpawnCount() == 0);
}

TEST_CASE("an idle connection is closed") {
  Fixture f;
  int fd = Connect(f.w->port());
  auto start = std::chrono::steady_clock::now();
  char buf[16];
  ssize_t n = ::recv(fd, buf, sizeof buf, 0);  // blocks until the server closes
  auto lasted = std::chrono::steady_clock::now() - start;
  ::close(fd);
  CHECK(n <= 0);
  CHECK(lasted < 4s);
}

TEST_CASE("gzip, multipart and large form bodies reach the function byte for byte") {
  TempDir tmp;
  auto w = Watchdog::Start({{"fprocess", "cat"},
                            {"mode", "serializing"},
                            {"hmac_scheme", "none"},
                            {"content_type", "application/octet-stream"},
                            {"TMPDIR", tmp.path()}});
  std::string gzip(
      "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xcb\x48\xcd\xc9\xc9\x07\x00\x86\xa6\x10\x36\x05\x00"
      "\x00\x00",
      25);
  auto g = Request(w->port(), "POST", "/",
                   {{"Content-Encoding", "gzip"}, {"Content-Type", "application/json"}}, gzip);
  CHECK(g.status == 200);
  CHECK(g.body == gzip);
  std::string multipart =
      "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue a\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"f.txt\"\r\n"
      "Content-Type: text/plain\r\n\r\nfile body\r\n--XyZ--\r\n";
  auto m = Request(w->port(), "POST", "/", {{"Content-Type", "multipart/form-data; boundary=XyZ"}},
                   multipart);
  CHECK(m.status == 200);
  CHECK(m.body == multipart);
  std::string form;
  while (form.size() < 20 * 1024) form += "field" + std::to_string(form.size()) + "=value%20x&";
  auto fr = Request(w->port(), "POST", "/", {{"Content-Type", "application/x-www-form-urlencoded"}},
                    form);
  CHECK(fr.status == 200);
  CHECK(fr.body == form);
}

TEST_CASE("the function sees the original Content-Encoding and Content-Type") {
  TempDir tmp;
  auto w = Watchdog::Start({{"fprocess", ProgramPath("fn") + " env"},
                            {"mode", "serializing"},
                            {"hmac_scheme", "none"},
                            {"TMPDIR", tmp.path()}});
  auto r = Request(
      w->port(), "POST", "/",
      {{"Content-Encoding", "gzip"}, {"Content-Type", "multipart/form-data; boundary=q"}}, "x");
  CHECK_THAT(r.body, Catch::Contains("Http_Content_Encoding=gzip\n"));
  CHECK_THAT(r.body, Catch::Contains("Http_Content_Type=multipart/form-data; boundary=q\n"));
}

TEST_CASE("paths with .., encoded slashes and very long paths are handled in every mode") {
  TempDir tmp;
  tmp.Write("public/index.html", "ok");
  int upstream_port = FreePort();
  std::vector<Env> modes = {
      {{"mode", "serializing"}, {"fprocess", ProgramPath("fn") + " env"}},
      {{"mode", "streaming"}, {"fprocess", ProgramPath("fn") + " env"}},
      {{"mode", "http"},
       {"fprocess", ProgramPath("upstream") + " " + std::to_string(upstream_port)},
       {"upstream_url", "http://127.0.0.1:" + std::to_string(upstream_port)}},
      {{"mode", "static"}, {"static_path", tmp.path() + "/public"}},
  };
  for (auto env : modes) {
    INFO(env["mode"]);
    env["hmac_scheme"] = "none";
    env["TMPDIR"] = tmp.path();
    auto w = Watchdog::Start(env);
    long idle_kb = w->VmRssKb();
    for (const std::string& path : std::vector<std::string>{
             "/../../etc/passwd", "/a/%2e%2e/%2e%2e/etc/passwd", "/a%2fb%2f..%2f..%2fetc", "/%00",
             "/" + std::string(15000, 'p')}) {
      INFO(path.substr(0, 40));
      auto r = RawRequest(w->port(),
                          "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      CHECK(r.status != 0);
      CHECK(r.status < 500);
      CHECK(r.body.find("root:") == std::string::npos);
    }
    auto too_long = Get(w->port(), "/" + std::string(20000, 'q'));
    CHECK(too_long.status == 414);
    CHECK(Get(w->port(), "/_/health").status == 200);
    if (kMemoryFiguresMeaningful) CHECK(w->VmRssKb() < idle_kb + 8 * 1024);
  }
}

TEST_CASE("a Content-Length shorter than the body: the rest is not taken as the body") {
  Fixture f;
  auto r = RawRequest(
      f.w->port(),
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGARBAGE-NOT-A-REQUEST\r\n\r\n");
  CHECK(r.status == 200);
  CHECK(r.body == "abc");
  CHECK(f.Healthy());
}

TEST_CASE(
    "framing the parser refuses: raw non-ASCII target, bare LF, TE gzip, obs-fold, space before "
    "colon") {
  Fixture f;
  const std::vector<std::string> refused = {
      "POST /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx",
      "POST / HTTP/1.1\nHost: x\nContent-Length: 1\n\nx",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nx",
      "POST / HTTP/1.1\r\nHost: x\r\nX-Fold: a\r\n b\r\nContent-Length: 1\r\n\r\nx",
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 1\r\n\r\nx",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
      "chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
  };
  for (const auto& raw : refused) {
    INFO(raw);
    auto r = RawRequest(f.w->port(), raw);
    CHECK(r.status == 400);
    CHECK(r.Header("X-OpenFaaS-Internal") == std::optional<std::string>("hmac-watchdog"));
  }
  CHECK(f.SpawnCount() == 0);
  CHECK(f.Healthy());
}

TEST_CASE("methods the watchdog does not serve get 501, other HTTP versions 505") {
  Fixture f;
  for (const char* method : {"TRACE", "CONNECT", "PROPFIND", "MKCOL"}) {
    INFO(method);
    const std::string target = std::string(method) == "CONNECT" ? "x:443" : "/";
    auto r = RawRequest(f.w->port(),
                        std::string(method) + " " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(r.status == 501);
  }
  CHECK(RawRequest(f.w->port(), "GET / HTTP/2.0\r\nHost: x\r\n\r\n").status == 505);
  CHECK(RawRequest(f.w->port(), "GET / HTTP/3.1\r\nHost: x\r\n\r\n").status == 505);
  CHECK(f.SpawnCount() == 0);
  CHECK(f.Healthy());
}
