// A small Prometheus registry: counters, gauges and histograms (alone or in families keyed by
// label values), callback collectors evaluated at scrape time, and the Registry that owns them
// all and collects them into FamilySnapshots for exposition.h.
//
// Thread-safety: every operation on every type here may be called from any number of threads.
// Updating a Counter, Gauge or Histogram is a few relaxed atomic operations. Looking up a child
// by label values takes the family's mutex for one map lookup (and one allocation the first
// time a label set is seen), unless the family's cache of label sets seen before has it;
// FixedSlots makes repeated lookups over a bounded label space lock-free. No mutex is held while
// another metric is collected or a callback runs.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/exposition.h"

namespace hw::metrics {

// A monotonically increasing integer.
class Counter {
 public:
  static constexpr MetricType kType = MetricType::kCounter;

  void Inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t Value() const noexcept { return value_.load(std::memory_order_relaxed); }

  // Appends this counter's one sample, labelled with `labels`.
  void AppendSamples(const std::vector<Label>& labels, std::vector<Sample>& out) const;

 private:
  std::atomic<std::uint64_t> value_{0};
};

// An integer that goes up and down.
class Gauge {
 public:
  static constexpr MetricType kType = MetricType::kGauge;

  void Add(std::int64_t n) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  void Sub(std::int64_t n) noexcept { value_.fetch_sub(n, std::memory_order_relaxed); }
  void Set(std::int64_t n) noexcept { value_.store(n, std::memory_order_relaxed); }
  std::int64_t Value() const noexcept { return value_.load(std::memory_order_relaxed); }

  void AppendSamples(const std::vector<Label>& labels, std::vector<Sample>& out) const;

 private:
  std::atomic<std::int64_t> value_{0};
};

// Observations counted into fixed buckets, with their sum, as Prometheus histograms are.
class Histogram {
 public:
  static constexpr MetricType kType = MetricType::kHistogram;

  // `upper_bounds` must be finite and strictly increasing (the +Inf bucket is implicit);
  // Registry::AddHistogramFamily checks this.
  explicit Histogram(std::shared_ptr<const std::vector<double>> upper_bounds);

  // Counts `value` into the first bucket whose upper bound is >= value (bounds are inclusive,
  // le="0.1" holds 0.1), or into +Inf. NaN lands in +Inf, as in the Go client.
  void Observe(double value) noexcept;

  struct Snapshot {
    std::vector<std::uint64_t> cumulative_counts;  // one per bound, then +Inf
    std::uint64_t count = 0;                       // equals cumulative_counts.back()
    double sum = 0;
  };
  // Counts are read bucket by bucket without a lock: under concurrent Observe calls the count
  // always equals the +Inf bucket, but the sum may include an observation the buckets do not
  // yet show (or the reverse). Prometheus tolerates this; the Go client has the same race.
  Snapshot Read() const;

  // Appends the _bucket lines (with an added le label), _sum and _count.
  void AppendSamples(const std::vector<Label>& labels, std::vector<Sample>& out) const;

 private:
  std::shared_ptr<const std::vector<double>> upper_bounds_;
  std::vector<std::atomic<std::uint64_t>> counts_;  // per bucket, not cumulative; last is +Inf
  std::atomic<double> sum_{0};
};

// Something the registry collects at scrape time.
class Collectable {
 public:
  virtual ~Collectable() = default;
  // Appends this object's families to `out`. Must not call back into the registry.
  virtual void Collect(std::vector<FamilySnapshot>& out) const = 0;
};

// Orders label-value lists of any string-like type, so that lookups with string_views do not
// allocate.
struct LabelValuesLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    return std::lexicographical_compare(
        a.begin(), a.end(), b.begin(), b.end(),
        [](std::string_view x, std::string_view y) { return x < y; });
  }
};

// A metric family: one child (Counter, Gauge or Histogram) per distinct list of label values.
// Children are created on first use and live as long as the family; references to them stay
// valid. Collected children are sorted by label values.
template <typename Child>
class Family final : public Collectable {
 public:
  using MakeChild = std::function<std::unique_ptr<Child>()>;

  Family(std::string name, std::string help, std::vector<std::string> label_names,
         MakeChild make_child)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        make_child_(std::move(make_child)) {}

  // The child for these label values (one per label name, in order), created if new.
  // A wrong number of values is a programming error: the values are truncated or padded with
  // empty strings so that the exposition stays well-formed.
  // Label values seen before are mostly found without the mutex, in a small cache of
  // immutable entries, one per child (a request's verification outcome and auth decision
  // are counted this way: a map lookup under the mutex cost 560 instructions each).
  Child& WithLabelValues(std::span<const std::string_view> values) {
    std::atomic<const Node*>& slot = cache_[CacheSlot(values)];
    if (const Node* cached = slot.load(std::memory_order_acquire);
        cached != nullptr &&
        std::equal(values.begin(), values.end(), cached->values.begin(), cached->values.end(),
                   [](std::string_view x, std::string_view y) { return x == y; })) {
      return *cached->child;
    }
    std::lock_guard lock(mutex_);
    auto it = children_.find(values);
    if (it == children_.end()) {
      std::vector<std::string> key(label_names_.size());
      for (std::size_t i = 0; i < key.size() && i < values.size(); ++i) {
        key[i] = std::string(values[i]);
      }
      it = children_.find(key);  // differs from `values` only when the count was wrong
      if (it == children_.end()) {
        auto node = std::make_unique<Node>();
        node->values = key;
        node->child = make_child_();
        it = children_.emplace(std::move(key), std::move(node)).first;
      }
    }
    // The slot now names this child (a wrong count of values never matches it there).
    slot.store(it->second.get(), std::memory_order_release);
    return *it->second->child;
  }
  Child& WithLabelValues(std::initializer_list<std::string_view> values) {
    return WithLabelValues(std::span<const std::string_view>(values.begin(), values.size()));
  }

  const std::string& name() const { return name_; }

  void Collect(std::vector<FamilySnapshot>& out) const override {
    // Copy the (labels, child) list under the mutex, read the atomics after releasing it.
    std::vector<std::pair<std::vector<Label>, const Child*>> children;
    {
      std::lock_guard lock(mutex_);
      children.reserve(children_.size());
      for (const auto& [values, node] : children_) {
        std::vector<Label> labels;
        labels.reserve(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) {
          labels.push_back(Label{label_names_[i], values[i]});
        }
        children.emplace_back(std::move(labels), node->child.get());
      }
    }
    FamilySnapshot family{name_, help_, Child::kType, {}};
    for (const auto& [labels, child] : children) child->AppendSamples(labels, family.samples);
    out.push_back(std::move(family));
  }

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  // A child with its label values: made once under mutex_, never changed, freed with the
  // family (the cache's slots point at nodes).
  struct Node {
    std::vector<std::string> values;
    std::unique_ptr<Child> child;
  };
  static constexpr std::size_t kCacheSlots = 16;
  static std::size_t CacheSlot(std::span<const std::string_view> values) {
    std::size_t h = values.size();
    for (std::string_view v : values) {
      h = h * 31 + v.size();
      if (!v.empty())
        h = h * 31 + static_cast<unsigned char>(v.front()) * 7 +
            static_cast<unsigned char>(v.back());
    }
    return h % kCacheSlots;
  }

  const MakeChild make_child_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<Node>, LabelValuesLess> children_;
  std::array<std::atomic<const Node*>, kCacheSlots> cache_{};
};

// A lock-free cache in front of Family::WithLabelValues for a label space known to be small
// and enumerable (an HTTP method from a fixed list times a status code): slot i remembers
// the child for index i once it has been looked up. Holds no ownership; the family owns the
// children and must outlive this.
template <typename Child>
class FixedSlots {
 public:
  explicit FixedSlots(std::size_t size) : slots_(size) {}

  // The child for `index` (< size): a single acquire load after the first call for that
  // index; the first call runs `lookup` (which returns Child&). Two threads racing on the
  // first call both run `lookup`, which returns the same child.
  template <typename Lookup>
  Child& Get(std::size_t index, Lookup&& lookup) {
    std::atomic<Child*>& slot = slots_[index];
    Child* child = slot.load(std::memory_order_acquire);
    if (child == nullptr) {
      child = &lookup();
      slot.store(child, std::memory_order_release);
    }
    return *child;
  }

  std::size_t size() const { return slots_.size(); }

 private:
  std::vector<std::atomic<Child*>> slots_;
};

// Families computed by a callback at each scrape (process stats, counts kept elsewhere).
// The callback runs on the scraping thread with no registry lock held.
using CollectorFn = std::function<std::vector<FamilySnapshot>()>;

// Owns metric families and collectors. Registration is meant for start-up but is thread-safe;
// returned references stay valid for the registry's lifetime. Names must be valid and unique
// (checked with assert: names are constants in the code, not input).
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& AddCounterFamily(std::string name, std::string help,
                                    std::vector<std::string> label_names);
  Family<Gauge>& AddGaugeFamily(std::string name, std::string help,
                                std::vector<std::string> label_names);
  // `upper_bounds`: finite, strictly increasing; a trailing +Inf is dropped (it is implicit).
  Family<Histogram>& AddHistogramFamily(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> upper_bounds);
  // A family without labels holding its one child.
  Counter& AddCounter(std::string name, std::string help);
  Gauge& AddGauge(std::string name, std::string help);

  // `collector` runs at every Collect; the families it returns are exposed as they are
  // (their names are not checked for clashes with registered families).
  void AddCollector(CollectorFn collector);

  // Every family, in registration order. Holds the registry's mutex only to copy the list.
  std::vector<FamilySnapshot> Collect() const;
  // RenderText(Collect()).
  std::string Render() const;

 private:
  void CheckNames(std::string_view name, const std::vector<std::string>& label_names);
  template <typename T>
  T& Add(std::unique_ptr<T> collectable);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<Collectable>> collectables_;
  std::vector<std::string> names_;
};

}  // namespace hw::metrics
