#include "reconcile/network_policy.h"

#include "absl/strings/str_cat.h"

namespace coderun::reconcile {

using kube::json;

const json& DenyAllSpec() {
  static const json spec = {
      {"podSelector", {{"matchLabels", {{kManagedByLabel, kManagedByValue}}}}},
      {"policyTypes", {"Ingress", "Egress"}}};
  return spec;
}

json BuildDenyAllPolicy(const std::string& ns) {
  return {{"apiVersion", "networking.k8s.io/v1"},
          {"kind", "NetworkPolicy"},
          {"metadata",
           {{"name", kNetworkPolicyName},
            {"namespace", ns},
            {"labels", {{kManagedByLabel, kManagedByValue}}}}},
          {"spec", DenyAllSpec()}};
}

bool IsIntactDenyAll(const NetworkPolicy& policy) {
  return policy.managed && policy.deny_all_spec;
}

namespace {

// Value of a run Pod's label `key`: managed-by has a fixed value; the uid label has some
// value we cannot name (std::nullopt with *present = true); any other key is absent.
bool RunPodHasLabel(const std::string& key) { return key == kManagedByLabel || key == kUidLabel; }

// Whether requirement `op` on `key` with `values` may hold for some run Pod.
bool RequirementMayHold(const std::string& key, const std::string& op, const json& values) {
  auto contains = [&](const std::string& v) {
    if (!values.is_array()) return false;
    for (const auto& x : values) {
      if (x.is_string() && x.get<std::string>() == v) return true;
    }
    return false;
  };
  const bool present = RunPodHasLabel(key);
  const bool uid_key = key == kUidLabel;
  if (op == "Exists") return present;
  if (op == "DoesNotExist") return !present;
  if (op == "In") return present && (uid_key || contains(kManagedByValue));
  if (op == "NotIn") return !present || uid_key || !contains(kManagedByValue);
  return true;
}

}  // namespace

bool SelectorMaySelectRunPods(const json& selector) {
  if (!selector.is_object()) return true;
  if (auto it = selector.find("matchLabels"); it != selector.end() && it->is_object()) {
    for (const auto& [key, value] : it->items()) {
      if (key == kUidLabel) continue;  // some run Pod may carry any uid
      if (key != kManagedByLabel) return false;
      if (!value.is_string() || value.get<std::string>() != kManagedByValue) return false;
    }
  }
  if (auto it = selector.find("matchExpressions"); it != selector.end() && it->is_array()) {
    for (const auto& req : *it) {
      if (!req.is_object()) return true;
      if (!RequirementMayHold(req.value("key", ""), req.value("operator", ""),
                              req.value("values", json::array()))) {
        return false;
      }
    }
  }
  return true;
}

std::optional<std::string> FindConflict(const std::vector<const NetworkPolicy*>& policies) {
  for (const NetworkPolicy* p : policies) {
    if (p->managed && p->name == kNetworkPolicyName) continue;
    if (!p->has_ingress_rules && !p->has_egress_rules) continue;
    if (!p->selects_run_pods) continue;
    return absl::StrCat("NetworkPolicy ", p->ns, "/", p->name,
                        " selects run Pods and allows traffic; runs in namespace ", p->ns,
                        " are held until it no longer selects them");
  }
  return std::nullopt;
}

}  // namespace coderun::reconcile
