// The namespace's deny-all NetworkPolicy for run Pods, and the check that no other policy
// opens a hole in it (policies are additive: any allow rule selecting run Pods wins).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kube/client.h"
#include "reconcile/types.h"

namespace coderun::reconcile {

// The spec every managed deny-all policy must have.
kube::json DenyAllSpec();
// The whole object to create in `ns`.
kube::json BuildDenyAllPolicy(const std::string& ns);

// True if `policy` is our deny-all policy exactly as it should be.
bool IsIntactDenyAll(const NetworkPolicy& policy);

// True if a label selector (metav1.LabelSelector JSON) may select a run Pod, whose labels are
// exactly managed-by=coderun-controller and coderun.dev/uid=<some uid>. Unknown operators are
// taken as "may select" (refusing a run is the safe side).
bool SelectorMaySelectRunPods(const kube::json& selector);

// If a policy other than ours selects run Pods and has any ingress or egress rule, returns
// one line naming it and why runs are refused.
std::optional<std::string> FindConflict(const std::vector<const NetworkPolicy*>& policies);

}  // namespace coderun::reconcile
