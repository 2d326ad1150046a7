#include "app/options.h"

#include <gtest/gtest.h>

#include <vector>

namespace coderun::app {
namespace {

absl::StatusOr<Options> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "coderun-controller");
  return ParseOptions(static_cast<int>(args.size()), args.data());
}

TEST(OptionsTest, PlacementIsUnsetByDefault) {
  auto o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->settings.runtime_class_name, "");
  EXPECT_EQ(o->settings.priority_class_name, "");
  EXPECT_TRUE(o->settings.image_pull_secrets.empty());
  EXPECT_TRUE(o->settings.node_selector.empty());
  EXPECT_TRUE(o->settings.tolerations.is_array() && o->settings.tolerations.empty());
}

TEST(OptionsTest, PlacementFlagsReachTheSettings) {
  auto o = Parse({"--runtime-class-name", "gvisor", "--image-pull-secret", "regcred",
                  "--image-pull-secret", "mirror", "--node-selector", "pool=sandbox",
                  "--node-selector", "kubernetes.io/arch=amd64", "--tolerations",
                  R"([{"key":"sandbox","operator":"Exists","effect":"NoSchedule"}])",
                  "--priority-class-name", "coderun-low", "--runner-image", "r:1"});
  ASSERT_TRUE(o.ok()) << o.status();
  const reconcile::Settings& s = o->settings;
  EXPECT_EQ(s.runtime_class_name, "gvisor");
  EXPECT_EQ(s.image_pull_secrets, (std::vector<std::string>{"regcred", "mirror"}));
  EXPECT_EQ(s.node_selector.size(), 2u);
  EXPECT_EQ(s.node_selector.at("pool"), "sandbox");
  EXPECT_EQ(s.node_selector.at("kubernetes.io/arch"), "amd64");
  ASSERT_EQ(s.tolerations.size(), 1u);
  EXPECT_EQ(s.tolerations[0]["key"], "sandbox");
  EXPECT_EQ(s.priority_class_name, "coderun-low");
  EXPECT_EQ(s.runner_image, "r:1");
}

TEST(OptionsTest, BadPlacementFlagsAreInvalidArgumentWithOneLine) {
  for (auto args : std::vector<std::vector<const char*>>{
           {"--node-selector", "pool"},
           {"--node-selector", "pool=a=b"},
           {"--tolerations", "[{"},
           {"--tolerations", R"({"key":"a"})"},
           {"--runtime-class-name", "Not_A_Name"},
       }) {
    auto o = Parse(args);
    ASSERT_FALSE(o.ok()) << args[0] << " " << args[1];
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(o.status().message());
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(message.rfind(args[0], 0), 0u) << message;
  }
}

TEST(OptionsTest, AdmissionBoundsHaveDefaultsAndAreSettable) {
  auto o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->settings.max_starting_runs, 20);
  EXPECT_EQ(o->settings.max_running_runs, 0);
  EXPECT_EQ(o->settings.max_running_runs_per_namespace, 0);
  EXPECT_EQ(o->settings.max_queued_seconds, 0);
  o = Parse({"--max-starting-runs", "7", "--max-running-runs", "50",
             "--max-running-runs-per-namespace", "5", "--max-queued-seconds", "600"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->settings.max_starting_runs, 7);
  EXPECT_EQ(o->settings.max_running_runs, 50);
  EXPECT_EQ(o->settings.max_running_runs_per_namespace, 5);
  EXPECT_EQ(o->settings.max_queued_seconds, 600);
  for (std::vector<const char*> bad : {std::vector<const char*>{"--max-starting-runs", "0"},
                                       {"--max-running-runs", "-1"},
                                       {"--max-queued-seconds", "soon"}}) {
    auto refused = Parse(bad);
    ASSERT_FALSE(refused.ok()) << bad[0];
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(refused.status().message()).find(bad[0]), std::string::npos)
        << refused.status();
  }
}

TEST(OptionsTest, HttpClientIsBeastUnlessCpprestsdkIsAskedFor) {
  auto o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->http_client, kube::HttpLibrary::kBeast);
  o = Parse({"--http-client", "cpprestsdk"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->http_client, kube::HttpLibrary::kCpprestsdk);
  EXPECT_EQ(Parse({"--http-client", "curl"}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OptionsTest, TtlMaximumDefaultsToSevenDaysAndIsSettable) {
  auto o = Parse({});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->settings.max_ttl_seconds_after_finished, 604800);
  EXPECT_GE(o->settings.max_ttl_seconds_after_finished, o->settings.default_ttl_seconds);
  o = Parse({"--max-ttl-seconds-after-finished", "3600", "--default-ttl", "3600"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->settings.max_ttl_seconds_after_finished, 3600);
  EXPECT_EQ(o->settings.default_ttl_seconds, 3600);
}

TEST(OptionsTest, TtlMaximumBelowTheDefaultTtlIsRefused) {
  for (auto args : std::vector<std::vector<const char*>>{
           {"--max-ttl-seconds-after-finished", "3600"},  // default TTL is 86400
           {"--max-ttl-seconds-after-finished", "100", "--default-ttl", "101"},
       }) {
    auto o = Parse(args);
    ASSERT_FALSE(o.ok()) << args[1];
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(o.status().message());
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_EQ(message.rfind("--max-ttl-seconds-after-finished", 0), 0u) << message;
    EXPECT_NE(message.find("--default-ttl"), std::string::npos) << message;
  }
  EXPECT_FALSE(Parse({"--max-ttl-seconds-after-finished", "-1"}).ok());
}

}  // namespace
}  // namespace coderun::app
