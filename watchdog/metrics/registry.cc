#include "metrics/registry.h"

#include <cassert>
#include <cmath>

namespace hw::metrics {
namespace {

// Collects whatever a CollectorFn returns.
class CallbackCollectable final : public Collectable {
 public:
  explicit CallbackCollectable(CollectorFn collector) : collector_(std::move(collector)) {}
  void Collect(std::vector<FamilySnapshot>& out) const override {
    std::vector<FamilySnapshot> families = collector_();
    for (FamilySnapshot& family : families) out.push_back(std::move(family));
  }

 private:
  const CollectorFn collector_;
};

std::vector<Label> WithLabel(const std::vector<Label>& labels, std::string name,
                             std::string value) {
  std::vector<Label> out = labels;
  out.push_back(Label{std::move(name), std::move(value)});
  return out;
}

std::string FormatBound(double bound) {
  std::string out;
  AppendValue(out, bound);
  return out;
}

}  // namespace

void Counter::AppendSamples(const std::vector<Label>& labels, std::vector<Sample>& out) const {
  out.push_back(Sample{"", labels, Value()});
}

void Gauge::AppendSamples(const std::vector<Label>& labels, std::vector<Sample>& out) const {
  out.push_back(Sample{"", labels, Value()});
}

Histogram::Histogram(std::shared_ptr<const std::vector<double>> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)), counts_(upper_bounds_->size() + 1) {}

void Histogram::Observe(double value) noexcept {
  const std::vector<double>& bounds = *upper_bounds_;
  // First bound >= value; written as !(bound >= value) so that NaN goes to +Inf.
  const auto it = std::partition_point(bounds.begin(), bounds.end(),
                                       [value](double bound) { return !(bound >= value); });
  counts_[static_cast<std::size_t>(it - bounds.begin())].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(value, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.cumulative_counts.reserve(counts_.size());
  std::uint64_t running = 0;
  for (const auto& count : counts_) {
    running += count.load(std::memory_order_relaxed);
    snapshot.cumulative_counts.push_back(running);
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

void Histogram::AppendSamples(const std::vector<Label>& labels, std::vector<Sample>& out) const {
  const Snapshot snapshot = Read();
  const std::vector<double>& bounds = *upper_bounds_;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    out.push_back(Sample{"_bucket", WithLabel(labels, "le", FormatBound(bounds[i])),
                         snapshot.cumulative_counts[i]});
  }
  out.push_back(Sample{"_bucket", WithLabel(labels, "le", "+Inf"), snapshot.count});
  out.push_back(Sample{"_sum", labels, snapshot.sum});
  out.push_back(Sample{"_count", labels, snapshot.count});
}

void Registry::CheckNames(std::string_view name, const std::vector<std::string>& label_names) {
  // Called with mutex_ held.
  assert(IsValidMetricName(name));
  for (const std::string& label : label_names) {
    assert(IsValidLabelName(label));
    (void)label;
  }
  assert(std::find(names_.begin(), names_.end(), name) == names_.end());
  names_.emplace_back(name);
}

template <typename T>
T& Registry::Add(std::unique_ptr<T> collectable) {
  T& ref = *collectable;
  collectables_.push_back(std::move(collectable));
  return ref;
}

Family<Counter>& Registry::AddCounterFamily(std::string name, std::string help,
                                            std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  CheckNames(name, label_names);
  return Add(std::make_unique<Family<Counter>>(std::move(name), std::move(help),
                                               std::move(label_names),
                                               [] { return std::make_unique<Counter>(); }));
}

Family<Gauge>& Registry::AddGaugeFamily(std::string name, std::string help,
                                        std::vector<std::string> label_names) {
  std::lock_guard lock(mutex_);
  CheckNames(name, label_names);
  return Add(std::make_unique<Family<Gauge>>(std::move(name), std::move(help),
                                             std::move(label_names),
                                             [] { return std::make_unique<Gauge>(); }));
}

Family<Histogram>& Registry::AddHistogramFamily(std::string name, std::string help,
                                                std::vector<std::string> label_names,
                                                std::vector<double> upper_bounds) {
  if (!upper_bounds.empty() && std::isinf(upper_bounds.back()) && upper_bounds.back() > 0) {
    upper_bounds.pop_back();
  }
  for (std::size_t i = 0; i < upper_bounds.size(); ++i) {
    assert(std::isfinite(upper_bounds[i]));
    assert(i == 0 || upper_bounds[i - 1] < upper_bounds[i]);
  }
  for (const std::string& label : label_names) {
    assert(label != "le");  // the bucket label
    (void)label;
  }
  auto bounds = std::make_shared<const std::vector<double>>(std::move(upper_bounds));
  std::lock_guard lock(mutex_);
  CheckNames(name, label_names);
  return Add(std::make_unique<Family<Histogram>>(
      std::move(name), std::move(help), std::move(label_names),
      [bounds] { return std::make_unique<Histogram>(bounds); }));
}

Counter& Registry::AddCounter(std::string name, std::string help) {
  return AddCounterFamily(std::move(name), std::move(help), {}).WithLabelValues({});
}

Gauge& Registry::AddGauge(std::string name, std::string help) {
  return AddGaugeFamily(std::move(name), std::move(help), {}).WithLabelValues({});
}

void Registry::AddCollector(CollectorFn collector) {
  std::lock_guard lock(mutex_);
  Add(std::make_unique<CallbackCollectable>(std::move(collector)));
}

std::vector<FamilySnapshot> Registry::Collect() const {
  // Collectables are never removed before the registry dies, so the raw pointers copied here
  // stay valid after the lock is released.
  std::vector<const Collectable*> collectables;
  {
    std::lock_guard lock(mutex_);
    collectables.reserve(collectables_.size());
    for (const auto& collectable : collectables_) collectables.push_back(collectable.get());
  }
  std::vector<FamilySnapshot> families;
  families.reserve(collectables.size());
  for (const Collectable* collectable : collectables) collectable->Collect(families);
  return families;
}

std::string Registry::Render() const {
  const std::vector<FamilySnapshot> families = Collect();
  return RenderText(families);
}

}  // namespace hw::metrics
