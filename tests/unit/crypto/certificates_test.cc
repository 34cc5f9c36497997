#include "crypto/certificates.h"

#include <catch2/catch.hpp>

using hw::crypto::CountPemCertificates;

namespace {
// A self-signed P-256 certificate (openssl req -x509 -newkey ec ... -subj /CN=hw-unit-test).
const std::string kCert = R"(-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIURNnIAC4uiCJXFIZXX7Fl9qrNHAYwCgYIKoZIzj0EAwIw
FzEVMBMGA1UEAwwMaHctdW5pdC10ZXN0MCAXDTI2MTIwNjA4MTYwNloYDzIxMjYx
MTEyMDgxNjA2WjAXMRUwEwYDVQQDDAxody11bml0LXRlc3QwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAASaoPY2WP0cDhThWNhPOYeTYUaB0jXhsXea7ba5jJNKENFr
gxhoF49UgXAmTPOAA44RCk05nO2NWPnMwFeninoTo1MwUTAdBgNVHQ4EFgQUHSuY
TOchOIYRZfMi2vhdViEdNTQwHwYDVR0jBBgwFoAUHSuYTOchOIYRZfMi2vhdViEd
NTQwDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA9/2/hzk37IT8
cAGVLdapLcO9aemLsG9i2o2QtphIh3wCIAG7Nb90WAjokkx5jQGanLbdIETTbe/Q
10pXvny8XWES
-----END CERTIFICATE-----
)";
const std::string kKey =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIEpSnqQFjQHrFWVzF9mVt1FXGBD0DYYtgLSwZmpr0EHj\n"
    "-----END PRIVATE KEY-----\n";
}  // namespace

TEST_CASE("a CA file must hold PEM certificates that parse", "[crypto]") {
  CHECK(CountPemCertificates(kCert).value() == 1);
  CHECK(CountPemCertificates("# bundle\n" + kCert + kCert).value() == 2);
  CHECK(CountPemCertificates(kKey + kCert).value() == 1);  // other blocks are skipped
  CHECK_FALSE(CountPemCertificates(""));
  CHECK_FALSE(CountPemCertificates("not a certificate\n"));
  CHECK_FALSE(CountPemCertificates(kKey));
  auto cut = kCert;
  cut.erase(cut.find("NTQwDwYD"), 20);  // a corrupted body
  auto broken = CountPemCertificates(kCert + cut);
  REQUIRE_FALSE(broken);
  CHECK(broken.error().message == "a certificate in it does not parse");
}
