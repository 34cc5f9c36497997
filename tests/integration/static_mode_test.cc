// static mode: files under static_path, and nothing outside it.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace hw::test;

TEST_CASE("static mode serves files with their content type and index.html for folders") {
  TempDir tmp;
  tmp.Write("public/index.html", "<h1>home</h1>");
  tmp.Write("public/app.js", "let x = 1;");
  tmp.Write("public/docs/index.html", "docs");
  auto w = Watchdog::Start({{"mode", "static"},
                            {"static_path", tmp.path() + "/public"},
                            {"hmac_scheme", "none"},
                            {"TMPDIR", tmp.path()}});
  auto home = Get(w->port(), "/");
  CHECK(home.status == 200);
  CHECK(home.body == "<h1>home</h1>");
  CHECK(home.Header("Content-Type") == "text/html; charset=utf-8");
  auto js = Get(w->port(), "/app.js");
  CHECK(js.body == "let x = 1;");
  CHECK(js.Header("Content-Type") == "text/javascript; charset=utf-8");
  CHECK(Get(w->port(), "/docs/").body == "docs");
  auto redirect = Get(w->port(), "/docs");
  CHECK(redirect.status == 301);
  CHECK(redirect.Header("Location") == "/docs/");
  CHECK(Get(w->port(), "/missing.txt").status == 404);
  CHECK(Request(w->port(), "POST", "/", {}, "x").status == 405);
  CHECK(Request(w->port(), "HEAD", "/app.js").status == 200);
}

TEST_CASE("static mode refuses traversal, encoded traversal and symlinks out of static_path") {
  TempDir tmp;
  tmp.Write("public/index.html", "ok");
  tmp.Write("secret.txt", "do not serve");
  REQUIRE(::symlink((tmp.path() + "/secret.txt").c_str(),
                    (tmp.path() + "/public/link.txt").c_str()) == 0);
  auto w = Watchdog::Start({{"mode", "static"},
                            {"static_path", tmp.path() + "/public"},
                            {"hmac_scheme", "none"},
                            {"TMPDIR", tmp.path()}});
  for (const char* path :
       {"/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%2e%2e%2fsecret.txt",
        "/docs/../../secret.txt", "/link.txt", "/..\\secret.txt", "//../secret.txt"}) {
    INFO(path);
    auto r = RawRequest(w->port(), std::string("GET ") + path +
                                       " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    CHECK(r.status >= 400);
    CHECK(r.body.find("do not serve") == std::string::npos);
  }
  std::string long_path = "/" + std::string(20000, 'a');
  CHECK(Get(w->port(), long_path).status >= 400);
  CHECK(Get(w->port(), "/").status == 200);
}
