// The controller's metric families, without starting it (no informer or worker runs).
#include "app/controller.h"

#include <gtest/gtest.h>

#include "kube/testing/fake_client.h"

namespace coderun::app {
namespace {

bool Has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(ControllerMetricsTest, QueueRelistAndLeaderFamiliesAreRegistered) {
  informer::FakeClient api;
  metrics::Registry metrics;
  Options options;
  Controller controller(api, options, metrics);
  const std::string text = metrics.Render();
  EXPECT_TRUE(Has(text, "# TYPE coderun_workqueue_depth gauge\ncoderun_workqueue_depth 0\n"));
  EXPECT_TRUE(Has(text, "# TYPE coderun_workqueue_retries_total counter\n"
                        "coderun_workqueue_retries_total 0\n"))
      << text;
  EXPECT_TRUE(Has(text, "coderun_informer_relists_total{resource=\"coderuns\",reason=\"gone\"} 0"));
  EXPECT_TRUE(Has(text, "# TYPE coderun_leader gauge\ncoderun_leader 1\n"))
      << "without leader election this process reconciles";
}

TEST(ControllerMetricsTest, LeaderGaugeIsZeroUntilElected) {
  informer::FakeClient api;
  metrics::Registry metrics;
  Options options;
  options.leader_elect = true;
  Controller controller(api, options, metrics);
  EXPECT_TRUE(Has(metrics.Render(), "coderun_leader 0\n"));
  controller.Lead();
  EXPECT_TRUE(Has(metrics.Render(), "coderun_leader 1\n"));
}

TEST(CountApiRequestsTest, CountsByVerbAndCodeAndTimesByVerb) {
  metrics::Registry metrics;
  kube::RequestObserver observe = CountApiRequests(metrics);
  observe("get", "200", 0.002);
  observe("get", "200", 0.004);
  observe("patch", "409", 0.003);
  observe("log", "200", 0.020);
  observe("watch", "error", std::nullopt);
  const char* name = "coderun_api_requests_total";
  EXPECT_EQ(metrics.CounterValue(name, {{"verb", "get"}, {"code", "200"}}), 2);
  EXPECT_EQ(metrics.CounterValue(name, {{"verb", "patch"}, {"code", "409"}}), 1);
  EXPECT_TRUE(Has(metrics.Render(),
                  "coderun_api_requests_total{verb=\"watch\",code=\"error\"} 1\n"));
  const char* latency = "coderun_api_request_duration_seconds";
  auto [gets, get_seconds] = metrics.HistogramCountAndSum(latency, {{"verb", "get"}});
  EXPECT_EQ(gets, 2);
  EXPECT_DOUBLE_EQ(get_seconds, 0.006);
  EXPECT_EQ(metrics.HistogramCountAndSum(latency, {{"verb", "log"}}).first, 1);
  EXPECT_TRUE(Has(metrics.Render(),
                  "coderun_api_request_duration_seconds_bucket{verb=\"log\",le=\"0.025\"} 1\n"));
  EXPECT_EQ(metrics.HistogramCountAndSum(latency, {{"verb", "watch"}}).first, 0);
}

}  // namespace
}  // namespace coderun::app
