// Which authentication methods admit a request on which path: the auth_routes setting parsed
// once at startup into an immutable Policy. "PREFIX=METHOD[+METHOD...]" rules separated by
// ';'; several methods in one rule are alternatives (any one admits); the longest matching
// prefix wins; a path no rule matches is refused.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/expected.h"

namespace hw::auth {

enum class Method { kHmac, kBasic, kJwt, kPlugin, kNone };
// "hmac", "basic", "jwt", "plugin", "none".
std::string_view MethodName(Method method);

struct Rule {
  std::string prefix;           // starts with '/'
  std::vector<Method> methods;  // at least one; "none" only alone
  std::string text;             // the rule as written, for errors and logs
};

class Policy {
 public:
  // The default when auth_routes is unset: "/=hmac".
  static Policy Default();
  // Parses auth_routes. Error naming the rule (as written) and what is wrong: a prefix not
  // starting with '/', an unknown or repeated method, none combined with another, a prefix
  // given twice, an empty list.
  static Expected<Policy> Parse(std::string_view text);

  // The rule of the longest prefix matching `path` (the decoded path), or nullptr. A prefix
  // matches the path equal to it and the paths below it: "/admin" matches "/admin" and
  // "/admin/x" but not "/administrator"; "/" (or any prefix ending in '/') matches everything
  // that starts with it.
  const Rule* Match(std::string_view path) const;
  bool Uses(Method method) const;
  const std::vector<Rule>& rules() const { return rules_; }
  std::string Text() const;  // "/webhook=hmac;/=basic", for the startup log

 private:
  std::vector<Rule> rules_;
};

// True when `path` is under `prefix` as Policy::Match defines it.
bool PrefixMatches(std::string_view prefix, std::string_view path);

}  // namespace hw::auth
