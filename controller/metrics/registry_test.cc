#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace coderun::metrics {
namespace {

bool Has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(RegistryTest, FractionalValuesKeepEveryDigit) {
  Registry r;
  ASSERT_TRUE(r.AddCallback(Type::kGauge, "start_seconds", "h", {}, [] {
                 return std::vector<Sample>{{{}, 1796230816.42}};
               }).ok());
  ASSERT_TRUE(r.AddCallback(Type::kGauge, "small", "h", {}, [] {
                 return std::vector<Sample>{{{}, 0.07}};
               }).ok());
  const std::string text = r.Render();
  EXPECT_NE(text.find("\nstart_seconds 1796230816.42\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nsmall 0.07\n"), std::string::npos) << text;
}

TEST(RegistryTest, RendersCountersHistogramsAndCallbacksAsBefore) {
  Registry r;
  CounterFamily* reconciles =
      MustRegister(r.AddCounter("coderun_reconcile_total", "Reconciles.", {"result"}));
  HistogramFamily* durations =
      MustRegister(r.AddHistogram("coderun_reconcile_duration_seconds", "Time.", {0.1, 1}));
  MustRegister(r.AddCallback(Type::kGauge, "coderun_workqueue_depth", "Depth.", {},
                             [] { return std::vector<Sample>{{{}, 3}}; }));
  reconciles->WithLabels({"created"}).Inc();
  reconciles->WithLabels({"created"}).Inc();
  reconciles->WithLabels({"noop"}).Inc(0.5);
  durations->WithLabels().Observe(0.5);
  durations->WithLabels().Observe(0.1);
  // Families sorted by name, children by label values, the exact lines of the old registry.
  EXPECT_EQ(r.Render(),
            "# HELP coderun_reconcile_duration_seconds Time.\n"
            "# TYPE coderun_reconcile_duration_seconds histogram\n"
            "coderun_reconcile_duration_seconds_bucket{le=\"0.1\"} 1\n"
            "coderun_reconcile_duration_seconds_bucket{le=\"1\"} 2\n"
            "coderun_reconcile_duration_seconds_bucket{le=\"+Inf\"} 2\n"
            "coderun_reconcile_duration_seconds_sum 0.6\n"
            "coderun_reconcile_duration_seconds_count 2\n"
            "# HELP coderun_reconcile_total Reconciles.\n"
            "# TYPE coderun_reconcile_total counter\n"
            "coderun_reconcile_total{result=\"created\"} 2\n"
            "coderun_reconcile_total{result=\"noop\"} 0.5\n"
            "# HELP coderun_workqueue_depth Depth.\n"
            "# TYPE coderun_workqueue_depth gauge\n"
            "coderun_workqueue_depth 3\n");
  EXPECT_EQ(r.CounterValue("coderun_reconcile_total", {{"result", "created"}}), 2);
}

TEST(RegistryTest, LabelledHistogramPutsLeLastAndCountsOutOfRangeOnlyInInf) {
  Registry r;
  HistogramFamily* h = MustRegister(r.AddHistogram("h", "H.", {1, 10}, {"verb"}));
  h->WithLabels({"get"}).Observe(20);
  EXPECT_TRUE(Has(r.Render(), "h_bucket{verb=\"get\",le=\"10\"} 0\n"
                              "h_bucket{verb=\"get\",le=\"+Inf\"} 1\n"
                              "h_sum{verb=\"get\"} 20\n"
                              "h_count{verb=\"get\"} 1\n"))
      << r.Render();
}

TEST(RegistryTest, UntouchedFamilyRendersNothingUntilItsFirstChild) {
  Registry r;
  CounterFamily* c = MustRegister(r.AddCounter("c_total", "C.", {"a"}));
  EXPECT_EQ(r.Render(), "");
  Counter child = c->WithLabels({"x"});
  EXPECT_EQ(r.Render(), "# HELP c_total C.\n# TYPE c_total counter\nc_total{a=\"x\"} 0\n");
  child.Inc(2);
  EXPECT_EQ(child.Value(), 2);
  EXPECT_TRUE(Has(r.Render(), "c_total{a=\"x\"} 2\n"));
}

TEST(RegistryTest, HandlesOfOneChildShareItsValue) {
  Registry r;
  CounterFamily* c = MustRegister(r.AddCounter("c_total", "C.", {"a"}));
  Counter one = c->WithLabels({"x"});
  Counter two = c->WithLabels({"x"});
  one.Inc();
  two.Inc();
  EXPECT_EQ(one.Value(), 2);
  EXPECT_EQ(c->ValueOf({"x"}), 2);
  EXPECT_EQ(c->ValueOf({"y"}), 0);
  one.Inc(-1);  // counters only go up
  EXPECT_EQ(one.Value(), 2);
}

TEST(RegistryTest, GaugesSetAndAdd) {
  Registry r;
  GaugeFamily* g = MustRegister(r.AddGauge("g", "G.", {}));
  Gauge child = g->WithLabels();
  child.Set(5);
  child.Add(-7);
  EXPECT_EQ(child.Value(), -2);
  EXPECT_TRUE(Has(r.Render(), "# TYPE g gauge\ng -2\n"));
}

TEST(RegistryTest, WrongNumberOfLabelValuesGivesADetachedHandle) {
  Registry r;
  CounterFamily* c = MustRegister(r.AddCounter("c_total", "C.", {"a", "b"}));
  Counter wrong = c->WithLabels({"x"});
  wrong.Inc();
  EXPECT_EQ(wrong.Value(), 0);
  EXPECT_EQ(r.Render(), "");
  Counter detached;
  detached.Inc();  // no-op, no crash
  Histogram none;
  none.Observe(1);
  EXPECT_EQ(none.CountAndSum(), (std::pair<double, double>{0, 0}));
}

TEST(RegistryTest, RegistrationRefusesBadNames) {
  Registry r;
  EXPECT_TRUE(r.AddCounter("ok_name:sub", "", {"label_1"}).ok());
  EXPECT_TRUE(r.AddCounter("_x", "").ok());
  for (const char* bad : {"", "1abc", "a-b", "a b", "é"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(r.AddCounter(bad, "").status())) << bad;
  }
  for (const char* bad : {"", "1a", "a:b", "__reserved", "a-b"}) {
    EXPECT_TRUE(absl::IsInvalidArgument(r.AddGauge("g1", "", {bad}).status())) << bad;
  }
  EXPECT_TRUE(absl::IsInvalidArgument(r.AddCounter("c1", "", {"a", "a"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(r.AddHistogram("h1", "", {1}, {"le"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(r.AddHistogram("h1", "", {2, 1}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(r.AddHistogram("h1", "", {1, 1}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(
      r.AddCallback(Type::kHistogram, "h1", "", {}, [] { return std::vector<Sample>{}; })));
  EXPECT_TRUE(absl::IsInvalidArgument(
      r.AddCallback(Type::kGauge, "bad-name", "", {}, [] { return std::vector<Sample>{}; })));
  // A refused registration takes no name.
  EXPECT_TRUE(r.AddCounter("c1", "", {"a"}).ok());
}

TEST(RegistryTest, RegistrationRefusesATakenNameWhateverItsType) {
  Registry r;
  ASSERT_TRUE(r.AddCounter("dup", "D.").ok());
  EXPECT_TRUE(absl::IsAlreadyExists(r.AddCounter("dup", "D.").status()));
  EXPECT_TRUE(absl::IsAlreadyExists(r.AddGauge("dup", "D.").status()));
  EXPECT_TRUE(absl::IsAlreadyExists(r.AddHistogram("dup", "D.", {1}).status()));
  EXPECT_TRUE(absl::IsAlreadyExists(
      r.AddCallback(Type::kGauge, "dup", "D.", {}, [] { return std::vector<Sample>{}; })));
}

TEST(RegistryDeathTest, MustRegisterEndsTheProcessWithTheReason) {
  EXPECT_DEATH(
      {
        Registry r;
        MustRegister(r.AddCounter("dup", ""));
        MustRegister(r.AddCounter("dup", ""));
      },
      "dup is already registered");
}

TEST(RegistryTest, CallbackSamplesWithTheWrongLabelCountAreSkipped) {
  Registry r;
  MustRegister(r.AddCallback(Type::kCounter, "relists_total", "R.", {"resource", "reason"}, [] {
    return std::vector<Sample>{{{"pods", "gone"}, 1}, {{"pods"}, 2}, {{"coderuns", "error"}, 0}};
  }));
  EXPECT_EQ(r.Render(),
            "# HELP relists_total R.\n# TYPE relists_total counter\n"
            "relists_total{resource=\"pods\",reason=\"gone\"} 1\n"
            "relists_total{resource=\"coderuns\",reason=\"error\"} 0\n");
}

TEST(RegistryTest, HistogramCountAndSumPerLabels) {
  Registry r;
  HistogramFamily* h = MustRegister(r.AddHistogram("h", "H.", {1, 10}, {"a"}));
  h->WithLabels({"x"}).Observe(2);
  h->WithLabels({"x"}).Observe(3);
  EXPECT_EQ(r.HistogramCountAndSum("h", {{"a", "x"}}), (std::pair<double, double>{2, 5}));
  EXPECT_EQ(r.HistogramCountAndSum("h", {{"a", "y"}}), (std::pair<double, double>{0, 0}));
  EXPECT_EQ(r.HistogramCountAndSum("h", {{"b", "x"}}), (std::pair<double, double>{0, 0}));
  EXPECT_EQ(r.HistogramCountAndSum("nope"), (std::pair<double, double>{0, 0}));
  EXPECT_EQ(r.CounterValue("h", {{"a", "x"}}), 0) << "not a counter";
  EXPECT_EQ(r.Render().find("h_bucket{a=\"y\""), std::string::npos)
      << "reading for a test creates no child";
}

TEST(RegistryTest, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(RenderLabels({{"a", "x\"y\\z\n"}}), "{a=\"x\\\"y\\\\z\\n\"}");
  Registry r;
  MustRegister(r.AddCounter("c_total", "back\\slash\nnewline \"quoted\""))->WithLabels().Inc();
  EXPECT_TRUE(Has(r.Render(), "# HELP c_total back\\\\slash\\nnewline \"quoted\"\n"));
}

TEST(RegistryTest, ConcurrentUpdatesAndRendersLoseNothing) {
  Registry r;
  CounterFamily* c = MustRegister(r.AddCounter("c_total", "C.", {"worker"}));
  HistogramFamily* h = MustRegister(r.AddHistogram("h", "H.", {0.5}, {"worker"}));
  constexpr int kThreads = 8, kPerThread = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string shared = "all", own = std::to_string(t % 2);
      for (int i = 0; i < kPerThread; ++i) {
        c->WithLabels({shared}).Inc();
        c->WithLabels({own}).Inc();
        h->WithLabels({shared}).Observe(1);
      }
    });
  }
  std::thread renderer([&] {
    for (int i = 0; i < 50; ++i) r.Render();
  });
  for (auto& t : threads) t.join();
  renderer.join();
  EXPECT_EQ(r.CounterValue("c_total", {{"worker", "all"}}), kThreads * kPerThread);
  EXPECT_EQ(r.CounterValue("c_total", {{"worker", "0"}}) + r.CounterValue("c_total", {{"worker", "1"}}),
            kThreads * kPerThread);
  EXPECT_EQ(r.HistogramCountAndSum("h", {{"worker", "all"}}).first, kThreads * kPerThread);
  EXPECT_TRUE(Has(r.Render(), "h_bucket{worker=\"all\",le=\"+Inf\"} 160000\n"));
}

TEST(RegistryTest, ConcurrentRegistrationGivesEachNameOneWinner) {
  Registry r;
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      if (r.AddCounter("race_total", "R.").ok()) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners, 1);
}

}  // namespace
}  // namespace coderun::metrics
