// The controller's metric families (without starting it) and its shutdown.
#include "app/controller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "kube/testing/fake_client.h"
#include "kube/testing/silent_server.h"

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

// In-process Stop() against a hung apiserver (accepts, never answers): the informers' lists
// and the prober's request are cancelled, so Stop returns at once. Before, the informers'
// lists waited for the 30 s receive timeout and a silent watch for its timeout + 30 s (the
// binary skipped those joins with _Exit).
TEST(ControllerShutdownTest, StopReturnsPromptlyAgainstAHungApiserver) {
  kube::testing::SilentServer apiserver;
  std::unique_ptr<kube::Client> client = kube::testing::NewClientFor(apiserver);
  metrics::Registry metrics;
  Options options;
  options.namespaces = {"a", "b"};
  Controller controller(*client, options, metrics);
  controller.Start();
  // Every informer has a list in flight on the silent server.
  for (int i = 0; i < 100 && apiserver.accepted() < 4; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(apiserver.accepted(), 4);
  const auto start = std::chrono::steady_clock::now();
  controller.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
  EXPECT_FALSE(controller.Ready());
}

bool CreateRun(informer::FakeClient& api, const std::string& name) {
  return api.Create({}, kube::kCodeRuns, "a",
                    {{"apiVersion", "coderun.dev/v1alpha1"},
                     {"kind", "CodeRun"},
                     {"metadata", {{"name", name}, {"uid", "uid-" + name}}},
                     {"spec", {{"code", "print(1)"}}}})
      .ok();
}

// Abandon (leadership lost) stops the workers; afterwards nothing more is written.
TEST(ControllerShutdownTest, AbandonStopsWorkersAndNothingIsWrittenAfter) {
  informer::FakeClient api;
  metrics::Registry metrics;
  Options options;
  options.namespaces = {"a"};
  Controller controller(api, options, metrics);
  controller.Start();
  ASSERT_TRUE(CreateRun(api, "r1"));
  for (int i = 0; i < 200 && !api.List({}, kube::kPods, "a", {})->at("items").size(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_EQ(api.List({}, kube::kPods, "a", {})->at("items").size(), 1u) << "the leader works";
  controller.Abandon();
  const std::string rv = api.resource_version();
  ASSERT_TRUE(CreateRun(api, "r2"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(api.List({}, kube::kPods, "a", {})->at("items").size(), 1u);
  EXPECT_EQ(std::stoull(api.resource_version()), std::stoull(rv) + 1)  // r2's create only
      << "a worker wrote after Abandon";
}

}  // namespace
}  // namespace coderun::app
