#include "metrics/registry.h"

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

std::string Number(double v) {
  if (v == static_cast<double>(static_cast<long long>(v))) {
    return absl::StrCat(static_cast<long long>(v));
  }
  return absl::StrCat(v);
}

// Inserts `extra` into rendered labels "{...}".
std::string WithLabel(const std::string& rendered, const std::string& extra) {
  if (rendered.empty()) return "{" + extra + "}";
  return rendered.substr(0, rendered.size() - 1) + "," + extra + "}";
}

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

void Registry::Inc(const std::string& name, const std::string& help, const Labels& labels,
                   double delta) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.help = help;
  f.type = "counter";
  f.counters[RenderLabels(labels)] += delta;
}

void Registry::Observe(const std::string& name, const std::string& help,
                       const std::vector<double>& bounds, double value, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.help = help;
  f.type = "histogram";
  Histogram& h = f.histograms[RenderLabels(labels)];
  if (h.bounds.empty()) {
    h.bounds = bounds;
    h.counts.assign(bounds.size(), 0);
  }
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    if (value <= h.bounds[i]) h.counts[i] += 1;
  }
  h.sum += value;
  h.count += 1;
}

void Registry::AddCallback(const std::string& name, const std::string& help,
                           const std::string& type,
                           std::function<std::vector<std::pair<Labels, double>>()> read) {
  std::lock_guard lock(mu_);
  Family& f = families_[name];
  f.help = help;
  f.type = type;
  f.read = std::move(read);
}

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ", f.help, "\n# TYPE ", name, " ", f.type, "\n");
    for (const auto& [labels, value] : f.counters) {
      absl::StrAppend(&out, name, labels, " ", Number(value), "\n");
    }
    for (const auto& [labels, h] : f.histograms) {
      for (size_t i = 0; i < h.bounds.size(); ++i) {
        absl::StrAppend(&out, name, "_bucket", WithLabel(labels, "le=\"" + Number(h.bounds[i]) + "\""),
                        " ", Number(h.counts[i]), "\n");
      }
      absl::StrAppend(&out, name, "_bucket", WithLabel(labels, "le=\"+Inf\""), " ",
                      Number(h.count), "\n", name, "_sum", labels, " ", Number(h.sum), "\n",
                      name, "_count", labels, " ", Number(h.count), "\n");
    }
    if (f.read) {
      for (const auto& [labels, value] : f.read()) {
        absl::StrAppend(&out, name, RenderLabels(labels), " ", Number(value), "\n");
      }
    }
  }
  return out;
}

double Registry::CounterValue(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  auto c = f->second.counters.find(RenderLabels(labels));
  return c == f->second.counters.end() ? 0 : c->second;
}

std::pair<double, double> Registry::HistogramCountAndSum(const std::string& name,
                                                         const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return {0, 0};
  auto h = f->second.histograms.find(RenderLabels(labels));
  if (h == f->second.histograms.end()) return {0, 0};
  return {h->second.count, h->second.sum};
}

}  // namespace coderun::metrics
