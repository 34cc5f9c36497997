// HMAC against the published test vectors: RFC 4231 (HMAC-SHA256/512) and RFC 2202
// (HMAC-SHA1/MD5). Test case 5 of both RFCs (truncated output) does not apply: the watchdog
// never truncates a MAC.
#include "crypto/hmac.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <catch2/catch.hpp>

#include <random>

#include <string>
#include <thread>
#include <vector>

#include "crypto/encoding.h"
#include "support/smaps.h"

namespace hw::crypto {
namespace {

struct Vector {
  std::string key;
  std::string data;
  Algorithm algorithm;
  std::string expected_hex;
};

std::string Repeat(char c, std::size_t n) { return std::string(n, c); }
std::string Counting(std::size_t n) {
  std::string s;
  for (std::size_t i = 1; i <= n; ++i) s.push_back(static_cast<char>(i));
  return s;
}

std::string Hex(const Bytes& bytes) { return EncodeHex(bytes); }

HmacKey Key(Algorithm algorithm, std::string_view key) {
  Expected<HmacKey> made = HmacKey::Create(algorithm, AsBytes(key));
  REQUIRE(made.ok());
  return std::move(made).value();
}

const std::string kLongData4231 =
    "This is a test using a larger than block-size key and a larger than block-size data. The "
    "key needs to be hashed before being used by the HMAC algorithm.";

std::vector<Vector> Rfc4231() {
  const auto s256 = Algorithm::kSha256;
  const auto s512 = Algorithm::kSha512;
  return {
      {Repeat('\x0b', 20), "Hi There", s256,
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {Repeat('\x0b', 20), "Hi There", s512,
       "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274e"
       "aea3f4e4be9d914eeb61f1702e696c203a126854"},
      {"Jefe", "what do ya want for nothing?", s256,
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {"Jefe", "what do ya want for nothing?", s512,
       "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65"
       "f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
      {Repeat('\xaa', 20), Repeat('\xdd', 50), s256,
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {Repeat('\xaa', 20), Repeat('\xdd', 50), s512,
       "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a4"
       "7e67c807b946a337bee8942674278859e13292fb"},
      {Counting(25), Repeat('\xcd', 50), s256,
       "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      {Counting(25), Repeat('\xcd', 50), s512,
       "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275c"
       "c5788063a5f19741120c4f2de2adebeb10a298dd"},
      {Repeat('\xaa', 131), "Test Using Larger Than Block-Size Key - Hash Key First", s256,
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {Repeat('\xaa', 131), "Test Using Larger Than Block-Size Key - Hash Key First", s512,
       "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd221"
       "5d6a1e5295e64f73f63f0aec8b915a985d786598"},
      {Repeat('\xaa', 131), kLongData4231, s256,
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
      {Repeat('\xaa', 131), kLongData4231, s512,
       "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55"
       "c3e4de15134676fb6de0446065c97440fa8c6a58"},
  };
}

std::vector<Vector> Rfc2202() {
  const auto sha1 = Algorithm::kSha1;
  const auto md5 = Algorithm::kMd5;
  const std::string big_key_first = "Test Using Larger Than Block-Size Key - Hash Key First";
  const std::string big_both =
      "Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data";
  return {
      {Repeat('\x0b', 20), "Hi There", sha1, "b617318655057264e28bc0b6fb378c8ef146be00"},
      {"Jefe", "what do ya want for nothing?", sha1, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
      {Repeat('\xaa', 20), Repeat('\xdd', 50), sha1, "125d7342b9ac11cd91a39af48aa17b4f63f175d3"},
      {Counting(25), Repeat('\xcd', 50), sha1, "4c9007f4026250c6bc8414f9bf50c86c2d7235da"},
      {Repeat('\xaa', 80), big_key_first, sha1, "aa4ae5e15272d00e95705637ce8a3b55ed402112"},
      {Repeat('\xaa', 80), big_both, sha1, "e8e99d0f45237d786d6bbaa7965c7808bbff1a91"},
      {Repeat('\x0b', 16), "Hi There", md5, "9294727a3638bb1c13f48ef8158bfc9d"},
      {"Jefe", "what do ya want for nothing?", md5, "750c783e6ab0b503eaa86e310a5db738"},
      {Repeat('\xaa', 16), Repeat('\xdd', 50), md5, "56be34521d144c88dbb8c733f0e8b3f6"},
      {Counting(25), Repeat('\xcd', 50), md5, "697eaf0aca3a3aea3a75164746ffaa79"},
      {Repeat('\xaa', 80), big_key_first, md5, "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"},
      {Repeat('\xaa', 80), big_both, md5, "6f630fad67cda0ee1fb1f562db3aa53e"},
  };
}

TEST_CASE("HMAC-SHA256 and HMAC-SHA512 match every RFC 4231 test vector") {
  for (const Vector& v : Rfc4231()) {
    INFO(AlgorithmName(v.algorithm) << " expecting " << v.expected_hex);
    CHECK(Hex(Key(v.algorithm, v.key).Compute(v.data)) == v.expected_hex);
  }
}

TEST_CASE("HMAC-SHA1 and HMAC-MD5 match every RFC 2202 test vector") {
  for (const Vector& v : Rfc2202()) {
    INFO(AlgorithmName(v.algorithm) << " expecting " << v.expected_hex);
    CHECK(Hex(Key(v.algorithm, v.key).Compute(v.data)) == v.expected_hex);
  }
}

TEST_CASE("a message fed in chunks has the same MAC as the message fed at once") {
  const HmacKey key = Key(Algorithm::kSha256, "Jefe");
  const std::string message = "what do ya want for nothing?";
  for (std::size_t chunk = 1; chunk <= message.size(); ++chunk) {
    Hmac hmac = key.Start();
    for (std::size_t at = 0; at < message.size(); at += chunk) {
      hmac.Update(std::string_view(message).substr(at, chunk));
    }
    CHECK(Hex(hmac.Final()) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  }
}

TEST_CASE("messages started from one pre-keyed context do not disturb each other") {
  const HmacKey key = Key(Algorithm::kSha256, "Jefe");
  Hmac first = key.Start();
  Hmac second = key.Start();
  first.Update("what do ya want ");
  second.Update("something else entirely");
  first.Update("for nothing?");
  CHECK(Hex(first.Final()) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(Hex(second.Final()) != Hex(key.Compute("what do ya want for nothing?")));
  // The key itself is untouched by the messages: it still computes the vector.
  CHECK(Hex(key.Compute("what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("many threads can start messages from one shared key at the same time") {
  const HmacKey key = Key(Algorithm::kSha256, "Jefe");
  std::vector<std::thread> threads;
  std::vector<int> correct(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&key, &correct, t] {
      for (int i = 0; i < 200; ++i) {
        if (EncodeHex(key.Compute("what do ya want for nothing?")) ==
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843") {
          ++correct[t];
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (int c : correct) CHECK(c == 200);
}

// The HMAC is built on OpenSSL's digest functions (hmac.cc); OpenSSL's own HMAC, through EVP,
// must agree on every key length around the block sizes and on messages fed in random chunks.
TEST_CASE("the MAC equals OpenSSL's EVP HMAC for random keys, lengths and chunkings") {
  std::mt19937 rng(20261129);
  auto random_text = [&rng](std::size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng() & 0xff);
    return s;
  };
  const std::pair<Algorithm, const EVP_MD*> algorithms[] = {
      {Algorithm::kMd5, EVP_md5()},
      {Algorithm::kSha1, EVP_sha1()},
      {Algorithm::kSha256, EVP_sha256()},
      {Algorithm::kSha512, EVP_sha512()},
  };
  for (const auto& [algorithm, md] : algorithms) {
    for (std::size_t key_size : {1, 20, 63, 64, 65, 127, 128, 129, 300}) {
      const std::string key_bytes = random_text(key_size);
      const HmacKey key = Key(algorithm, key_bytes);
      for (std::size_t message_size : {0, 1, 55, 56, 64, 111, 112, 128, 1000, 70000}) {
        const std::string message = random_text(message_size);
        unsigned char expected[EVP_MAX_MD_SIZE];
        unsigned int expected_size = 0;
        REQUIRE(HMAC(md, key_bytes.data(), static_cast<int>(key_bytes.size()),
                     reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                     expected, &expected_size) != nullptr);
        Hmac hmac = key.Start();
        for (std::size_t at = 0; at < message.size();) {
          const std::size_t chunk = std::min<std::size_t>(message.size() - at, 1 + rng() % 200);
          hmac.Update(std::string_view(message).substr(at, chunk));
          at += chunk;
        }
        INFO(AlgorithmName(algorithm) << " key " << key_size << " message " << message_size);
        CHECK(Hex(hmac.Final()) == Hex(Bytes(expected, expected + expected_size)));
      }
    }
  }
}

TEST_CASE("a MAC is final: a second Final, or Update after it, gives nothing") {
  const HmacKey key = Key(Algorithm::kSha256, "Jefe");
  Hmac hmac = key.Start();
  hmac.Update("what do ya want for nothing?");
  CHECK(hmac.Final().size() == 32);
  hmac.Update("more");
  CHECK(hmac.Final().empty());
  Hmac moved_from = key.Start();
  Hmac taken = std::move(moved_from);
  taken.Update("what do ya want for nothing?");
  CHECK(Hex(taken.Final()) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("an empty HMAC key is refused") {
  CHECK_FALSE(HmacKey::Create(Algorithm::kSha256, {}).ok());
}

TEST_CASE("algorithm names round-trip and unknown names are refused") {
  for (Algorithm a : {Algorithm::kMd5, Algorithm::kSha1, Algorithm::kSha256, Algorithm::kSha512}) {
    CHECK(AlgorithmFromName(AlgorithmName(a)) == a);
  }
  CHECK_FALSE(AlgorithmFromName("SHA256").has_value());
  CHECK_FALSE(AlgorithmFromName("sha384").has_value());
  CHECK(DigestSize(Algorithm::kSha512) == 64);
  CHECK(DigestSize(Algorithm::kMd5) == 16);
}

}  // namespace
}  // namespace hw::crypto

namespace hw::crypto {
namespace {

// Issue 10: the pre-keyed states are key material (anyone holding them can sign), so they
// are kept out of core dumps like the secret itself.
TEST_CASE("an HMAC key's pre-keyed states live in pages excluded from core dumps") {
  const std::string key = "states-are-key-material";
  auto made = HmacKey::Create(Algorithm::kSha256, AsBytes(key));
  REQUIRE(made.ok());
  const HmacKey hmac_key = std::move(made).value();
  REQUIRE(hmac_key.StatesAddress() != nullptr);
  CHECK_THAT(test::VmFlagsOf(hmac_key.StatesAddress()), Catch::Contains(" dd "));
  // Still the right MAC after the move into its own pages (RFC 4231 is checked above).
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>("m"), 1, mac, &size);
  CHECK(hmac_key.Compute("m") == Bytes(mac, mac + size));
}

TEST_CASE("a SecureBuffer is zeroed, page-backed, marked dd and empty for size 0") {
  SecureBuffer empty(0);
  CHECK(empty.data() == nullptr);
  SecureBuffer buffer(10);
  REQUIRE(buffer.data() != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(buffer.data()) % 4096 == 0);
  for (std::size_t i = 0; i < buffer.size(); ++i) CHECK(buffer.data()[i] == 0);
  CHECK_THAT(test::VmFlagsOf(buffer.data()), Catch::Contains(" dd "));
  SecureBuffer moved(std::move(buffer));
  CHECK(buffer.data() == nullptr);
  CHECK(moved.size() == 10);
}

}  // namespace
}  // namespace hw::crypto
