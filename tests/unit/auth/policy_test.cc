#include "auth/policy.h"

#include <catch2/catch.hpp>

using hw::auth::Method;
using hw::auth::Policy;

TEST_CASE("auth_routes picks the longest prefix, on segment boundaries", "[auth]") {
  auto p = Policy::Parse("/webhook=hmac; /admin=jwt ;/=basic+plugin;/admin/public/=none");
  REQUIRE(p);
  CHECK(p->Match("/webhook")->prefix == "/webhook");
  CHECK(p->Match("/webhook/github")->prefix == "/webhook");
  CHECK(p->Match("/webhooks")->prefix == "/");
  CHECK(p->Match("/admin")->prefix == "/admin");
  CHECK(p->Match("/administrator")->prefix == "/");
  CHECK(p->Match("/admin/public/x")->methods == std::vector<Method>{Method::kNone});
  CHECK(p->Match("/")->methods == std::vector<Method>{Method::kBasic, Method::kPlugin});
  CHECK(p->Uses(Method::kJwt));
  CHECK(!Policy::Parse("/a=basic")->Match("/b"));
  CHECK(p->Text() == "/webhook=hmac;/admin=jwt;/=basic+plugin;/admin/public/=none");
}

TEST_CASE("the default policy is /=hmac", "[auth]") {
  auto p = Policy::Default();
  CHECK(p.Match("/anything")->methods == std::vector<Method>{Method::kHmac});
  CHECK(!p.Uses(Method::kBasic));
}

TEST_CASE("bad auth_routes rules are errors naming the rule", "[auth]") {
  struct Case {
    const char* text;
    const char* fragment;
  } cases[] = {
      {"admin=jwt", "rule \"admin=jwt\": the prefix must start with '/'"},
      {"/admin", "rule \"/admin\""},
      {"/a=jwt;/b=kerberos", "unknown method \"kerberos\""},
      {"/a=jwt+jwt", "listed twice"},
      {"/a=none+basic", "cannot be combined"},
      {"/a=jwt;/a=basic", "the prefix is given twice"},
      {"/a=", "a method is missing"},
      {" ; ", "expected one or more"},
  };
  for (const auto& c : cases) {
    auto p = Policy::Parse(c.text);
    REQUIRE_FALSE(p);
    INFO(p.error().message);
    CHECK(p.error().message.find(c.fragment) != std::string::npos);
  }
}
