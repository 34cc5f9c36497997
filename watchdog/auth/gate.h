// The authentication gate the pipeline consults: the auth_routes policy and the methods it
// names (basic, jwt, plugin, none; hmac stays the signature Verifier's), built once at
// startup from the Config and shared read-only by every request thread. The pipeline asks it
// what the request head decides; what needs the body (hmac, plugin with auth_pass_body) is
// left to the pipeline, with the denial to answer if that fails too.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/policy.h"
#include "common/clock.h"
#include "common/expected.h"
#include "config/config.h"
#include "executor/executor.h"

namespace hw::auth {

class BasicAuthenticator;
class KeyStore;
class PluginClient;
struct JwtOptions;
struct PluginAnswer;

// A refusal the watchdog answers. `method`/`outcome` label auth_decisions_total and the
// access log; static storage.
struct Denial {
  int status = 401;
  std::string body;
  std::vector<executor::Header> headers;
  std::string_view method = "-";
  std::string_view outcome = "missing";
  bool presented = false;  // the client sent this method's credential (or the plugin spoke)
};

struct HeadVerdict {
  enum class Kind { kAdmit, kDeny, kContinue } kind = Kind::kDeny;
  std::string_view method = "-";      // kAdmit: the method that admitted
  std::string_view outcome = "-";     // kAdmit: "valid" (or "admitted" for none)
  std::vector<executor::Header> add;  // kAdmit: headers for the function (X-Auth-*)
  std::optional<Denial> denial;       // kDeny; kContinue: the answer if the rest fails
  bool hmac = false;                  // kContinue: the signature check decides
  bool plugin_with_body = false;      // kContinue: the plugin, with the body, decides
};

class Gate {
 public:
  // Parses auth_routes and builds the methods it uses: Error (for exit 2) naming the rule or
  // the missing setting (jwt without jwt_issuer/jwks_url or jwt_audience, plugin without
  // auth_proxy_url, a URL that is not http(s)://, an unreadable auth_tls_ca_file, unreadable
  // basic-auth secret files, auth_proxy_cache with auth_pass_body). `on_ready` runs once
  // the jwt keys are in (at once when jwt is not used).
  static Expected<std::unique_ptr<Gate>> Create(const config::AuthOptions& options,
                                                std::shared_ptr<const Clock> clock,
                                                std::function<void()> on_ready);
  ~Gate();

  const Policy& policy() const { return policy_; }
  bool Ready() const;  // the jwt keys are in (true when jwt is not used)

  // What the head decides under `rule` (a rule of policy()). Thread-safe.
  HeadVerdict Decide(const Rule& rule, std::string_view remote_addr,
                     const std::vector<executor::Header>& headers) const;
  // The plugin with the body (auth_pass_body): kAdmit, or the Denial to answer.
  std::optional<Denial> AskPluginWithBody(const std::vector<executor::Header>& headers,
                                          const std::string& body) const;
  // WWW-Authenticate challenges for the header methods of `rule`.
  std::vector<executor::Header> Challenges(const Rule& rule) const;

  // Headers only the watchdog sets (X-Auth-Subject, X-Auth-Method, X-Auth-Claim-*): a client's
  // copies are removed before any method runs.
  static bool IsReservedHeader(std::string_view name);

 private:
  Gate() = default;
  Policy policy_;
  std::shared_ptr<const Clock> clock_;
  std::unique_ptr<BasicAuthenticator> basic_;
  std::unique_ptr<JwtOptions> jwt_options_;
  std::unique_ptr<KeyStore> keys_;
  std::unique_ptr<PluginClient> plugin_;
};

}  // namespace hw::auth
