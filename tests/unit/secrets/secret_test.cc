// Secret: holds bytes, moves without copying, compares, and cannot be printed.
#include "secrets/secret.h"

#include <catch2/catch.hpp>

#include <ostream>
#include <type_traits>

#include "support/smaps.h"

namespace hw::secrets {
namespace {

template <typename T>
concept Printable = requires(std::ostream& out, const T& value) {
  out << value;
};

TEST_CASE("a secret cannot be printed, copied or turned into a string implicitly") {
  STATIC_REQUIRE_FALSE(Printable<Secret>);
  STATIC_REQUIRE_FALSE(std::is_copy_constructible_v<Secret>);
  STATIC_REQUIRE_FALSE(std::is_copy_assignable_v<Secret>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<Secret, std::string>);
  STATIC_REQUIRE_FALSE(std::is_convertible_v<Secret, std::string_view>);
  STATIC_REQUIRE(std::is_nothrow_move_constructible_v<Secret>);
}

TEST_CASE("a moved secret keeps its bytes and leaves the source empty") {
  Secret a(std::string_view("s3cr3t"));
  Secret b(std::move(a));
  CHECK(b.size() == 6);
  CHECK(std::string(reinterpret_cast<const char*>(b.Expose().data()), b.size()) == "s3cr3t");
  CHECK(a.empty());  // NOLINT: checking the moved-from state on purpose
  Secret c;
  c = std::move(b);
  CHECK(c.size() == 6);
  CHECK(b.empty());  // NOLINT
}

TEST_CASE("secrets compare by their bytes") {
  const Secret a(std::string_view("one"));
  CHECK(a.SameBytes(Secret(std::string_view("one"))));
  CHECK_FALSE(a.SameBytes(Secret(std::string_view("two"))));
  CHECK_FALSE(a.SameBytes(Secret(std::string_view("one "))));
  CHECK(a.Clone().SameBytes(a));
}

}  // namespace
}  // namespace hw::secrets

namespace hw::secrets {
namespace {

// Issue 10: the secret was in plaintext in a core dump.
TEST_CASE("a secret's bytes live in pages excluded from core dumps") {
  Secret secret(std::string_view("core-dump-secret"));
  const void* bytes = secret.Expose().data();
  const std::string flags = test::VmFlagsOf(bytes);
  INFO("VmFlags:" << flags);
  REQUIRE_FALSE(flags.empty());
  CHECK_THAT(flags, Catch::Contains(" dd "));
  // A moved secret keeps its pages; a clone gets its own, also excluded.
  const Secret moved(std::move(secret));
  CHECK(moved.Expose().data() == bytes);
  const Secret clone = moved.Clone();
  CHECK_THAT(test::VmFlagsOf(clone.Expose().data()), Catch::Contains(" dd "));
  // Control: ordinary heap memory is not marked, so the check can fail.
  const std::string heap(100, 'x');
  CHECK_THAT(test::VmFlagsOf(heap.data()), !Catch::Contains(" dd "));
}

}  // namespace
}  // namespace hw::secrets
