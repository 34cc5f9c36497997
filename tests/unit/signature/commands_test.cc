// The sign and verify commands, and through them a sign → verify round trip for every
// registered scheme (what a sender produces is what the watchdog accepts).
#include "signature/commands.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>

#include "crypto/ed25519.h"
#include "crypto/encoding.h"
#include "crypto/sha256.h"
#include "signature/verifier.h"
#include "support/signature_support.h"

namespace hw::signature {
namespace {

constexpr std::int64_t kTimestamp = 1767225600;
const std::string kSeed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const std::string kPublic = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

struct Files {
  std::string sign;    // secret file the sender uses
  std::string verify;  // secret file the watchdog uses
};

Files SecretsFor(const std::string& scheme, const test::TempDir& dir) {
  if (scheme == "discord") return {dir.Write("seed", kSeed + "\n"), dir.Write("public", kPublic)};
  if (scheme == "standard-webhooks" || scheme == "svix") {
    const std::string path = dir.Write("whsec", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n");
    return {path, path};
  }
  const std::string path = dir.Write("secret", "round-trip-secret\n");
  return {path, path};
}

config::SignatureOptions OptionsFor(const std::string& scheme) {
  config::SignatureOptions options;
  if (scheme == "generic") {
    options.header = "X-Signature";
    options.algorithm = "sha512";
    options.encoding = "base64";
    options.prefix = "hmac=";
  }
  options.public_url = "https://example.com/hooks/x";
  return options;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_CASE("sign then verify round-trips for every registered scheme") {
  const std::string body = "{\"event\":\"caf\xc3\xa9\",\"n\":1}\n";
  for (std::string_view name : SchemeNames()) {
    const std::string scheme(name);
    INFO("scheme " << scheme);
    test::TempDir dir;
    const Files files = SecretsFor(scheme, dir);

    SignRequest sign;
    sign.scheme = scheme;
    sign.secret_file = files.sign;
    sign.timestamp = kTimestamp;
    sign.id = "delivery-1";
    sign.options = OptionsFor(scheme);
    // Twilio signs a JSON body through the URL: bodySHA256 in the query.
    if (scheme == "twilio") sign.path = "/?bodySHA256=" + crypto::EncodeHex(crypto::Sha256(body));
    std::istringstream body_in(body);
    std::ostringstream out, err;
    REQUIRE(RunSign(sign, body_in, out, err) == 0);
    CHECK(err.str().empty());

    VerifyRequest verify;
    verify.scheme = scheme;
    verify.secret_file = files.verify;
    verify.headers = Lines(out.str());
    verify.now = kTimestamp + 10;
    verify.options = OptionsFor(scheme);
    verify.path = sign.path;
    verify.options.replay_cache = 10;  // the id headers the sender sends must be enough
    REQUIRE_FALSE(verify.headers.empty());
    {
      std::istringstream in(body);
      std::ostringstream vout, verr;
      CHECK(RunVerify(verify, in, vout, verr) == 0);
      CHECK(vout.str() == "valid\n");
      CHECK(verr.str().empty());
    }
    if (scheme != "gitlab") {  // a token does not cover the body
      std::istringstream in(body + " ");
      std::ostringstream vout, verr;
      CHECK(RunVerify(verify, in, vout, verr) == 1);
      CHECK(vout.str() == "mismatch\n");
    }
  }
}

TEST_CASE("verify output never contains the expected signature or the secret") {
  test::TempDir dir;
  const std::string secret = dir.Write("secret", "It's a Secret to Everybody");
  VerifyRequest verify;
  verify.scheme = "github";
  verify.secret_file = secret;
  verify.headers = {"X-Hub-Signature-256: sha256=" + std::string(64, '0')};
  std::istringstream in("Hello, World!");
  std::ostringstream out, err;
  CHECK(RunVerify(verify, in, out, err) == 1);
  CHECK(out.str() == "mismatch\n");
  const std::string all = out.str() + err.str();
  CHECK_THAT(all, !Catch::Contains("757107ea0eb2509fc211221cce984b8a"));
  CHECK_THAT(all, !Catch::Contains("Secret to Everybody"));
}

TEST_CASE("sign prints the published GitHub example") {
  test::TempDir dir;
  SignRequest sign;
  sign.scheme = "github";
  sign.secret_file = dir.Write("s", "It's a Secret to Everybody\n");
  sign.id = "abc";
  std::istringstream in("Hello, World!");
  std::ostringstream out, err;
  REQUIRE(RunSign(sign, in, out, err) == 0);
  CHECK(out.str() ==
        "X-Hub-Signature-256: "
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n"
        "X-GitHub-Delivery: abc\n");
}

TEST_CASE("sign and verify refuse an unknown scheme, a missing secret and a bad header line") {
  test::TempDir dir;
  std::istringstream in("x");
  std::ostringstream out, err;
  SignRequest sign;
  sign.scheme = "nope";
  sign.secret_file = dir.Write("s", "k");
  CHECK(RunSign(sign, in, out, err) == 2);
  CHECK_THAT(err.str(), Catch::Contains("github"));
  sign.scheme = "github";
  sign.secret_file = dir.File("missing");
  CHECK(RunSign(sign, in, out, err) == 1);

  VerifyRequest verify;
  verify.scheme = "github";
  verify.secret_file = dir.File("missing");
  CHECK(RunVerify(verify, in, out, err) == 2);
  verify.secret_file = dir.File("s");
  verify.headers = {"no colon here"};
  CHECK(RunVerify(verify, in, out, err) == 2);
}

TEST_CASE("verify takes the query from the path for schemes that sign the URL") {
  test::TempDir dir;
  const std::string secret = dir.Write("s", "square-key");
  SignRequest sign;
  sign.scheme = "square";
  sign.secret_file = secret;
  sign.options.public_url = "https://example.com/webhooks/square";
  std::istringstream body("{}");
  std::ostringstream out, err;
  REQUIRE(RunSign(sign, body, out, err) == 0);

  VerifyRequest verify;
  verify.scheme = "square";
  verify.secret_file = secret;
  verify.options.public_url = "https://example.com/webhooks/square";
  verify.headers = Lines(out.str());
  std::istringstream in1("{}");
  std::ostringstream o1, e1;
  CHECK(RunVerify(verify, in1, o1, e1) == 0);
  verify.path = "/?a=1";
  std::istringstream in2("{}");
  std::ostringstream o2, e2;
  CHECK(RunVerify(verify, in2, o2, e2) == 1);
}

}  // namespace
}  // namespace hw::signature

namespace hw::signature {
namespace {

// Issue 12: sig=$(hmac-watchdog sign ...) needs the value alone.
TEST_CASE("sign --value prints only the signature header's value, for every scheme") {
  const std::string body = "{\"n\":1}";
  for (std::string_view name : SchemeNames()) {
    const std::string scheme(name);
    INFO("scheme " << scheme);
    test::TempDir dir;
    const Files files = SecretsFor(scheme, dir);
    SignRequest sign;
    sign.scheme = scheme;
    sign.secret_file = files.sign;
    sign.timestamp = kTimestamp;
    sign.id = "delivery-1";
    sign.options = OptionsFor(scheme);
    if (scheme == "twilio") sign.path = "/?bodySHA256=" + crypto::EncodeHex(crypto::Sha256(body));
    std::ostringstream full, value, err;
    {
      std::istringstream in(body);
      REQUIRE(RunSign(sign, in, full, err) == 0);
    }
    sign.value_only = true;
    {
      std::istringstream in(body);
      REQUIRE(RunSign(sign, in, value, err) == 0);
    }
    const std::string v = value.str();
    REQUIRE(v.size() > 1);
    CHECK(v.back() == '\n');
    CHECK(std::count(v.begin(), v.end(), '\n') == 1);
    // The value is one of the full output's lines, after "Name: ", and that name is the
    // scheme's signature header (never the delivery id or timestamp).
    bool found = false;
    for (const std::string& line : Lines(full.str())) {
      const std::size_t colon = line.find(": ");
      if (line.substr(colon + 2) + "\n" == v) {
        found = true;
        const std::string header = line.substr(0, colon);
        CHECK_THAT(header, !Catch::Contains("Delivery") && !Catch::Contains("Timestamp") &&
                               !Catch::Contains("-id") && !Catch::Contains("-Id"));
      }
    }
    CHECK(found);
  }
}

// Issue 10: hmac_algorithm's documented default (sha256) was not in force for generic.
TEST_CASE("generic signs and verifies with the documented defaults (sha256, hex, no prefix)") {
  test::TempDir dir;
  const std::string secret = dir.Write("s", "It's a Secret to Everybody\n");
  SignRequest sign;
  sign.scheme = "generic";
  sign.secret_file = secret;
  sign.header = "X-Sig";
  std::istringstream in("Hello, World!");
  std::ostringstream out, err;
  REQUIRE(RunSign(sign, in, out, err) == 0);
  CHECK(out.str() == "X-Sig: 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n");
  VerifyRequest verify;
  verify.scheme = "generic";
  verify.secret_file = secret;
  verify.options.header = "X-Sig";
  verify.headers = {"X-Sig: 757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"};
  std::istringstream vin("Hello, World!");
  std::ostringstream vout, verr;
  CHECK(RunVerify(verify, vin, vout, verr) == 0);
  CHECK(verr.str().empty());
}

TEST_CASE("sign --timestamp and verify --now outside 1970..9999 are refused") {
  test::TempDir dir;
  SignRequest sign;
  sign.scheme = "stripe";
  sign.secret_file = dir.Write("s", "k");
  sign.timestamp = 18'446'745'870'236'163;
  std::istringstream in("x");
  std::ostringstream out, err;
  CHECK(RunSign(sign, in, out, err) == 2);
  CHECK_THAT(err.str(), Catch::Contains("--timestamp"));
  VerifyRequest verify;
  verify.scheme = "stripe";
  verify.secret_file = sign.secret_file;
  verify.now = 18'446'745'870'236'163;
  std::istringstream vin("x");
  std::ostringstream vout, verr;
  CHECK(RunVerify(verify, vin, vout, verr) == 2);
  CHECK_THAT(verr.str(), Catch::Contains("--now"));
}

}  // namespace
}  // namespace hw::signature
