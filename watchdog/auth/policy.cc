#include "auth/policy.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "common/strings.h"

namespace hw::auth {
namespace {

Error RuleError(std::string_view rule, std::string_view why) {
  return Error{fmt::format("invalid value for auth_routes: rule \"{}\": {}", rule, why)};
}

}  // namespace

std::string_view MethodName(Method method) {
  switch (method) {
    case Method::kHmac:
      return "hmac";
    case Method::kBasic:
      return "basic";
    case Method::kJwt:
      return "jwt";
    case Method::kPlugin:
      return "plugin";
    case Method::kNone:
      return "none";
  }
  return "?";
}

bool PrefixMatches(std::string_view prefix, std::string_view path) {
  if (path.substr(0, prefix.size()) != prefix) return false;
  if (path.size() == prefix.size() || prefix.back() == '/') return true;
  return path[prefix.size()] == '/';
}

Policy Policy::Default() {
  Policy p;
  p.rules_.push_back(Rule{"/", {Method::kHmac}, "/=hmac"});
  return p;
}

Expected<Policy> Policy::Parse(std::string_view text) {
  Policy p;
  std::string_view rest = text;
  while (true) {
    const auto semi = rest.find(';');
    const std::string_view rule = Trim(rest.substr(0, semi));
    if (!rule.empty()) {
      const auto eq = rule.find('=');
      if (eq == std::string_view::npos) {
        return RuleError(rule, "expected PREFIX=METHOD[+METHOD...], e.g. /admin=jwt");
      }
      const std::string_view prefix = Trim(rule.substr(0, eq));
      if (prefix.empty() || prefix.front() != '/') {
        return RuleError(rule, "the prefix must start with '/'");
      }
      if (prefix.find_first_of(" \t?#") != std::string_view::npos) {
        return RuleError(rule, "the prefix is a decoded path: no spaces, '?' or '#'");
      }
      Rule r{std::string(prefix), {}, std::string(rule)};
      std::string_view methods = rule.substr(eq + 1);
      while (true) {
        const auto plus = methods.find('+');
        std::string name(Trim(methods.substr(0, plus)));
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        Method m;
        if (name == "hmac")
          m = Method::kHmac;
        else if (name == "basic")
          m = Method::kBasic;
        else if (name == "jwt")
          m = Method::kJwt;
        else if (name == "plugin")
          m = Method::kPlugin;
        else if (name == "none")
          m = Method::kNone;
        else if (name.empty())
          return RuleError(rule, "a method is missing");
        else {
          return RuleError(rule, fmt::format("unknown method \"{}\": expected hmac, basic, jwt, "
                                             "plugin or none",
                                             name));
        }
        if (std::find(r.methods.begin(), r.methods.end(), m) != r.methods.end()) {
          return RuleError(rule, fmt::format("method \"{}\" is listed twice", name));
        }
        r.methods.push_back(m);
        if (plus == std::string_view::npos) break;
        methods.remove_prefix(plus + 1);
      }
      if (r.methods.size() > 1 &&
          std::find(r.methods.begin(), r.methods.end(), Method::kNone) != r.methods.end()) {
        return RuleError(rule,
                         "none admits every request and cannot be combined with another "
                         "method");
      }
      for (const auto& other : p.rules_) {
        if (other.prefix == r.prefix) return RuleError(rule, "the prefix is given twice");
      }
      p.rules_.push_back(std::move(r));
    }
    if (semi == std::string_view::npos) break;
    rest.remove_prefix(semi + 1);
  }
  if (p.rules_.empty()) {
    return Error{
        fmt::format("invalid value for auth_routes: \"{}\": expected one or more "
                    "PREFIX=METHOD rules separated by ';', e.g. /webhook=hmac;/=jwt",
                    text)};
  }
  return p;
}

const Rule* Policy::Match(std::string_view path) const {
  const Rule* best = nullptr;
  for (const auto& r : rules_) {
    if (!PrefixMatches(r.prefix, path)) continue;
    if (best == nullptr || r.prefix.size() > best->prefix.size()) best = &r;
  }
  return best;
}

bool Policy::Uses(Method method) const {
  return std::any_of(rules_.begin(), rules_.end(), [method](const Rule& r) {
    return std::find(r.methods.begin(), r.methods.end(), method) != r.methods.end();
  });
}

std::string Policy::Text() const {
  std::string out;
  for (const auto& r : rules_) {
    if (!out.empty()) out += ';';
    out += r.prefix + "=";
    for (std::size_t i = 0; i < r.methods.size(); ++i) {
      if (i > 0) out += '+';
      out += MethodName(r.methods[i]);
    }
  }
  return out;
}

}  // namespace hw::auth
