#include "signature/commands.h"

#include <algorithm>
#include <iostream>
#include <iterator>
#include <memory>

#include "common/strings.h"
#include "crypto/encoding.h"
#include "secrets/secret_file.h"
#include "signature/header_list.h"
#include "signature/header_values.h"
#include "signature/registry.h"
#include "signature/scheme.h"
#include "signature/verifier.h"

namespace hw::signature {
namespace {

std::string UnknownScheme(const std::string& name) {
  std::string text = "unknown scheme \"" + name + "\"; valid names:";
  for (std::string_view n : SchemeNames()) text.append(" ").append(n);
  return text;
}

// hmac_header_<key>: the scheme name with '-' written as '_'.
std::string SchemeKey(std::string_view scheme) {
  std::string key(scheme);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

}  // namespace

int RunSign(const SignRequest& request, std::istream& body, std::ostream& out, std::ostream& err) {
  const SchemeEntry* entry = FindScheme(request.scheme);
  if (entry == nullptr) {
    err << UnknownScheme(request.scheme) << "\n";
    return 2;
  }
  if (request.timestamp && (*request.timestamp < 0 || *request.timestamp > kMaxUnixSeconds)) {
    err << "invalid value for --timestamp: expected Unix seconds from 0 to " << kMaxUnixSeconds
        << "\n";
    return 2;
  }
  config::SignatureOptions options = request.options;
  // --header names the one scheme's signature header, whichever scheme it is.
  if (!request.header.empty()) options.scheme_headers[SchemeKey(request.scheme)] = request.header;
  Expected<std::unique_ptr<Scheme>> scheme = entry->make(options);
  if (!scheme) {
    err << scheme.error().message << "\n";
    return 2;
  }
  Expected<secrets::Secret> secret =
      secrets::ReadSecretFile(request.secret_file, options.secret_raw);
  if (!secret) {
    err << secret.error().message << "\n";
    return 1;
  }
  const std::string payload((std::istreambuf_iterator<char>(body)),
                            std::istreambuf_iterator<char>());
  const std::string id =
      request.id.empty() ? "msg_" + crypto::EncodeHex(crypto::RandomBytes(12)) : request.id;
  SignInput input;
  input.body = payload;
  input.timestamp = request.timestamp ? *request.timestamp : SystemClock().NowUnixSeconds();
  input.id = id;
  input.method = request.method;
  std::string_view path = request.path;
  if (const std::size_t mark = path.find('?'); mark != std::string_view::npos) {
    input.query = path.substr(mark + 1);
    path = path.substr(0, mark);
  }
  input.path = path;
  Expected<std::vector<HeaderLine>> lines = (*scheme)->Sign(*secret, input);
  if (!lines) {
    err << lines.error().message << "\n";
    return 1;
  }
  if (request.value_only) {
    const std::string name = (*scheme)->SignatureHeaderName();
    for (const auto& [line_name, value] : *lines) {
      if (IEquals(line_name, name)) {
        out << value << "\n";
        return 0;
      }
    }
    err << "sign --value: the " << request.scheme << " scheme sent no " << name << " header\n";
    return 1;
  }
  for (const auto& [name, value] : *lines) out << name << ": " << value << "\n";
  return 0;
}

int RunVerify(const VerifyRequest& request, std::istream& body, std::ostream& out,
              std::ostream& err) {
  config::SignatureOptions options = request.options;
  options.schemes = {request.scheme};
  options.scheme_secret_names.clear();
  // Checking a recorded request claims nothing: no replay store.
  options.replay_cache = 0;
  options.replay_store.clear();
  // --signature-header (hmac_header) names the one scheme's signature header.
  if (!options.header.empty()) {
    options.scheme_headers[SchemeKey(request.scheme)] = options.header;
    options.header.clear();
  }
  std::shared_ptr<const Clock> clock;
  if (request.now && (*request.now < 0 || *request.now > kMaxUnixSeconds)) {
    err << "invalid value for --now: expected Unix seconds from 0 to " << kMaxUnixSeconds << "\n";
    return 2;
  }
  if (request.now) {
    clock = std::make_shared<FixedClock>(*request.now * 1000);
  } else {
    clock = std::make_shared<SystemClock>();
  }
  Expected<std::unique_ptr<Verifier>> verifier =
      Verifier::CreateWithSecretFile(options, clock, request.secret_file);
  if (!verifier) {
    err << verifier.error().message << "\n";
    return 2;
  }
  HeaderList headers;
  for (const std::string& line : request.headers) {
    if (Status added = headers.AddLine(line); !added) {
      err << added.error().message << "\n";
      return 2;
    }
  }
  std::string_view path = request.path;
  std::string_view query;
  if (const std::size_t mark = path.find('?'); mark != std::string_view::npos) {
    query = path.substr(mark + 1);
    path = path.substr(0, mark);
  }
  const RequestHead head{request.method, path, query, headers};
  CheckPtr check = (*verifier)->Begin(head);
  if (check->NeedsBody()) {
    char buffer[64 * 1024];
    while (body.read(buffer, sizeof(buffer)) || body.gcount() > 0) {
      check->Update(std::string_view(buffer, static_cast<std::size_t>(body.gcount())));
    }
  }
  const Decision decision = check->Finish();
  out << OutcomeName(decision.outcome) << "\n";
  return decision.outcome == Outcome::kValid ? 0 : 1;
}

}  // namespace hw::signature
