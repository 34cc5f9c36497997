#include "metrics/registry.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "exposition_parser.h"

namespace hw::metrics {
namespace {

using testing::CheckHistograms;
using testing::ParseExposition;

constexpr int kThreads = 8;

TEST_CASE("histogram buckets are cumulative with inclusive bounds and +Inf equals the count") {
  Registry registry;
  Histogram& histogram = registry.AddHistogramFamily("latency_seconds", "latency", {}, {0.1, 1, 10})
                             .WithLabelValues({});
  for (double value : {0.05, 0.1, 0.5, 1.0, 3.0, 10.0, 11.0}) histogram.Observe(value);

  const auto parsed = ParseExposition(registry.Render());
  REQUIRE(parsed.errors.empty());
  CHECK(CheckHistograms(parsed).empty());
  REQUIRE(parsed.Find("latency_seconds") != nullptr);
  CHECK(parsed.Find("latency_seconds")->type == "histogram");
  CHECK(parsed.Value("latency_seconds_bucket", {{"le", "0.1"}}) == 2.0);  // 0.05, 0.1
  CHECK(parsed.Value("latency_seconds_bucket", {{"le", "1"}}) == 4.0);    // + 0.5, 1
  CHECK(parsed.Value("latency_seconds_bucket", {{"le", "10"}}) == 6.0);   // + 3, 10
  CHECK(parsed.Value("latency_seconds_bucket", {{"le", "+Inf"}}) == 7.0);
  CHECK(parsed.Value("latency_seconds_count") == 7.0);
  CHECK(parsed.Value("latency_seconds_sum").value() == Approx(25.65));
}

TEST_CASE("histogram puts NaN and values above the last bound only in the +Inf bucket") {
  Registry registry;
  Histogram& histogram = registry.AddHistogramFamily("h", "h", {}, {1, 2}).WithLabelValues({});
  histogram.Observe(std::numeric_limits<double>::quiet_NaN());
  histogram.Observe(5);
  const Histogram::Snapshot snapshot = histogram.Read();
  CHECK(snapshot.cumulative_counts == std::vector<std::uint64_t>{0, 0, 2});
  CHECK(snapshot.count == 2);
  CHECK(std::isnan(snapshot.sum));
}

TEST_CASE("a trailing +Inf bound is dropped because the +Inf bucket is implicit") {
  Registry registry;
  registry.AddHistogramFamily("h", "h", {}, {1, std::numeric_limits<double>::infinity()})
      .WithLabelValues({})
      .Observe(0.5);
  const auto parsed = ParseExposition(registry.Render());
  REQUIRE(parsed.errors.empty());
  CHECK(CheckHistograms(parsed).empty());
  CHECK(parsed.Find("h")->samples.size() == 4);  // le=1, le=+Inf, _sum, _count
}

TEST_CASE("histogram label sets each get their own buckets with le added last") {
  Registry registry;
  auto& family = registry.AddHistogramFamily("d", "d", {"code"}, {1});
  family.WithLabelValues({"200"}).Observe(0.5);
  family.WithLabelValues({"500"}).Observe(2);
  const std::string text = registry.Render();
  CHECK(text.find("d_bucket{code=\"200\",le=\"1\"} 1\n") != std::string::npos);
  CHECK(text.find("d_bucket{code=\"500\",le=\"1\"} 0\n") != std::string::npos);
  const auto parsed = ParseExposition(text);
  REQUIRE(parsed.errors.empty());
  CHECK(CheckHistograms(parsed).empty());
  CHECK(parsed.Value("d_count", {{"code", "500"}}) == 1.0);
  CHECK(parsed.Value("d_sum", {{"code", "200"}}) == 0.5);
}

TEST_CASE("counter family keeps one child per label set, sorted by label values") {
  Registry registry;
  auto& family = registry.AddCounterFamily("c_total", "c", {"scheme", "outcome"});
  family.WithLabelValues({"stripe", "valid"}).Inc();
  family.WithLabelValues({"github", "mismatch"}).Inc(2);
  family.WithLabelValues({"stripe", "valid"}).Inc();
  CHECK(&family.WithLabelValues({"stripe", "valid"}) ==
        &family.WithLabelValues({"stripe", "valid"}));

  const auto parsed = ParseExposition(registry.Render());
  REQUIRE(parsed.errors.empty());
  const auto* c = parsed.Find("c_total");
  REQUIRE(c != nullptr);
  CHECK(c->type == "counter");
  REQUIRE(c->samples.size() == 2);
  CHECK(c->samples[0].labels.at("scheme") == "github");
  CHECK(c->samples[0].value == 2);
  CHECK(c->samples[1].labels.at("scheme") == "stripe");
  CHECK(c->samples[1].value == 2);
}

TEST_CASE("a lookup with the wrong number of label values still renders well-formed text") {
  Registry registry;
  auto& family = registry.AddCounterFamily("c_total", "c", {"a", "b"});
  family.WithLabelValues({"x"}).Inc();
  family.WithLabelValues({"x", "", "extra"}).Inc();
  const auto parsed = ParseExposition(registry.Render());
  REQUIRE(parsed.errors.empty());
  CHECK(parsed.Value("c_total", {{"a", "x"}, {"b", ""}}) == 2.0);
}

TEST_CASE("label-less counters and gauges render without braces from the start") {
  Registry registry;
  registry.AddCounter("spawns_total", "spawns");
  Gauge& gauge = registry.AddGauge("in_flight", "in flight");
  gauge.Add(3);
  gauge.Sub(5);
  const std::string text = registry.Render();
  CHECK(text.find("\nspawns_total 0\n") != std::string::npos);
  CHECK(text.find("\nin_flight -2\n") != std::string::npos);
  CHECK(ParseExposition(text).errors.empty());
}

TEST_CASE("collectors run at every scrape and see the current values") {
  Registry registry;
  std::atomic<int> calls{0};
  registry.AddCollector([&calls] {
    const int n = ++calls;
    return std::vector<FamilySnapshot>{FamilySnapshot{
        "scrapes", "scrapes so far", MetricType::kCounter, {Sample{"", {}, std::int64_t{n}}}}};
  });
  CHECK(ParseExposition(registry.Render()).Value("scrapes") == 1.0);
  CHECK(ParseExposition(registry.Render()).Value("scrapes") == 2.0);
}

TEST_CASE("FixedSlots hands every thread the same child for an index") {
  Registry registry;
  auto& family = registry.AddCounterFamily("c_total", "c", {"i"});
  FixedSlots<Counter> slots(4);
  std::atomic<int> lookups{0};
  std::vector<Counter*> seen(kThreads * 4);
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (std::size_t i = 0; i < 4; ++i) {
          Counter& counter = slots.Get(i, [&]() -> Counter& {
            ++lookups;
            return family.WithLabelValues({std::to_string(i)});
          });
          counter.Inc();
          seen[t * 4 + i] = &counter;
        }
      });
    }
  }
  for (int t = 0; t < kThreads; ++t) {
    for (std::size_t i = 0; i < 4; ++i) CHECK(seen[t * 4 + i] == seen[i]);
  }
  CHECK(lookups >= 4);
  const auto parsed = ParseExposition(registry.Render());
  for (int i = 0; i < 4; ++i) {
    CHECK(parsed.Value("c_total", {{"i", std::to_string(i)}}) == double{kThreads});
  }
  // Once filled, a slot never runs its lookup again.
  slots.Get(0, [&]() -> Counter& {
    FAIL("lookup ran for a filled slot");
    return *seen[0];
  });
}

TEST_CASE("label sets that share cache slots each count into their own child, from many threads") {
  Registry registry;
  auto& family = registry.AddCounterFamily("v_total", "v", {"scheme", "outcome"});
  // 300 label sets: more than the cache's slots and than the entries it makes, sharing
  // sizes and first and last letters (the slot's hash) in many ways.
  std::vector<std::pair<std::string, std::string>> sets;
  for (int i = 0; i < 300; ++i) {
    sets.emplace_back("s" + std::string(1, static_cast<char>('a' + i % 3)) + "x",
                      "o" + std::to_string(i) + "k");
  }
  constexpr int kRounds = 40;
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int r = 0; r < kRounds; ++r) {
          for (std::size_t i = 0; i < sets.size(); ++i) {
            const auto& [a, b] = sets[(i * 7 + static_cast<std::size_t>(t)) % sets.size()];
            family.WithLabelValues({a, b}).Inc();
          }
        }
      });
    }
  }
  const auto parsed = ParseExposition(registry.Render());
  REQUIRE(parsed.errors.empty());
  for (const auto& [a, b] : sets) {
    INFO(a << " " << b);
    CHECK(parsed.Value("v_total", {{"scheme", a}, {"outcome", b}}) == double{kThreads} * kRounds);
  }
  // The same values from other storage find the same child.
  std::string scheme = sets[5].first, outcome = sets[5].second;
  CHECK(&family.WithLabelValues({scheme, outcome}) ==
        &family.WithLabelValues({sets[5].first, sets[5].second}));
}

TEST_CASE("updates from eight threads sum exactly while scrapes run") {
  Registry registry;
  Counter& counter = registry.AddCounter("c_total", "c");
  Gauge& gauge = registry.AddGauge("g", "g");
  auto& labelled = registry.AddCounterFamily("l_total", "l", {"k"});
  Histogram& histogram = registry.AddHistogramFamily("h", "h", {}, {0.5}).WithLabelValues({});
  constexpr int kPerThread = 20000;

  std::atomic<bool> done{false};
  std::atomic<int> scrapes{0};
  std::jthread scraper([&] {
    do {  // at least once, however fast the writers are
      const auto parsed = ParseExposition(registry.Render());
      if (!parsed.errors.empty() || !CheckHistograms(parsed).empty()) {
        scrapes = -1'000'000;  // reported below; Catch2 assertions are not thread-safe
        return;
      }
      ++scrapes;
    } while (!done);
  });
  {
    std::vector<std::jthread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        const std::string key = t % 2 == 0 ? "even" : "odd";
        for (int i = 0; i < kPerThread; ++i) {
          counter.Inc();
          gauge.Add(1);
          labelled.WithLabelValues({key}).Inc();
          histogram.Observe(i % 2 == 0 ? 0.25 : 1.0);
          gauge.Sub(1);
        }
      });
    }
  }
  done = true;
  scraper.join();
  CHECK(scrapes >= 1);

  const auto parsed = ParseExposition(registry.Render());
  REQUIRE(parsed.errors.empty());
  CHECK(CheckHistograms(parsed).empty());
  const double total = double{kThreads} * kPerThread;
  CHECK(parsed.Value("c_total") == total);
  CHECK(parsed.Value("g") == 0.0);
  CHECK(parsed.Value("l_total", {{"k", "even"}}) == total / 2);
  CHECK(parsed.Value("l_total", {{"k", "odd"}}) == total / 2);
  CHECK(parsed.Value("h_bucket", {{"le", "0.5"}}) == total / 2);
  CHECK(parsed.Value("h_count") == total);
  CHECK(parsed.Value("h_sum") == total / 2 * 0.25 + total / 2 * 1.0);  // exact in binary
}

}  // namespace
}  // namespace hw::metrics
