// Kueue admission for CodeRuns labelled kueue.x-k8s.io/queue-name (controller flag --kueue):
// Kueue's external-framework contract, spoken directly. The controller creates one
// kueue.x-k8s.io/v1beta2 Workload per run (owned by the run, named like its Pod, queued in
// the labelled LocalQueue, one pod set with the runner's requests), creates the run's
// Secret and Pod only once Kueue has set Admitted=True (applying the assigned
// ResourceFlavors' node labels and tolerations), and sets Finished=True on the Workload
// when the run ends, which gives its quota back. A Workload Kueue evicts before the Pod
// exists is replaced (the run queues again); evicted while the Pod lives, the Pod is deleted
// and the run fails (PodFailed). A deactivated Workload (spec.active false) holds its run
// queued until it is activated again. docs/controller.md "Kueue" has the whole contract.
#pragma once

#include <optional>
#include <string>

#include "kube/client.h"
#include "reconcile/settings.h"
#include "reconcile/types.h"
#include "reconcile/validate.h"

namespace coderun::reconcile {

inline const kube::Resource kWorkloads{"kueue.x-k8s.io", "v1beta2", "workloads", true};
inline const kube::Resource kResourceFlavors{"kueue.x-k8s.io", "v1beta2", "resourceflavors",
                                              false};

// The run is Kueue's to admit: the controller runs with --kueue and the run names a queue.
inline bool KueueManaged(const CodeRun& run, const Settings& settings) {
  return settings.kueue && !run.queue_name.empty();
}

// spec.podSets of the run's Workload: one set "main" of one Pod whose template holds what
// Kueue counts against quota: the runner container's requests and the platform's placement
// (runtime class: its overhead; node selector and tolerations: flavor fit).
kube::json WorkloadPodSets(const CodeRun& run, const ValidLimits& limits, const Settings& settings);

// The run's Workload, with `pod_sets` (WorkloadPodSets) and the run's queue.
kube::json BuildWorkload(const CodeRun& run, const kube::json& pod_sets);

// Why `workload` (found under the run's Workload name and owned by it) is not the Workload the
// controller would build for `run`: another queue, other pod sets. nullopt when
// it is. Someone who may create Workloads next to the runs could otherwise queue a run in a
// LocalQueue of their choosing or under a smaller request.
std::optional<std::string> WorkloadMismatch(const Workload& workload, const CodeRun& run,
                                            const kube::json& pod_sets);

// A merge patch for workloads/status that adds Finished=True (reason Succeeded or Failed) to
// the stored conditions, guarded by the cached resourceVersion (a JSON merge patch replaces
// the whole list; the guard makes a concurrent change of Kueue's a 409 and a retry).
kube::json FinishedPatch(const Workload& workload, bool succeeded, const std::string& message,
                         const std::string& now);

// Adds a ResourceFlavor's spec.nodeLabels (as nodeSelector entries, overriding the same key)
// and spec.tolerations to a Pod spec.
void AddFlavorPlacement(const kube::json& flavor, kube::json& pod_spec);

}  // namespace coderun::reconcile
