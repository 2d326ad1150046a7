#include "reconcile/network_policy.h"

#include <gtest/gtest.h>

namespace coderun::reconcile {
namespace {

using kube::json;

NetworkPolicy Policy(std::string name, json spec, bool managed = false) {
  NetworkPolicy p;
  p.ns = "ns";
  p.name = std::move(name);
  p.spec = std::move(spec);
  p.managed = managed;
  return p;
}

TEST(NetworkPolicyTest, DenyAllSelectsRunPodsWithNoRules) {
  json np = BuildDenyAllPolicy("ns");
  EXPECT_EQ(np["metadata"]["name"], "coderun-deny-all");
  EXPECT_EQ(np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/managed-by"],
            "coderun-controller");
  EXPECT_EQ(np["spec"]["policyTypes"], json::array({"Ingress", "Egress"}));
  EXPECT_FALSE(np["spec"].contains("ingress"));
  EXPECT_FALSE(np["spec"].contains("egress"));
  EXPECT_TRUE(IsIntactDenyAll(Policy("coderun-deny-all", DenyAllSpec(), true)));
  json altered = DenyAllSpec();
  altered["ingress"] = json::array({json::object()});
  EXPECT_FALSE(IsIntactDenyAll(Policy("coderun-deny-all", altered, true)));
  EXPECT_FALSE(IsIntactDenyAll(Policy("coderun-deny-all", DenyAllSpec(), false)));
}

TEST(NetworkPolicyTest, SelectorMatching) {
  EXPECT_TRUE(SelectorMaySelectRunPods(json::object()));
  EXPECT_TRUE(SelectorMaySelectRunPods({{"matchLabels", {{"app.kubernetes.io/managed-by", "coderun-controller"}}}}));
  EXPECT_TRUE(SelectorMaySelectRunPods({{"matchLabels", {{"coderun.dev/uid", "abc"}}}}));
  EXPECT_FALSE(SelectorMaySelectRunPods({{"matchLabels", {{"app", "web"}}}}));
  EXPECT_FALSE(SelectorMaySelectRunPods({{"matchLabels", {{"app.kubernetes.io/managed-by", "helm"}}}}));
  EXPECT_TRUE(SelectorMaySelectRunPods(
      {{"matchExpressions", {{{"key", "coderun.dev/uid"}, {"operator", "Exists"}}}}}));
  EXPECT_FALSE(SelectorMaySelectRunPods(
      {{"matchExpressions", {{{"key", "app"}, {"operator", "Exists"}}}}}));
  EXPECT_TRUE(SelectorMaySelectRunPods(
      {{"matchExpressions", {{{"key", "app"}, {"operator", "DoesNotExist"}}}}}));
  EXPECT_FALSE(SelectorMaySelectRunPods(
      {{"matchExpressions",
        {{{"key", "app.kubernetes.io/managed-by"}, {"operator", "NotIn"}, {"values", {"coderun-controller"}}}}}}));
}

TEST(NetworkPolicyTest, ConflictOnlyForForeignAllowRulesSelectingRuns) {
  NetworkPolicy ours = Policy("coderun-deny-all", DenyAllSpec(), true);
  NetworkPolicy web = Policy("web", {{"podSelector", {{"matchLabels", {{"app", "web"}}}}},
                                     {"ingress", json::array({json::object()})}});
  NetworkPolicy deny = Policy("deny", {{"podSelector", json::object()}, {"policyTypes", {"Ingress"}}});
  NetworkPolicy open = Policy("allow-all", {{"podSelector", json::object()},
                                            {"egress", json::array({json::object()})}});
  EXPECT_FALSE(FindConflict({&ours, &web, &deny}).has_value());
  auto conflict = FindConflict({&ours, &web, &open});
  ASSERT_TRUE(conflict.has_value());
  EXPECT_NE(conflict->find("ns/allow-all"), std::string::npos);
}

}  // namespace
}  // namespace coderun::reconcile
