// The generic scheme: an HMAC of the body in hmac_header, with the algorithm (hmac_algorithm),
// encoding (hmac_encoding) and value prefix (hmac_prefix) the operator configures: a table row
// made from the options. Hex digits of either case are accepted, since the sender is not known.
#include "signature/table_scheme.h"

namespace hw::signature {

Expected<std::unique_ptr<Scheme>> MakeGeneric(const config::SignatureOptions& options) {
  if (SignatureHeader(options, "generic", "").empty()) {
    return Error{
        "hmac_header is required with hmac_scheme=generic: the header that carries "
        "the signature"};
  }
  const std::optional<crypto::Algorithm> algorithm = crypto::AlgorithmFromName(options.algorithm);
  if (!algorithm || *algorithm == crypto::Algorithm::kMd5) {
    return Error{"hmac_algorithm=\"" + options.algorithm +
                 "\" is not valid with hmac_scheme=generic: expected sha1, sha256 or sha512"};
  }
  Encoding encoding = Encoding::kHex;
  if (options.encoding == "base64") {
    encoding = Encoding::kBase64;
  } else if (!options.encoding.empty() && options.encoding != "hex") {
    return Error{"hmac_encoding=\"" + options.encoding +
                 "\" is not valid with hmac_scheme=generic: expected hex or base64"};
  }
  return MakeTableScheme("generic",
                         {.algorithm = *algorithm,
                          .prefix = options.prefix,
                          .encoding = encoding,
                          .hex_case = crypto::HexCase::kAny},
                         options);
}

}  // namespace hw::signature
