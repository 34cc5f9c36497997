// Secret: holds bytes, moves without copying, compares, and cannot be printed.
#include "secrets/secret.h"

#include <catch2/catch.hpp>

#include <ostream>
#include <type_traits>

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
