// A small Prometheus registry: counters and histograms with labels, gauges read from
// callbacks, rendered in the text exposition format. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace coderun::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Registry {
 public:
  // Adds `delta` to counter `name{labels}` (created on first use with `help`).
  void Inc(const std::string& name, const std::string& help, const Labels& labels = {},
           double delta = 1);
  // Records one observation in histogram `name{labels}` with the given upper bounds.
  void Observe(const std::string& name, const std::string& help, const std::vector<double>& bounds,
               double value, const Labels& labels = {});
  // A gauge (or counter, `type` "counter") whose value is read at render time.
  void AddCallback(const std::string& name, const std::string& help, const std::string& type,
                   std::function<std::vector<std::pair<Labels, double>>()> read);

  // The text exposition format, families sorted by name.
  std::string Render() const;

  // The value of counter `name{labels}` (0 if unknown); for tests.
  double CounterValue(const std::string& name, const Labels& labels = {}) const;
  // Observations and their sum in histogram `name{labels}` ({0, 0} if unknown); for tests.
  std::pair<double, double> HistogramCountAndSum(const std::string& name,
                                                 const Labels& labels = {}) const;

 private:
  struct Histogram {
    std::vector<double> bounds;
    std::vector<double> counts;  // cumulative at render
    double sum = 0, count = 0;
  };
  struct Family {
    std::string help, type;
    std::map<std::string, double> counters;        // rendered labels -> value
    std::map<std::string, Histogram> histograms;   // rendered labels -> histogram
    std::function<std::vector<std::pair<Labels, double>>()> read;
  };

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;  // guarded by mu_
};

// "{a=\"x\",b=\"y\"}" or "" for no labels; values escaped.
std::string RenderLabels(const Labels& labels);

}  // namespace coderun::metrics
