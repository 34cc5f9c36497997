// The Standard Webhooks construction (also Svix's): webhook-id, webhook-timestamp and a
// space-separated webhook-signature list of "v1,<base64>" entries, HMAC-SHA256 of
// id ‖ "." ‖ ts ‖ "." ‖ body under the base64-decoded "whsec_..." secret.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "signature/hmac_scheme.h"

namespace hw::signature {

class StandardWebhooksScheme final : public HmacScheme {
 public:
  struct HeaderNames {
    std::string id;
    std::string timestamp;
    std::string signature;
  };
  // `names`: the header sets this scheme reads, in order of preference (the first whose
  // signature header is present is used; the first is what Sign sends).
  StandardWebhooksScheme(std::string_view name, std::vector<HeaderNames> names,
                         const config::SignatureOptions& options);
  std::string_view Name() const override { return name_; }
  bool Present(const HeaderSource& headers) const override;
  std::string SignatureHeaderName() const override { return names_.front().signature; }

 protected:
  Parsed Parse(const Request& request) const override;
  std::vector<HeaderLine> SignWith(const PreparedKey& key, const SignInput& input) const override;
  // "whsec_" (optional) followed by strict base64; the decoded bytes are the HMAC key.
  Expected<secrets::Secret> KeyOf(const secrets::Secret& secret) const override;

 private:
  std::string_view name_;
  std::vector<HeaderNames> names_;
};

}  // namespace hw::signature
