#include "metrics/registry.h"

#include <charconv>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/strings/str_cat.h"

namespace coderun::metrics {
namespace {

std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// HELP text escapes only backslash and newline.
std::string EscapeHelp(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string Number(double v) {
  if (std::isfinite(v) && std::abs(v) < 9e18 &&
      v == static_cast<double>(static_cast<long long>(v))) {
    return absl::StrCat(static_cast<long long>(v));
  }
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // The shortest text that reads back as the same double: StrCat keeps 6 digits, which
  // turned a start time of 1796230816.42 into 1.79623e+09.
  char buf[32];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : absl::StrCat(v);
}

std::string RenderValues(const std::vector<std::string>& names, const LabelValues& values) {
  Labels labels;
  labels.reserve(names.size());
  for (size_t i = 0; i < names.size(); ++i) labels.emplace_back(names[i], values[i]);
  return RenderLabels(labels);
}

// Inserts `extra` into rendered labels "{...}".
std::string WithLabel(const std::string& rendered, const std::string& extra) {
  if (rendered.empty()) return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

const char* TypeName(Type t) {
  switch (t) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

bool ValidName(const std::string& name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                    (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

absl::Status Validate(const std::string& name, const std::vector<std::string>& label_names,
                      Type type) {
  if (!ValidName(name, /*colon=*/true)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric name \"", name, "\": want [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  std::set<std::string> seen;
  for (const auto& label : label_names) {
    if (!ValidName(label, /*colon=*/false) || label.rfind("__", 0) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          name, ": label name \"", label, "\": want [a-zA-Z_][a-zA-Z0-9_]* without a __ prefix"));
    }
    if (type == Type::kHistogram && label == "le") {
      return absl::InvalidArgumentError(absl::StrCat(name, ": \"le\" is a histogram's own label"));
    }
    if (!seen.insert(label).second) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": label \"", label, "\" repeats"));
    }
  }
  return absl::OkStatus();
}

void AtomicAdd(std::atomic<double>* cell, double delta) {
  double old = cell->load(std::memory_order_relaxed);
  while (!cell->compare_exchange_weak(old, old + delta, std::memory_order_relaxed)) {
  }
}

class CallbackFamily final : public internal::Family {
 public:
  CallbackFamily(std::string name, std::string help, Type type,
                 std::vector<std::string> label_names, std::function<std::vector<Sample>()> read)
      : Family(std::move(name), std::move(help), type, std::move(label_names)),
        read_(std::move(read)) {}

 private:
  void RenderSamples(std::string* out) const override {
    for (const Sample& s : read_()) {
      if (s.labels.size() != label_names().size()) continue;
      absl::StrAppend(out, name(), RenderValues(label_names(), s.labels), " ", Number(s.value),
                      "\n");
    }
  }
  const std::function<std::vector<Sample>()> read_;
};

}  // namespace

std::string RenderLabels(const Labels& labels) {
  if (labels.empty()) return "";
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) out += ",";
    absl::StrAppend(&out, labels[i].first, "=\"", Escape(labels[i].second), "\"");
  }
  return out + "}";
}

void RegistrationFailed(const absl::Status& status) {
  std::fprintf(stderr, "metrics registration: %s\n", status.ToString().c_str());
  std::abort();
}

void MustRegister(const absl::Status& registered) {
  if (!registered.ok()) RegistrationFailed(registered);
}

// Handles.

void Counter::Inc(double delta) const {
  if (cell_ && delta >= 0) AtomicAdd(cell_, delta);
}
double Counter::Value() const { return cell_ ? cell_->load(std::memory_order_relaxed) : 0; }

void Gauge::Set(double value) const {
  if (cell_) cell_->store(value, std::memory_order_relaxed);
}
void Gauge::Add(double delta) const {
  if (cell_) AtomicAdd(cell_, delta);
}
double Gauge::Value() const { return cell_ ? cell_->load(std::memory_order_relaxed) : 0; }

void Histogram::Observe(double value) const {
  if (!cell_) return;
  // The first bucket whose upper bound holds `value`; past the end means only +Inf.
  const size_t i = static_cast<size_t>(
      std::lower_bound(bounds_->begin(), bounds_->end(), value) - bounds_->begin());
  std::lock_guard lock(cell_->mu);
  if (i < cell_->counts.size()) cell_->counts[i] += 1;
  cell_->count += 1;
  cell_->sum += value;
}

std::pair<double, double> Histogram::CountAndSum() const {
  if (!cell_) return {0, 0};
  std::lock_guard lock(cell_->mu);
  return {static_cast<double>(cell_->count), cell_->sum};
}

// Families.

void internal::Family::Render(std::string* out) const {
  std::string samples;
  RenderSamples(&samples);
  if (samples.empty()) return;
  absl::StrAppend(out, "# HELP ", name_, " ", EscapeHelp(help_), "\n# TYPE ", name_, " ",
                  TypeName(type_), "\n", samples);
}

bool internal::Family::ValuesOf(const Labels& labels, LabelValues* values) const {
  if (labels.size() != label_names_.size()) return false;
  values->clear();
  for (const auto& want : label_names_) {
    auto it = std::find_if(labels.begin(), labels.end(),
                           [&](const auto& l) { return l.first == want; });
    if (it == labels.end()) return false;
    values->push_back(it->second);
  }
  return true;
}

Counter CounterFamily::WithLabels(const LabelValues& values) {
  if (values.size() != label_names().size()) return Counter();
  return Counter(children_.Get(values, [] { return std::make_unique<std::atomic<double>>(0); }));
}

double CounterFamily::ValueOf(const LabelValues& values) const {
  const std::atomic<double>* cell = children_.Find(values);
  return cell ? cell->load(std::memory_order_relaxed) : 0;
}

void CounterFamily::RenderSamples(std::string* out) const {
  children_.ForEachSorted([&](const LabelValues& values, const std::atomic<double>& cell) {
    absl::StrAppend(out, name(), RenderValues(label_names(), values), " ",
                    Number(cell.load(std::memory_order_relaxed)), "\n");
  });
}

Gauge GaugeFamily::WithLabels(const LabelValues& values) {
  if (values.size() != label_names().size()) return Gauge();
  return Gauge(children_.Get(values, [] { return std::make_unique<std::atomic<double>>(0); }));
}

void GaugeFamily::RenderSamples(std::string* out) const {
  children_.ForEachSorted([&](const LabelValues& values, const std::atomic<double>& cell) {
    absl::StrAppend(out, name(), RenderValues(label_names(), values), " ",
                    Number(cell.load(std::memory_order_relaxed)), "\n");
  });
}

Histogram HistogramFamily::WithLabels(const LabelValues& values) {
  if (values.size() != label_names().size()) return Histogram();
  const size_t n = bounds_.size();
  return Histogram(&bounds_, children_.Get(values, [n] {
    return std::make_unique<internal::HistogramCell>(n);
  }));
}

std::pair<double, double> HistogramFamily::CountAndSumOf(const LabelValues& values) const {
  const internal::HistogramCell* cell = children_.Find(values);
  if (!cell) return {0, 0};
  std::lock_guard lock(cell->mu);
  return {static_cast<double>(cell->count), cell->sum};
}

void HistogramFamily::RenderSamples(std::string* out) const {
  children_.ForEachSorted([&](const LabelValues& values, const internal::HistogramCell& cell) {
    std::vector<unsigned long long> counts;
    unsigned long long count;
    double sum;
    {
      std::lock_guard lock(cell.mu);
      counts = cell.counts;
      count = cell.count;
      sum = cell.sum;
    }
    const std::string labels = RenderValues(label_names(), values);
    unsigned long long cumulative = 0;
    for (size_t i = 0; i < bounds_.size(); ++i) {
      cumulative += counts[i];
      absl::StrAppend(out, name(), "_bucket",
                      WithLabel(labels, "le=\"" + Number(bounds_[i]) + "\""), " ",
                      cumulative, "\n");
    }
    absl::StrAppend(out, name(), "_bucket", WithLabel(labels, "le=\"+Inf\""), " ", count, "\n",
                    name(), "_sum", labels, " ", Number(sum), "\n", name(), "_count", labels,
                    " ", count, "\n");
  });
}

// Registry.

Registry::Registry() = default;
Registry::~Registry() = default;

absl::Status Registry::Insert(std::unique_ptr<internal::Family> family) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = families_.try_emplace(family->name());
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("metric ", family->name(), " is already registered"));
  }
  it->second = std::move(family);
  return absl::OkStatus();
}

template <typename Family>
absl::StatusOr<Family*> Registry::AddSimple(std::string name, std::string help, Type type,
                                            std::vector<std::string> label_names) {
  if (auto s = Validate(name, label_names, type); !s.ok()) return s;
  auto family = std::make_unique<Family>(std::move(name), std::move(help), type,
                                         std::move(label_names));
  Family* out = family.get();
  if (auto s = Insert(std::move(family)); !s.ok()) return s;
  return out;
}

absl::StatusOr<CounterFamily*> Registry::AddCounter(std::string name, std::string help,
                                                    std::vector<std::string> label_names) {
  return AddSimple<CounterFamily>(std::move(name), std::move(help), Type::kCounter,
                                  std::move(label_names));
}

absl::StatusOr<GaugeFamily*> Registry::AddGauge(std::string name, std::string help,
                                                std::vector<std::string> label_names) {
  return AddSimple<GaugeFamily>(std::move(name), std::move(help), Type::kGauge,
                                std::move(label_names));
}

absl::StatusOr<HistogramFamily*> Registry::AddHistogram(std::string name, std::string help,
                                                        std::vector<double> bounds,
                                                        std::vector<std::string> label_names) {
  if (auto s = Validate(name, label_names, Type::kHistogram); !s.ok()) return s;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (std::isnan(bounds[i]) || (i > 0 && !(bounds[i - 1] < bounds[i]))) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": bucket bounds must increase"));
    }
  }
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) bounds.pop_back();
  auto family = std::make_unique<HistogramFamily>(std::move(name), std::move(help),
                                                  std::move(label_names), std::move(bounds));
  HistogramFamily* out = family.get();
  if (auto s = Insert(std::move(family)); !s.ok()) return s;
  return out;
}

absl::Status Registry::AddCallback(Type type, std::string name, std::string help,
                                   std::vector<std::string> label_names,
                                   std::function<std::vector<Sample>()> read) {
  if (type == Type::kHistogram) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": a callback reads counters or gauges"));
  }
  if (auto s = Validate(name, label_names, type); !s.ok()) return s;
  return Insert(std::make_unique<CallbackFamily>(std::move(name), std::move(help), type,
                                                 std::move(label_names), std::move(read)));
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) family->Render(&out);
  return out;
}

const internal::Family* Registry::Find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = families_.find(name);
  return it == families_.end() ? nullptr : it->second.get();
}

double Registry::CounterValue(const std::string& name, const Labels& labels) const {
  auto* family = dynamic_cast<const CounterFamily*>(Find(name));
  LabelValues values;
  if (!family || !family->ValuesOf(labels, &values)) return 0;
  return family->ValueOf(values);
}

std::pair<double, double> Registry::HistogramCountAndSum(const std::string& name,
                                                         const Labels& labels) const {
  auto* family = dynamic_cast<const HistogramFamily*>(Find(name));
  LabelValues values;
  if (!family || !family->ValuesOf(labels, &values)) return {0, 0};
  return family->CountAndSumOf(values);
}

}  // namespace coderun::metrics
