#include "metrics/registry.h"

#include <gtest/gtest.h>

namespace coderun::metrics {
namespace {

TEST(RegistryTest, RendersCountersHistogramsAndCallbacks) {
  Registry r;
  r.Inc("coderun_reconcile_total", "Reconciles.", {{"result", "created"}});
  r.Inc("coderun_reconcile_total", "Reconciles.", {{"result", "created"}});
  r.Observe("coderun_reconcile_duration_seconds", "Time.", {0.1, 1}, 0.5);
  r.AddCallback("coderun_workqueue_depth", "Depth.", "gauge", [] {
    return std::vector<std::pair<Labels, double>>{{{}, 3}};
  });
  std::string text = r.Render();
  EXPECT_NE(text.find("# TYPE coderun_reconcile_total counter"), std::string::npos);
  EXPECT_NE(text.find("coderun_reconcile_total{result=\"created\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("coderun_reconcile_duration_seconds_bucket{le=\"0.1\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("coderun_reconcile_duration_seconds_bucket{le=\"1\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("coderun_reconcile_duration_seconds_bucket{le=\"+Inf\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("coderun_workqueue_depth 3\n"), std::string::npos);
  EXPECT_EQ(r.CounterValue("coderun_reconcile_total", {{"result", "created"}}), 2);
}

TEST(RegistryTest, HistogramCountAndSumPerLabels) {
  Registry r;
  r.Observe("h", "H.", {1, 10}, 2, {{"a", "x"}});
  r.Observe("h", "H.", {1, 10}, 3, {{"a", "x"}});
  EXPECT_EQ(r.HistogramCountAndSum("h", {{"a", "x"}}), (std::pair<double, double>{2, 5}));
  EXPECT_EQ(r.HistogramCountAndSum("h", {{"a", "y"}}), (std::pair<double, double>{0, 0}));
  EXPECT_EQ(r.HistogramCountAndSum("nope"), (std::pair<double, double>{0, 0}));
}

TEST(RegistryTest, EscapesLabelValues) {
  EXPECT_EQ(RenderLabels({{"a", "x\"y\\z\n"}}), "{a=\"x\\\"y\\\\z\\n\"}");
}

}  // namespace
}  // namespace coderun::metrics
