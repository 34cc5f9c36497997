// X.509 certificates in PEM text (a CA bundle such as auth_tls_ca_file): checked once at
// startup so a wrong file is an error naming it, not a failed handshake hours later.
#pragma once

#include <cstddef>
#include <string_view>

#include "common/expected.h"

namespace hw::crypto {

// The number of certificates in `pem`. Error when a CERTIFICATE block does not parse or there
// is none (text that is not PEM, a private key alone, a DER file).
Expected<std::size_t> CountPemCertificates(std::string_view pem);

}  // namespace hw::crypto
