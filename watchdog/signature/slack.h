// The signature form Slack introduced and Zoom copied: a "v0=<hex>" header and a Unix
// timestamp header, HMAC-SHA256 of "v0:" ‖ ts ‖ ":" ‖ body.
#pragma once

#include <string>
#include <string_view>

#include "signature/hmac_scheme.h"

namespace hw::signature {

class SlackStyleScheme final : public HmacScheme {
 public:
  SlackStyleScheme(std::string_view name, std::string_view signature_header,
                   std::string_view timestamp_header, const config::SignatureOptions& options);
  std::string_view Name() const override { return name_; }

 protected:
  Parsed Parse(const Request& request) const override;
  std::vector<HeaderLine> SignWith(const PreparedKey& key, const SignInput& input) const override;

 private:
  std::string_view name_;
  std::string timestamp_header_;
};

}  // namespace hw::signature
