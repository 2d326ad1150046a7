// A small Prometheus registry of typed metric families, rendered in the text exposition
// format.
//
// Each family (counter, gauge, histogram, or one read from a callback at scrape time) is
// registered once, at startup, with its name, help, label names (and buckets); registration
// checks the Prometheus naming rules and refuses a name already taken. A family hands out
// children, one per tuple of label values, as cheap copyable handles: keep a handle to skip
// even the per-family lookup. A child appears in the output from its first WithLabels call,
// so a family nobody has touched renders nothing.
//
// Thread-safe: registration, updates and rendering may run concurrently. Families and their
// children live as long as the registry; handles must not outlive it.
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace coderun::metrics {

// Label name/value pairs, as rendered; used by the test accessors and RenderLabels.
using Labels = std::vector<std::pair<std::string, std::string>>;
// Label values in the order of the family's label names.
using LabelValues = std::vector<std::string>;

enum class Type { kCounter, kGauge, kHistogram };

// A counter child. A default-constructed handle is detached: it records nothing.
class Counter {
 public:
  Counter() = default;
  void Inc(double delta = 1) const;  // `delta` must be >= 0; a negative one is ignored
  double Value() const;

 private:
  friend class CounterFamily;
  explicit Counter(std::atomic<double>* cell) : cell_(cell) {}
  std::atomic<double>* cell_ = nullptr;
};

// A gauge child. A default-constructed handle is detached: it records nothing.
class Gauge {
 public:
  Gauge() = default;
  void Set(double value) const;
  void Add(double delta) const;
  double Value() const;

 private:
  friend class GaugeFamily;
  explicit Gauge(std::atomic<double>* cell) : cell_(cell) {}
  std::atomic<double>* cell_ = nullptr;
};

namespace internal {

struct HistogramCell {
  explicit HistogramCell(size_t buckets) : counts(buckets, 0) {}
  mutable std::mutex mu;
  std::vector<unsigned long long> counts;  // guarded by mu: per bucket, not cumulative
  unsigned long long count = 0;            // guarded by mu
  double sum = 0;                          // guarded by mu
};

// One registered family: its metadata and how it renders.
class Family {
 public:
  Family(std::string name, std::string help, Type type, std::vector<std::string> label_names)
      : name_(std::move(name)),
        help_(std::move(help)),
        type_(type),
        label_names_(std::move(label_names)) {}
  virtual ~Family() = default;

  const std::string& name() const { return name_; }
  Type type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Appends the family's HELP, TYPE and samples; nothing if it has no samples.
  void Render(std::string* out) const;
  // The label values of `labels` in this family's order, if it names exactly these labels.
  bool ValuesOf(const Labels& labels, LabelValues* values) const;

 protected:
  // Appends the sample lines.
  virtual void RenderSamples(std::string* out) const = 0;

 private:
  const std::string name_, help_;
  const Type type_;
  const std::vector<std::string> label_names_;
};

// Children by label values. Thread-safe; a child's address never changes.
template <typename Cell>
class Children {
 public:
  // The child for `values` (created by `make` on first use).
  template <typename Make>
  Cell* Get(const LabelValues& values, Make make) {
    {
      std::shared_lock lock(mu_);
      if (auto it = cells_.find(values); it != cells_.end()) return it->second.get();
    }
    std::unique_lock lock(mu_);
    auto& cell = cells_[values];
    if (!cell) cell = make();
    return cell.get();
  }
  // The child for `values`, or null.
  const Cell* Find(const LabelValues& values) const {
    std::shared_lock lock(mu_);
    auto it = cells_.find(values);
    return it == cells_.end() ? nullptr : it->second.get();
  }
  // Calls `f(values, cell)` for every child, sorted by label values.
  template <typename F>
  void ForEachSorted(F f) const {
    std::vector<std::pair<const LabelValues*, const Cell*>> sorted;
    std::shared_lock lock(mu_);
    sorted.reserve(cells_.size());
    for (const auto& [values, cell] : cells_) sorted.emplace_back(&values, cell.get());
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return *a.first < *b.first; });
    for (const auto& [values, cell] : sorted) f(*values, *cell);
  }

 private:
  mutable std::shared_mutex mu_;
  absl::flat_hash_map<LabelValues, std::unique_ptr<Cell>> cells_;  // guarded by mu_
};

}  // namespace internal

class CounterFamily final : public internal::Family {
 public:
  using Family::Family;
  // The child for `values`, one per label name in order; a wrong count is a bug and yields a
  // detached handle.
  Counter WithLabels(const LabelValues& values = {});
  // The child's value without creating it (0 if absent).
  double ValueOf(const LabelValues& values) const;

 private:
  void RenderSamples(std::string* out) const override;
  internal::Children<std::atomic<double>> children_;
};

class GaugeFamily final : public internal::Family {
 public:
  using Family::Family;
  Gauge WithLabels(const LabelValues& values = {});  // as CounterFamily::WithLabels

 private:
  void RenderSamples(std::string* out) const override;
  internal::Children<std::atomic<double>> children_;
};

// A histogram child. A default-constructed handle is detached: it records nothing.
class Histogram {
 public:
  Histogram() = default;
  void Observe(double value) const;
  // Observations and their sum.
  std::pair<double, double> CountAndSum() const;

 private:
  friend class HistogramFamily;
  Histogram(const std::vector<double>* bounds, internal::HistogramCell* cell)
      : bounds_(bounds), cell_(cell) {}
  const std::vector<double>* bounds_ = nullptr;
  internal::HistogramCell* cell_ = nullptr;
};

class HistogramFamily final : public internal::Family {
 public:
  HistogramFamily(std::string name, std::string help, std::vector<std::string> label_names,
                  std::vector<double> bounds)
      : Family(std::move(name), std::move(help), Type::kHistogram, std::move(label_names)),
        bounds_(std::move(bounds)) {}
  Histogram WithLabels(const LabelValues& values = {});  // as CounterFamily::WithLabels
  // The child's observations and sum without creating it ({0, 0} if absent).
  std::pair<double, double> CountAndSumOf(const LabelValues& values) const;

 private:
  void RenderSamples(std::string* out) const override;
  const std::vector<double> bounds_;  // upper bounds, increasing; +Inf is implied
  internal::Children<internal::HistogramCell> children_;
};

// One sample of a callback family: label values in the family's order, and the value.
struct Sample {
  LabelValues labels;
  double value = 0;
};

class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Register a family. InvalidArgument if the name is not [a-zA-Z_:][a-zA-Z0-9_:]*, a label
  // name is not [a-zA-Z_][a-zA-Z0-9_]* or starts with "__", a label name repeats, a
  // histogram's label is "le" or its bounds do not increase; AlreadyExists if the name is
  // taken. The family lives as long as the registry.
  absl::StatusOr<CounterFamily*> AddCounter(std::string name, std::string help,
                                            std::vector<std::string> label_names = {});
  absl::StatusOr<GaugeFamily*> AddGauge(std::string name, std::string help,
                                        std::vector<std::string> label_names = {});
  absl::StatusOr<HistogramFamily*> AddHistogram(std::string name, std::string help,
                                                std::vector<double> bounds,
                                                std::vector<std::string> label_names = {});
  // A family (counter or gauge) whose samples `read` returns at each render, in the order
  // rendered; a sample with the wrong number of label values is skipped. `read` runs under
  // the registry's lock: it must not call into the registry. Errors as above (and
  // InvalidArgument for a histogram type).
  absl::Status AddCallback(Type type, std::string name, std::string help,
                           std::vector<std::string> label_names,
                           std::function<std::vector<Sample>()> read);

  // The text exposition format (version 0.0.4), families sorted by name.
  std::string Render() const;

  // For tests: the value of counter `name{labels}` (0 if unknown or not a registered
  // counter), and the observations and sum of histogram `name{labels}` ({0, 0} if unknown).
  double CounterValue(const std::string& name, const Labels& labels = {}) const;
  std::pair<double, double> HistogramCountAndSum(const std::string& name,
                                                 const Labels& labels = {}) const;

 private:
  // Registers a counter or gauge family after validating its name and labels.
  template <typename Family>
  absl::StatusOr<Family*> AddSimple(std::string name, std::string help, Type type,
                                    std::vector<std::string> label_names);
  absl::Status Insert(std::unique_ptr<internal::Family> family);
  const internal::Family* Find(const std::string& name) const;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<internal::Family>> families_;  // guarded by mu_
};

// For registrations of a program's constant names, where a refusal is a bug: the value, or
// the process ends with the reason on stderr.
template <typename T>
T MustRegister(absl::StatusOr<T> registered);
void MustRegister(const absl::Status& registered);

// "{a=\"x\",b=\"y\"}" or "" for no labels; values escaped.
std::string RenderLabels(const Labels& labels);

// Implementation.
[[noreturn]] void RegistrationFailed(const absl::Status& status);
template <typename T>
T MustRegister(absl::StatusOr<T> registered) {
  if (!registered.ok()) RegistrationFailed(registered.status());
  return *std::move(registered);
}

}  // namespace coderun::metrics
