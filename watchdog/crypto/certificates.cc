#include "crypto/certificates.h"

#include <memory>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace hw::crypto {

Expected<std::size_t> CountPemCertificates(std::string_view pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (!bio) return Error{"out of memory"};
  std::size_t count = 0;
  for (;;) {
    std::unique_ptr<X509, decltype(&X509_free)> cert(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), &X509_free);
    if (!cert) break;
    ++count;
  }
  // The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a block that is not a
  // readable certificate.
  const unsigned long err = ERR_peek_last_error();
  const bool clean_end =
      ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE;
  ERR_clear_error();
  if (!clean_end) return Error{"a certificate in it does not parse"};
  if (count == 0) return Error{"it holds no PEM certificate (-----BEGIN CERTIFICATE-----)"};
  return count;
}

}  // namespace hw::crypto
