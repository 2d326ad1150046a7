#include "reconcile/network_policy.h"

#include <malloc.h>

#include <gtest/gtest.h>

namespace coderun::reconcile {
namespace {

using kube::json;

// A NetworkPolicy object in namespace "ns" as the apiserver would send it.
json PolicyObject(const std::string& name, json spec, bool managed = false) {
  json meta = {{"name", name}, {"namespace", "ns"}, {"uid", "u-" + name},
               {"resourceVersion", "1"}};
  if (managed) meta["labels"] = {{kManagedByLabel, kManagedByValue}};
  return {{"metadata", std::move(meta)}, {"spec", std::move(spec)}};
}

// The cached form of that object: what the informer keeps.
NetworkPolicy Policy(const std::string& name, json spec, bool managed = false) {
  absl::StatusOr<NetworkPolicy> p = DecodeNetworkPolicy(PolicyObject(name, std::move(spec), managed));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : NetworkPolicy();
}

// An ingress rule from 10.0.0.0/8 except `n` /32 addresses: about 16 bytes of JSON each.
json IngressExcept(int n) {
  json except = json::array();
  for (int i = 0; i < n; ++i) {
    except.push_back("10." + std::to_string(i >> 16 & 255) + "." + std::to_string(i >> 8 & 255) +
                     "." + std::to_string(i & 255) + "/32");
  }
  return json::array(
      {{{"from", json::array({{{"ipBlock", {{"cidr", "10.0.0.0/8"}, {"except", except}}}}})}}});
}

TEST(NetworkPolicyTest, DenyAllSelectsRunPodsWithNoRules) {
  json np = BuildDenyAllPolicy("ns");
  EXPECT_EQ(np["metadata"]["name"], "coderun-deny-all");
  EXPECT_EQ(np["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/managed-by"],
            "coderun-controller");
  EXPECT_EQ(np["spec"]["policyTypes"], json::array({"Ingress", "Egress"}));
  EXPECT_FALSE(np["spec"].contains("ingress"));
  EXPECT_FALSE(np["spec"].contains("egress"));
  absl::StatusOr<NetworkPolicy> built = DecodeNetworkPolicy(np);
  ASSERT_TRUE(built.ok()) << built.status();
  EXPECT_TRUE(IsIntactDenyAll(*built));
  EXPECT_TRUE(IsIntactDenyAll(Policy("coderun-deny-all", DenyAllSpec(), true)));
  EXPECT_FALSE(IsIntactDenyAll(Policy("coderun-deny-all", DenyAllSpec(), false)));
}

TEST(NetworkPolicyTest, EveryAlterationOfTheDenyAllIsSeen) {
  auto altered = [](auto change) {
    json spec = DenyAllSpec();
    change(spec);
    return IsIntactDenyAll(Policy("coderun-deny-all", spec, true));
  };
  EXPECT_FALSE(altered([](json& s) { s["ingress"] = json::array({json::object()}); }));
  EXPECT_FALSE(altered([](json& s) { s["egress"] = IngressExcept(3); }));
  EXPECT_FALSE(altered([](json& s) { s["policyTypes"] = {"Ingress"}; }));
  EXPECT_FALSE(altered([](json& s) { s["podSelector"] = json::object(); }));
  // A narrower selector leaves run Pods unselected, hence not isolated at all.
  EXPECT_FALSE(altered([](json& s) { s["podSelector"]["matchLabels"]["tier"] = "x"; }));
  // Label keys named like fields the CodeRun and Pod caches drop while parsing.
  EXPECT_FALSE(altered([](json& s) { s["podSelector"]["matchLabels"]["annotations"] = "x"; }));
  EXPECT_FALSE(altered([](json& s) { s["podSelector"]["matchLabels"]["managedFields"] = "x"; }));
  EXPECT_FALSE(altered([](json& s) { s.erase("podSelector"); }));
  EXPECT_TRUE(altered([](json&) {}));
}

// The informer parses NetworkPolicies with NetworkPolicyDropKeys(): nothing a selector holds
// may vanish on the way, or a narrowed deny-all would read as intact; the metadata's
// managedFields and annotations go.
TEST(NetworkPolicyTest, ParsingForTheCacheKeepsEverySelectorKey) {
  json spec = DenyAllSpec();
  spec["podSelector"]["matchLabels"]["annotations"] = "x";
  spec["podSelector"]["matchLabels"]["managedFields"] = "x";
  json object = PolicyObject("coderun-deny-all", spec, true);
  object["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", "{}"}};
  object["metadata"]["managedFields"] = json::array({{{"manager", "kubectl"}}});
  absl::StatusOr<json> parsed = kube::ParseJson(object.dump(), NetworkPolicyDropKeys());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE((*parsed)["metadata"].contains("annotations"));
  EXPECT_FALSE((*parsed)["metadata"].contains("managedFields"));
  EXPECT_EQ((*parsed)["spec"], spec);
  absl::StatusOr<NetworkPolicy> p = DecodeNetworkPolicy(*parsed);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_FALSE(IsIntactDenyAll(*p));
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
  NetworkPolicy empty_rules = Policy("empty", {{"podSelector", json::object()},
                                               {"ingress", json::array()},
                                               {"egress", json::array()}});
  NetworkPolicy open = Policy("allow-all", {{"podSelector", json::object()},
                                            {"egress", json::array({json::object()})}});
  EXPECT_FALSE(FindConflict({&ours, &web, &deny, &empty_rules}).has_value());
  auto conflict = FindConflict({&ours, &web, &open});
  ASSERT_TRUE(conflict.has_value());
  EXPECT_NE(conflict->find("ns/allow-all"), std::string::npos);
}

TEST(NetworkPolicyTest, ConflictForEachShapeThatOpensRunPods) {
  const json runs = {{"matchLabels", {{kManagedByLabel, kManagedByValue}}}};
  const json web = {{"matchLabels", {{"app", "web"}}}};
  struct Case {
    const char* what;
    json spec;
    bool conflict;
  };
  const Case cases[] = {
      {"ingress rule, empty selector", {{"podSelector", json::object()}, {"ingress", IngressExcept(2)}}, true},
      {"egress rule, run selector", {{"podSelector", runs}, {"egress", json::array({json::object()})}}, true},
      {"no podSelector at all", {{"ingress", json::array({json::object()})}}, true},
      {"rules selecting other Pods", {{"podSelector", web}, {"ingress", IngressExcept(2)}}, false},
      {"run selector, no rules", {{"podSelector", runs}, {"policyTypes", {"Ingress", "Egress"}}}, false},
  };
  for (const Case& c : cases) {
    NetworkPolicy p = Policy("p", c.spec);
    EXPECT_EQ(FindConflict({&p}).has_value(), c.conflict) << c.what;
  }
  // Ours is exempt only while it carries the managed-by label.
  NetworkPolicy forged = Policy("coderun-deny-all", {{"podSelector", runs},
                                                     {"ingress", json::array({json::object()})}});
  EXPECT_TRUE(FindConflict({&forged}).has_value());
}

// A 1.5 MB policy (the most the apiserver stores) must cost the cache a few hundred bytes.
TEST(NetworkPolicyTest, SummaryOfAHugePolicyIsSmall) {
  json object = PolicyObject("huge", {{"podSelector", json::object()}, {"ingress", IngressExcept(90000)}});
  ASSERT_GT(object.dump().size(), 1400000u);
  auto heap_in_use = [] {
    struct mallinfo2 m = mallinfo2();
    return static_cast<long>(m.uordblks + m.hblkhd);  // small chunks + mmapped blocks
  };
  // Once first, so that what the decoder's function-local statics hold (allocated on first
  // use, whatever test runs first) is not counted as the policy's.
  ASSERT_TRUE(DecodeNetworkPolicy(PolicyObject("small", {{"podSelector", json::object()}})).ok());
  const long before = heap_in_use();
  absl::StatusOr<NetworkPolicy> p = DecodeNetworkPolicy(object);
  const long after = heap_in_use();
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE(p->has_ingress_rules);
  EXPECT_TRUE(FindConflict({&*p}).has_value());
  if (before == 0) GTEST_SKIP() << "mallinfo2 not available (sanitizer build)";
  EXPECT_LT(after - before, 1024) << "bytes the decoded policy keeps on the heap";
}

}  // namespace
}  // namespace coderun::reconcile
