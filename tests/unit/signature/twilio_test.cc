// The twilio scheme beyond its published vectors: the signed string is rebuilt here by hand
// (URL, then the decoded form parameters sorted by name) and signed with OpenSSL's own HMAC(),
// so the scheme's parsing and sorting are checked against an independent construction.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <catch2/catch.hpp>

#include <sstream>

#include "crypto/encoding.h"
#include "signature/commands.h"
#include "signature/verifier.h"
#include "support/signature_support.h"

namespace hw::signature {
namespace {

constexpr std::string_view kToken = "twilio-auth-token";
constexpr std::string_view kPublicUrl = "https://hooks.example.com:8443";

std::string Sign(std::string_view text) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  REQUIRE(HMAC(EVP_sha1(), kToken.data(), static_cast<int>(kToken.size()),
               reinterpret_cast<const unsigned char*>(text.data()), text.size(), mac, &size));
  return crypto::EncodeBase64(crypto::Bytes(mac, mac + size));
}

struct Fixture {
  test::TempDir dir;
  std::unique_ptr<Verifier> verifier;
  Fixture() {
    dir.Write("webhook-secret", std::string(kToken));
    config::SignatureOptions options = test::OptionsFor("twilio", dir);
    options.public_url = std::string(kPublicUrl);
    auto made = Verifier::Create(options, nullptr);
    REQUIRE(made.ok());
    verifier = std::move(made).value();
  }
  Outcome Check(std::string signature, std::string body, std::string path = "/sms",
                std::string query = "", std::string method = "POST") {
    test::Sent sent;
    sent.headers = {{"X-Twilio-Signature", std::move(signature)}};
    sent.body = std::move(body);
    sent.path = std::move(path);
    sent.query = std::move(query);
    sent.method = std::move(method);
    return test::Run(*verifier, sent, 5).outcome;
  }
};

TEST_CASE("twilio: form parameters are decoded and sorted by name, in any order on the wire") {
  Fixture f;
  const std::string signature = Sign(
      "https://hooks.example.com:8443/sms?x=1AccountSidAC1BodyHello World & more!From+15551234");
  CHECK(f.Check(signature, "From=%2B15551234&Body=Hello+World+%26+more%21&AccountSid=AC1", "/sms",
                "x=1") == Outcome::kValid);
  CHECK(f.Check(signature, "AccountSid=AC1&From=%2B15551234&Body=Hello+World+%26+more%21", "/sms",
                "x=1") == Outcome::kValid);
  // One parameter changed, the query changed, the path changed: all mismatches.
  CHECK(f.Check(signature, "AccountSid=AC2&From=%2B15551234&Body=Hello+World+%26+more%21", "/sms",
                "x=1") == Outcome::kMismatch);
  CHECK(f.Check(signature, "AccountSid=AC1&From=%2B15551234&Body=Hello+World+%26+more%21", "/sms",
                "x=2") == Outcome::kMismatch);
  CHECK(f.Check(signature, "AccountSid=AC1&From=%2B15551234&Body=Hello+World+%26+more%21", "/other",
                "x=1") == Outcome::kMismatch);
}

TEST_CASE("twilio: a request without a body signs the URL alone") {
  Fixture f;
  CHECK(f.Check(Sign("https://hooks.example.com:8443/status?CallSid=CA1"), "", "/status",
                "CallSid=CA1", "GET") == Outcome::kValid);
}

TEST_CASE("twilio: bodySHA256 in the URL pins a JSON body") {
  Fixture f;
  const std::string body = R"({"event":"message.received"})";
  const std::string hash = crypto::EncodeHex(crypto::Bytes(32));  // wrong on purpose first
  unsigned char digest[32];
  REQUIRE(EVP_Digest(body.data(), body.size(), digest, nullptr, EVP_sha256(), nullptr) == 1);
  const std::string query = "bodySHA256=" + crypto::EncodeHex(crypto::Bytes(digest, digest + 32));
  const std::string signature = Sign(std::string(kPublicUrl) + "/events?" + query);
  CHECK(f.Check(signature, body, "/events", query) == Outcome::kValid);
  CHECK(f.Check(signature, body + " ", "/events", query) == Outcome::kMismatch);
  const std::string wrong_query = "bodySHA256=" + hash;
  CHECK(f.Check(Sign(std::string(kPublicUrl) + "/events?" + wrong_query), body, "/events",
                wrong_query) == Outcome::kMismatch);
}

TEST_CASE("twilio: broken escapes are malformed, oversized bodies too large, bad headers refused") {
  Fixture f;
  const std::string any = Sign("https://hooks.example.com:8443/sms");
  CHECK(f.Check(any, "Body=%zz") == Outcome::kMalformed);
  CHECK(f.Check(any, "Body=abc%4") == Outcome::kMalformed);
  CHECK(f.Check(any, "Body=x", "/sms", "a=%G1") == Outcome::kMalformed);
  CHECK(f.Check(any, "Body=" + std::string(1024 * 1024 + 1, 'a')) == Outcome::kTooLarge);
  CHECK(f.Check("not base64!", "Body=x") == Outcome::kMalformed);
  CHECK(f.Check(crypto::EncodeBase64(crypto::Bytes(32)), "Body=x") == Outcome::kMalformed);
}

// Issue 10: repeated identical values were signed and checked twice, while twilio-node
// (Array.from(new Set(values)).sort()) and twilio-python (sorted(set(values))) count them once.
TEST_CASE("twilio: repeated identical form values count once, distinct ones all count") {
  Fixture f;
  // As the libraries build it: names sorted, each name's distinct values sorted.
  const std::string deduplicated = Sign("https://hooks.example.com:8443/smsBodyxBodyyFrom1");
  CHECK(f.Check(deduplicated, "Body=x&From=1&Body=x&Body=y&Body=x") == Outcome::kValid);
  CHECK(f.Check(deduplicated, "Body=y&Body=x&From=1&From=1") == Outcome::kValid);
  // The doubled string (what was computed before) is no longer accepted.
  CHECK(f.Check(Sign("https://hooks.example.com:8443/smsBodyxBodyxBodyyFrom1"),
                "Body=x&From=1&Body=x&Body=y") == Outcome::kMismatch);
}

std::string SignCommand(const std::string& secret_file, const std::string& path,
                        const std::string& body, std::string* error = nullptr) {
  SignRequest request;
  request.scheme = "twilio";
  request.secret_file = secret_file;
  request.path = path;
  request.options.public_url = std::string(kPublicUrl);
  std::istringstream in(body);
  std::ostringstream out, err;
  const int code = RunSign(request, in, out, err);
  if (error != nullptr) *error = err.str();
  if (code != 0) return "";
  std::string line = out.str();
  const std::string prefix = "X-Twilio-Signature: ";
  REQUIRE(line.rfind(prefix, 0) == 0);
  return line.substr(prefix.size(), line.size() - prefix.size() - 1);
}

// Issue 10: sign signed a JSON body as if it were a form; validateRequestWithBody expects
// the URL alone (bodySHA256 = hex SHA-256 of the body in the URL's query).
TEST_CASE("twilio: sign produces what Twilio sends, for form and JSON bodies alike") {
  test::TempDir dir;
  const std::string token = dir.Write("token", std::string(kToken) + "\n");
  const std::string json = R"({"event":"message.received"})";
  unsigned char digest[32];
  REQUIRE(EVP_Digest(json.data(), json.size(), digest, nullptr, EVP_sha256(), nullptr) == 1);
  const std::string query = "bodySHA256=" + crypto::EncodeHex(crypto::Bytes(digest, digest + 32));
  CHECK(SignCommand(token, "/events?" + query, json) ==
        Sign(std::string(kPublicUrl) + "/events?" + query));
  CHECK(SignCommand(token, "/sms", "Body=x&From=1&Body=x") ==
        Sign("https://hooks.example.com:8443/smsBodyxFrom1"));
  // A JSON body without bodySHA256, or a bodySHA256 that is not the body's: refused.
  std::string error;
  CHECK(SignCommand(token, "/events", json, &error).empty());
  CHECK_THAT(error, Catch::Contains("bodySHA256"));
  CHECK(SignCommand(token, "/events?bodySHA256=" + std::string(64, '0'), json, &error).empty());
  CHECK_THAT(error, Catch::Contains("not the SHA-256 of the body"));
}

}  // namespace
}  // namespace hw::signature
