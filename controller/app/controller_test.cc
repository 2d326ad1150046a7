// The controller's metric families without starting it, and early finish wired end to end
// against the in-memory API.
#include "app/controller.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "informer/fake_client.h"
#include "reconcile/pod.h"
#include "runner/report.h"

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

// Creates a CodeRun, waits for its Pod, binds it (status: running) with the runner's report
// already in its log, and returns the CodeRun's phase after `wait`.
std::string PhaseOfABoundRun(informer::FakeClient& api, std::chrono::milliseconds wait) {
  api.Put(kube::kCodeRuns, {{"apiVersion", "coderun.dev/v1alpha1"},
                            {"kind", "CodeRun"},
                            {"metadata", {{"name", "hello"}, {"namespace", "ns"}}},
                            {"spec", {{"code", "print(1)"}}}});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  kube::json pod;
  while (std::chrono::steady_clock::now() < deadline) {
    auto list = api.List(kube::kPods, "ns", {});
    if (list.ok() && !(*list)["items"].empty()) {
      pod = (*list)["items"][0];
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (pod.is_null()) return "no pod";
  runner::Report report;
  report.exit_code = 0;
  report.stdout_text = "Hello World\n";
  api.SetPodLog("ns", pod["metadata"]["name"], runner::FormatReport(report));
  pod["spec"]["nodeName"] = "node-1";
  pod["status"] = {{"phase", "Running"},
                   {"containerStatuses",
                    {{{"name", "runner"}, {"state", {{"running", kube::json::object()}}}}}}};
  api.Put(kube::kPods, pod);
  const auto until = std::chrono::steady_clock::now() + wait;
  std::string phase;
  while (std::chrono::steady_clock::now() < until) {
    phase = (*api.Get(kube::kCodeRuns, "ns", "hello"))["status"].value("phase", "");
    if (phase == "Succeeded") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return phase;
}

TEST(ControllerEarlyFinishTest, ARunFinishesFromItsLogWhileThePodStillSaysRunning) {
  informer::FakeClient api;
  metrics::Registry metrics;
  Options options;
  options.namespaces = {"ns"};
  Controller controller(api, options, metrics);
  controller.Start();
  EXPECT_EQ(PhaseOfABoundRun(api, std::chrono::seconds(10)), "Succeeded");
  auto run = *api.Get(kube::kCodeRuns, "ns", "hello");
  EXPECT_EQ(run["status"]["stdout"], "Hello World\n");
  controller.Stop();
}

TEST(ControllerEarlyFinishTest, WithTheFlagOffNoLogIsFollowed) {
  informer::FakeClient api;
  metrics::Registry metrics;
  Options options;
  options.namespaces = {"ns"};
  options.follow_runner_logs = false;
  Controller controller(api, options, metrics);
  controller.Start();
  EXPECT_EQ(PhaseOfABoundRun(api, std::chrono::milliseconds(500)), "Running");
  auto list = *api.List(kube::kPods, "ns", {});
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(api.follow_calls("ns", list["items"][0]["metadata"]["name"]), 0);
  controller.Stop();
}

TEST(CountApiRequestsTest, CountsByVerbAndCode) {
  metrics::Registry metrics;
  kube::RequestObserver observe = CountApiRequests(metrics);
  observe("get", "200");
  observe("get", "200");
  observe("patch", "409");
  observe("watch", "error");
  const char* name = "coderun_api_requests_total";
  EXPECT_EQ(metrics.CounterValue(name, {{"verb", "get"}, {"code", "200"}}), 2);
  EXPECT_EQ(metrics.CounterValue(name, {{"verb", "patch"}, {"code", "409"}}), 1);
  EXPECT_TRUE(Has(metrics.Render(),
                  "coderun_api_requests_total{verb=\"watch\",code=\"error\"} 1\n"));
}

}  // namespace
}  // namespace coderun::app
