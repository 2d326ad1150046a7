// The namespace's deny-all NetworkPolicy for run Pods, and the check that no other policy
// opens a hole in it (policies are additive: any allow rule selecting run Pods wins).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kube/client.h"
#include "reconcile/types.h"

namespace coderun::reconcile {

// Page size of the NetworkPolicy informer's lists. Policies are parsed whole (see
// NetworkPolicyDropKeys), so one page is the transient memory of a relist: ten policies of
// 1.4 MB (ipBlock.except lists) are 14 MB of text and about 58 MB parsed.
inline constexpr int kNetworkPolicyPageSize = 10;

// The spec every managed deny-all policy must have (built once; every decoded policy is
// compared with it).
const kube::json& DenyAllSpec();
// The whole object to create in `ns`.
kube::json BuildDenyAllPolicy(const std::string& ns);

// True if `policy` carries the managed-by label and its spec is exactly DenyAllSpec().
bool IsIntactDenyAll(const NetworkPolicy& policy);

// True if a label selector (metav1.LabelSelector JSON) may select a run Pod, whose labels are
// exactly managed-by=coderun-controller and coderun.dev/uid=<some uid>. Unknown operators are
// taken as "may select" (refusing a run is the safe side).
bool SelectorMaySelectRunPods(const kube::json& selector);

// If a policy other than ours selects run Pods (NetworkPolicy::selects_run_pods) and has any
// ingress or egress rule, returns one line naming the first such policy and why runs are
// refused. Rules count whatever policyTypes says (refusing a run is the safe side).
std::optional<std::string> FindConflict(const std::vector<const NetworkPolicy*>& policies);

}  // namespace coderun::reconcile
