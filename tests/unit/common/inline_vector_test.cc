#include "common/inline_vector.h"

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

namespace hw {
namespace {

// Counts live instances, so a test sees every constructed element destroyed exactly once.
struct Counted {
  static int live;
  std::string text = "unset";  // on the heap when long: ASan sees a leak or a double free
  Counted() { ++live; }
  Counted(const Counted& other) : text(other.text) { ++live; }
  Counted(Counted&& other) noexcept : text(std::move(other.text)) { ++live; }
  Counted& operator=(const Counted&) = default;
  Counted& operator=(Counted&&) noexcept = default;
  ~Counted() { --live; }
};
int Counted::live = 0;

std::string Long(int i) {
  return "element number " + std::to_string(i) + " long enough for the heap";
}

std::vector<std::string> Texts(const InlineVector<Counted, 2>& v) {
  std::vector<std::string> out;
  for (const Counted& c : v) out.push_back(c.text);
  return out;
}

std::vector<std::string> Expected(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(Long(i));
  return out;
}

TEST_CASE("inline vector constructs an element only when it is added") {
  Counted::live = 0;
  {
    InlineVector<Counted, 2> empty;
    CHECK(Counted::live == 0);
    CHECK(empty.empty());
    CHECK(empty.begin() == empty.end());
    InlineVector<Counted, 2> value_initialised{};
    CHECK(Counted::live == 0);
  }
  CHECK(Counted::live == 0);
}

TEST_CASE("inline vector keeps its elements in order across the move to the heap") {
  for (int n = 0; n <= 7; ++n) {
    Counted::live = 0;
    {
      InlineVector<Counted, 2> v;
      for (int i = 0; i < n; ++i) {
        Counted& added = v.emplace_back();
        CHECK(added.text == "unset");  // default-initialised
        added.text = Long(i);
      }
      CHECK(v.size() == static_cast<std::size_t>(n));
      CHECK(Texts(v) == Expected(n));
      CHECK(Counted::live == n);
      if (n > 0) CHECK(v.front().text == Long(0));
    }
    CHECK(Counted::live == 0);
  }
}

TEST_CASE("inline vector copies and moves, in place and on the heap") {
  for (int n : {0, 1, 2, 3, 5}) {
    Counted::live = 0;
    {
      InlineVector<Counted, 2> v;
      for (int i = 0; i < n; ++i) v.emplace_back().text = Long(i);

      InlineVector<Counted, 2> copy(v);
      CHECK(Texts(copy) == Expected(n));
      CHECK(Texts(v) == Expected(n));

      InlineVector<Counted, 2> assigned;
      assigned.emplace_back().text = "replaced";
      assigned.emplace_back().text = "replaced too";
      assigned.emplace_back().text = "and on the heap";
      assigned = copy;
      CHECK(Texts(assigned) == Expected(n));

      InlineVector<Counted, 2> moved(std::move(copy));
      CHECK(Texts(moved) == Expected(n));
      CHECK(copy.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
      copy.emplace_back().text = "reused";  // a moved-from vector is usable again
      CHECK(copy.size() == 1);

      InlineVector<Counted, 2> move_assigned;
      move_assigned.emplace_back().text = "replaced";
      move_assigned = std::move(moved);
      CHECK(Texts(move_assigned) == Expected(n));
      CHECK(moved.empty());  // NOLINT(bugprone-use-after-move)

      auto& self = move_assigned;
      move_assigned = self;  // self-assignment keeps the elements
      CHECK(Texts(move_assigned) == Expected(n));
      CHECK(Counted::live == 3 * n + 1);  // v, assigned, move_assigned, and "reused"
    }
    CHECK(Counted::live == 0);
  }
}

// Copies throw once `copies_left` reaches zero.
struct Fragile {
  static int live;
  static int copies_left;
  std::string text = "unset";
  Fragile() { ++live; }
  Fragile(const Fragile& other) : text(other.text) {
    if (copies_left-- <= 0) throw std::runtime_error("copy refused");
    ++live;
  }
  Fragile(Fragile&& other) noexcept : text(std::move(other.text)) { ++live; }
  Fragile& operator=(const Fragile& other) {
    if (copies_left-- <= 0) throw std::runtime_error("copy refused");
    text = other.text;
    return *this;
  }
  Fragile& operator=(Fragile&&) noexcept = default;
  ~Fragile() { --live; }
};
int Fragile::live = 0;
int Fragile::copies_left = 0;
using FragileVector = InlineVector<Fragile, 2>;

TEST_CASE("inline vector: a copy that throws part way leaves nothing behind") {
  for (int n : {1, 2, 3, 5}) {
    for (int fail_at = 0; fail_at < n; ++fail_at) {
      Fragile::live = 0;
      {
        InlineVector<Fragile, 2> v;
        for (int i = 0; i < n; ++i) v.emplace_back().text = Long(i);
        Fragile::copies_left = fail_at;
        CHECK_THROWS_AS(FragileVector{v}, std::runtime_error);
        CHECK(Fragile::live == n);  // the half-made copy destroyed what it had made
        InlineVector<Fragile, 2> target;
        target.emplace_back().text = "old";
        Fragile::copies_left = fail_at;
        CHECK_THROWS_AS(target = v, std::runtime_error);
        CHECK(target.empty());  // assignment that throws leaves the target empty, usable
        CHECK(Fragile::live == n);
        target.emplace_back().text = "again";
        CHECK(target.size() == 1);
        Fragile::copies_left = 1000;
      }
      CHECK(Fragile::live == 0);
    }
  }
}

}  // namespace
}  // namespace hw
