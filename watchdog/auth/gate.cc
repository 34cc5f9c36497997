#include "auth/gate.h"

#include <algorithm>

#include <fmt/format.h>

#include "auth/basic.h"
#include "auth/credentials.h"
#include "auth/http_client.h"
#include "auth/jwks.h"
#include "auth/jwt.h"
#include "auth/plugin.h"
#include "common/strings.h"
#include "logging/log.h"

namespace hw::auth {
namespace {

constexpr std::string_view kRealm = "hmac-watchdog";
constexpr std::chrono::milliseconds kUnknownKidWait{3000};

bool Has(const Rule& rule, Method m) {
  return std::find(rule.methods.begin(), rule.methods.end(), m) != rule.methods.end();
}

std::vector<std::string_view> Authorizations(const std::vector<executor::Header>& headers) {
  std::vector<std::string_view> out;
  for (const auto& h : headers) {
    if (IEquals(h.name, "Authorization")) out.push_back(h.value);
  }
  return out;
}

Denial Unauthorized(std::string_view method, std::string_view outcome, bool presented,
                    std::string body, std::vector<executor::Header> headers = {}) {
  return Denial{401, std::move(body), std::move(headers), method, outcome, presented};
}

// The refusal for a plugin answer that did not admit.
Denial FromPlugin(PluginAnswer a) {
  if (a.kind == PluginAnswer::Kind::kDeny) {
    return Denial{a.status, std::move(a.body), std::move(a.headers), "plugin", "denied", true};
  }
  return Denial{503,
                "Service Unavailable: the authentication service did not answer\n",
                {{"Retry-After", "1"}},
                "plugin",
                "unavailable",
                true};
}

std::string BasicChallenge() {
  return fmt::format("Basic realm=\"{}\", charset=\"UTF-8\"", kRealm);
}

}  // namespace

Gate::~Gate() = default;

bool Gate::IsReservedHeader(std::string_view name) {
  return name.size() >= 7 && IEquals(name.substr(0, 7), "X-Auth-");
}

Expected<std::unique_ptr<Gate>> Gate::Create(const config::AuthOptions& options,
                                             std::shared_ptr<const Clock> clock,
                                             std::function<void()> on_ready) {
  std::unique_ptr<Gate> gate(new Gate());
  const config::AuthOptions& a = options;
  if (a.routes.empty()) {
    gate->policy_ = Policy::Default();
  } else {
    auto p = Policy::Parse(a.routes);
    if (!p) return p.error();
    gate->policy_ = std::move(*p);
  }
  gate->clock_ = clock;
  const Policy& policy = gate->policy_;
  if (policy.Uses(Method::kBasic)) {
    auto basic = BasicAuthenticator::Create(a, clock);
    if (!basic) return basic.error();
    gate->basic_ = std::move(*basic);
  }
  // One client for every outbound call (plugin, discovery, JWKS): it keeps connections alive
  // per origin and holds the TLS trust. auth_tls_ca_file is checked whenever it is set.
  auto trust = LoadTlsTrust("auth_tls_ca_file", a.tls_ca_file);
  if (!trust) return trust.error();
  auto http = std::make_shared<const HttpClient>(std::move(*trust));
  if (policy.Uses(Method::kPlugin)) {
    if (a.proxy_url.empty()) {
      return Error{
          "auth_proxy_url is not set: auth_routes uses plugin (e.g. "
          "auth_proxy_url=http://basic-auth-plugin:8080/validate)"};
    }
    if (auto s = CheckUrl("auth_proxy_url", a.proxy_url); !s) return s.error();
    if (a.proxy_cache.count() > 0 && a.pass_body) {
      return Error{
          "auth_proxy_cache is set with auth_pass_body=true: the plugin may decide on "
          "the body, which the cache key does not cover (set auth_proxy_cache=0)"};
    }
    if (a.proxy_cache.count() > 0 && a.proxy_cache_headers.empty()) {
      return Error{
          "auth_proxy_cache_headers is empty: auth_proxy_cache needs the headers that "
          "carry the credentials (default Authorization,Cookie)"};
    }
    PluginOptions po;
    po.url = a.proxy_url;
    po.pass_body = a.pass_body;
    po.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(a.proxy_timeout);
    po.cache_ttl = std::chrono::duration_cast<std::chrono::milliseconds>(a.proxy_cache);
    po.cache_entries = a.proxy_cache_entries;
    po.cache_headers = a.proxy_cache_headers;
    gate->plugin_ = std::make_unique<PluginClient>(std::move(po), http);
  }
  bool jwt = policy.Uses(Method::kJwt);
  if (jwt) {
    if (a.jwt_issuer.empty() && a.jwks_url.empty()) {
      return Error{
          "jwt_issuer is not set: auth_routes uses jwt (set jwt_issuer to the OIDC "
          "issuer URL, or jwks_url)"};
    }
    if (a.jwt_audience.empty()) {
      return Error{
          "jwt_audience is not set: auth_routes uses jwt, and a token must be meant "
          "for this function (its aud)"};
    }
    if (!a.jwks_url.empty()) {
      if (auto s = CheckUrl("jwks_url", a.jwks_url); !s) return s.error();
    } else if (auto s = CheckUrl("jwt_issuer", a.jwt_issuer); !s) {
      return s.error();
    }
    auto jo = std::make_unique<JwtOptions>();
    jo->issuer = a.jwt_issuer;
    jo->audience = a.jwt_audience;
    jo->leeway = std::chrono::duration_cast<std::chrono::seconds>(a.jwt_leeway);
    jo->required_scopes = a.jwt_required_scopes;
    jo->forward_claims = a.jwt_forward_claims;
    gate->jwt_options_ = std::move(jo);
    KeyStore::Options ko;
    ko.issuer = a.jwt_issuer;
    ko.jwks_url = a.jwks_url;
    ko.refresh_interval = a.jwks_refresh_interval;
    ko.on_ready = on_ready;
    const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(a.proxy_timeout);
    gate->keys_ = std::make_unique<KeyStore>(
        std::move(ko), [timeout, http](const std::string& url) -> Expected<std::string> {
          auto r = http->Get(url, {{"Accept", "application/json"}}, "", timeout);
          if (!r) return r.error();
          if (r->status != 200) return Error{fmt::format("status {}", r->status)};
          return std::move(r->body);
        });
  } else if (on_ready) {
    on_ready();
  }
  return gate;
}

bool Gate::Ready() const { return !keys_ || keys_->Ready(); }

std::vector<executor::Header> Gate::Challenges(const Rule& rule) const {
  std::vector<executor::Header> out;
  if (Has(rule, Method::kBasic)) out.push_back({"WWW-Authenticate", BasicChallenge()});
  if (Has(rule, Method::kJwt)) {
    out.push_back({"WWW-Authenticate", fmt::format("Bearer realm=\"{}\"", kRealm)});
  }
  return out;
}

HeadVerdict Gate::Decide(const Rule& rule, std::string_view remote_addr,
                         const std::vector<executor::Header>& headers) const {
  HeadVerdict v;
  const auto authorizations = Authorizations(headers);
  std::optional<Denial> best;  // first presented denial, else first denial
  auto consider = [&best](Denial d) {
    if (!best || (d.presented && !best->presented)) best = std::move(d);
  };
  auto admit = [&v](std::string_view method, std::string_view outcome) {
    v.kind = HeadVerdict::Kind::kAdmit;
    v.method = method;
    v.outcome = outcome;
    v.add.push_back({"X-Auth-Method", std::string(method)});
    return v;
  };
  for (Method m : rule.methods) {
    switch (m) {
      case Method::kNone:
        return admit("none", "admitted");
      case Method::kHmac:
        v.hmac = true;
        break;
      case Method::kBasic: {
        const std::int64_t wait = basic_->RetryAfter(remote_addr);
        if (wait > 0) {
          consider(Denial{429,
                          "Too Many Requests: too many failed basic auth attempts\n",
                          {{"Retry-After", std::to_string(wait)}},
                          "basic",
                          "limited",
                          true});
          break;
        }
        std::optional<BasicCredentials> creds;
        bool presented = false;
        for (auto value : authorizations) {
          if (AuthorizationScheme(value) != "basic") continue;
          presented = true;
          creds = ParseBasic(value);
          break;
        }
        auto challenge = std::vector<executor::Header>{{"WWW-Authenticate", BasicChallenge()}};
        if (!presented) {
          consider(Unauthorized("basic", "missing", false, "Unauthorized\n", challenge));
          break;
        }
        if (!creds) {
          basic_->CountFailure(remote_addr);
          consider(Unauthorized("basic", "malformed", true, "Unauthorized\n", challenge));
          break;
        }
        std::int64_t retry = 0;
        auto r = basic_->Check(creds->user, creds->password, remote_addr, retry);
        if (r == BasicAuthenticator::Result::kValid) {
          admit("basic", "valid");
          v.add.push_back({"X-Auth-Subject", creds->user});
          return v;
        }
        if (r == BasicAuthenticator::Result::kLimited) {
          consider(Denial{429,
                          "Too Many Requests: too many failed basic auth attempts\n",
                          {{"Retry-After", std::to_string(retry)}},
                          "basic",
                          "limited",
                          true});
        } else {
          consider(Unauthorized("basic", "mismatch", true, "Unauthorized\n", challenge));
        }
        break;
      }
      case Method::kJwt: {
        std::optional<std::string_view> token;
        bool presented = false;
        for (auto value : authorizations) {
          if (AuthorizationScheme(value) != "bearer") continue;
          presented = true;
          token = ParseBearer(value);
          break;
        }
        const std::string plain = fmt::format("Bearer realm=\"{}\"", kRealm);
        if (!presented) {
          consider(Unauthorized("jwt", "missing", false, "Unauthorized\n",
                                {{"WWW-Authenticate", plain}}));
          break;
        }
        const std::string invalid =
            fmt::format("Bearer realm=\"{}\", error=\"invalid_token\"", kRealm);
        if (!token) {
          consider(Unauthorized("jwt", "malformed", true, "Unauthorized\n",
                                {{"WWW-Authenticate", invalid}}));
          break;
        }
        auto keys = keys_->Keys();
        if (keys->empty()) {
          consider(Denial{503,
                          "Service Unavailable: the token issuer's keys are not loaded yet\n",
                          {{"Retry-After", "1"}},
                          "jwt",
                          "unavailable",
                          true});
          break;
        }
        const std::int64_t now = clock_->NowUnixSeconds();
        JwtResult r = VerifyJwt(*token, *keys, *jwt_options_, now);
        if (r.outcome == JwtOutcome::kUnknownKey) {
          keys = keys_->RefreshForUnknownKid(kUnknownKidWait);
          r = VerifyJwt(*token, *keys, *jwt_options_, now);
        }
        if (r.outcome == JwtOutcome::kValid) {
          admit("jwt", "valid");
          if (!r.subject.empty()) v.add.push_back({"X-Auth-Subject", r.subject});
          for (auto& [name, value] : r.claims) {
            v.add.push_back({"X-Auth-Claim-" + name, std::move(value)});
          }
          return v;
        }
        if (r.outcome == JwtOutcome::kInsufficientScope) {
          consider(
              Denial{403,
                     "Forbidden: the token lacks a required scope\n",
                     {{"WWW-Authenticate",
                       fmt::format("Bearer realm=\"{}\", error=\"insufficient_scope\"", kRealm)}},
                     "jwt",
                     "insufficient_scope",
                     true});
        } else {
          consider(Unauthorized("jwt", JwtOutcomeName(r.outcome), true, "Unauthorized\n",
                                {{"WWW-Authenticate", invalid}}));
        }
        break;
      }
      case Method::kPlugin: {
        if (plugin_->pass_body()) {
          v.plugin_with_body = true;
          break;
        }
        PluginAnswer answer = plugin_->Ask(headers, "");
        if (answer.kind == PluginAnswer::Kind::kAdmit) {
          return admit("plugin", answer.cached ? "cached" : "valid");
        }
        consider(FromPlugin(std::move(answer)));
        break;
      }
    }
  }
  v.denial = std::move(best);
  if (v.hmac || v.plugin_with_body) {
    v.kind = HeadVerdict::Kind::kContinue;
  } else {
    v.kind = HeadVerdict::Kind::kDeny;
    // Nothing presented: one 401 carrying every challenge of the rule.
    if (v.denial && !v.denial->presented) v.denial->headers = Challenges(rule);
  }
  return v;
}

std::optional<Denial> Gate::AskPluginWithBody(const std::vector<executor::Header>& headers,
                                              const std::string& body) const {
  PluginAnswer a = plugin_->Ask(headers, body);
  if (a.kind == PluginAnswer::Kind::kAdmit) return std::nullopt;
  return FromPlugin(std::move(a));
}

}  // namespace hw::auth
