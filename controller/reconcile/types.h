// Slim, typed views of the objects the controller caches. Decoded once on arrival from the
// informers' JSON; big fields (code, stdin, output, managedFields) are never kept.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "api/coderun.h"
#include "kube/client.h"

namespace coderun::reconcile {

inline constexpr char kManagedByLabel[] = "app.kubernetes.io/managed-by";
inline constexpr char kManagedByValue[] = "coderun-controller";
inline constexpr char kUidLabel[] = "coderun.dev/uid";
inline constexpr char kNetworkPolicyName[] = "coderun-deny-all";
// A CodeRun carrying this label is admitted by Kueue (when the controller runs with
// --kueue): the value names a LocalQueue in the run's namespace.
inline constexpr char kQueueNameLabel[] = "kueue.x-k8s.io/queue-name";

// Paths dropped while parsing CodeRuns for the cache (see kube::DropKeys): code, stdin,
// args, stdout, stderr, managedFields and annotations (kubectl's last-applied copy holds
// the whole spec), and of each judge test case (spec.tests[*]) its name, stdin, args and
// expectedStdout, and status.tests (the cases' results) whole. The
// reconciler reads the spec's texts with one GET when it creates the run's Secret, and
// again when it judges the runner's report.
const kube::DropKeys& CodeRunDropKeys();
// Paths dropped while parsing Pods for the cache: /metadata/managedFields and
// /metadata/annotations.
const kube::DropKeys& MetadataDropKeys();

// spec.limits. DecodeCodeRun fills a missing field with its api::kDefault* value; a Limits
// not made by it has no defaults.
struct Limits {
  std::int64_t timeout_seconds = 0;
  std::string cpu;  // quantities as written (a JSON number as its text); validated later
  std::string memory;
  std::int64_t pids = 0;
  std::int64_t output_bytes = 0;
};

// Judge mode (docs/judge-mode.md): spec.tests, spec.compare and spec.stopOnFirstFailure as
// the cache keeps them. The cases' texts (name, stdin, args, expectedStdout) are dropped
// while parsing; what is left is a summary of the case timeouts, a few bytes per run.
struct JudgeSpec {
  std::int64_t cases = 0;  // spec.tests' length; 0: a plain run
  // Each case's timeoutSeconds, or limits.timeoutSeconds where it has none.
  std::int64_t timeout_sum_seconds = 0;
  std::int64_t min_case_timeout_seconds = 0;
  std::int64_t max_case_timeout_seconds = 0;
  std::string compare_mode;  // spec.compare.mode as written; DecodeCodeRun: the default when missing
  double absolute_tolerance = 0;
  double relative_tolerance = 0;
  bool stop_on_first_failure = false;
};

// What the controller needs of a CodeRun.
struct CodeRun {
  // Kept small: 10,000 finished runs must fit in a few MiB. Times are Unix seconds, 0 = unset.
  std::string ns, name, uid, resource_version;
  std::int64_t creation_time = 0;
  std::int64_t generation = 0;
  bool deleting = false;  // metadata.deletionTimestamp set
  std::string language;  // DecodeCodeRun: api::kDefaultLanguage when missing
  Limits limits;
  JudgeSpec judge;  // judge.cases == 0 for a run without spec.tests
  std::optional<std::int64_t> ttl_seconds_after_finished;
  std::string queue_name;  // label kueue.x-k8s.io/queue-name
  std::int64_t priority = 0;  // spec.priority: order within the namespace's queue
  // Status as last written.
  std::string phase, reason, message, pod_name;
  // metadata.uid of the Pod the controller created for this run (status.podUID): only that
  // Pod may produce the run's result.
  std::string pod_uid;
  std::optional<std::int64_t> queue_position;  // status.queuePosition, while Queued
  // status.nextCase: a judge run whose container the kernel OOM-killed as a whole goes on in
  // a new Pod from this case (0-based); status.tests then holds the cases before it.
  std::int64_t next_case = 0;
  // status.warmPool: the pool whose warm Pod the run claimed (kept after the run leaves it:
  // such a run never claims again); status.inputDigest: the digest of the request the
  // controller delivered to that Pod (the report must carry it).
  std::string warm_pool, input_digest;
  std::int64_t start_time = 0, completion_time = 0;
  std::optional<std::int64_t> exit_code;
  std::int64_t observed_generation = 0;
  std::string finished_condition_status;  // "True", "False" or "" (absent)
  std::int64_t finished_condition_time = 0;  // its lastTransitionTime

  bool Terminal() const { return phase == api::kPhaseSucceeded || phase == api::kPhaseFailed; }
  bool Judged() const { return judge.cases > 0; }

  std::string Key() const { return ns + "/" + name; }
};

struct ContainerTerminated {
  std::int32_t exit_code = 0;
  std::int32_t signal = 0;
  std::string reason, message, started_at, finished_at;
};

struct ContainerWaiting {
  std::string reason, message;
};

// What the controller needs of a run Pod (only Pods with the managed-by label are watched).
struct Pod {
  std::string ns, name, uid, creation_timestamp;
  bool deleting = false;
  std::string run_uid_label;                // label coderun.dev/uid
  std::string controller_uid;               // controller ownerReference's uid, if any
  std::string controller_kind;              // its kind
  std::string controller_name;              // its name (the CodeRun's, for runs)
  std::optional<std::int64_t> run_as_user;  // pod securityContext.runAsUser
  std::string phase, reason, message, start_time;
  // Condition PodScheduled=False, e.g. reason Unschedulable.
  std::string unschedulable_message;
  bool has_unschedulable = false;
  std::optional<ContainerTerminated> terminated;  // the runner container's final state
  std::optional<ContainerWaiting> waiting;        // e.g. ErrImagePull, CreateContainerConfigError
  bool running = false;
  std::string running_started_at;
};

// Paths dropped while parsing NetworkPolicies: those of MetadataDropKeys. The spec is parsed
// whole (a path names one field, so a podSelector.matchLabels entry named "annotations"
// stays) and reduced to a NetworkPolicy summary at decode time; list pages stay small
// (kNetworkPolicyPageSize) so that one page bounds the transient memory.
const kube::DropKeys& NetworkPolicyDropKeys();

// A NetworkPolicy in a namespace with runs (all policies are watched: a foreign one that
// lets run Pods talk must be seen). Holds a summary of the spec, never the spec: a policy
// may be 1.5 MB (long ipBlock.except lists) and anyone with `edit` in a watched namespace
// can create many.
struct NetworkPolicy {
  std::string ns, name, uid, resource_version;
  bool managed = false;  // carries the managed-by label
  // The spec is exactly DenyAllSpec() (network_policy.h).
  bool deny_all_spec = false;
  // spec.podSelector may select a run Pod (SelectorMaySelectRunPods; a missing selector
  // selects every Pod).
  bool selects_run_pods = true;
  // spec.ingress / spec.egress hold at least one rule (any rule allows some traffic).
  bool has_ingress_rules = false;
  bool has_egress_rules = false;
};

// What the controller needs of a Kueue Workload (kueue.x-k8s.io/v1beta2; only Workloads with
// the managed-by label are watched, and only with --kueue). One per Kueue-admitted run,
// named like its Pod.
struct Workload {
  std::string ns, name, uid, resource_version;
  bool deleting = false;
  std::string controller_uid, controller_kind, controller_name;  // controller ownerReference
  std::string queue_name;                                        // spec.queueName
  bool active = true;                                            // spec.active
  kube::json pod_sets;  // spec.podSets as stored: compared with what the controller builds
  // Conditions Kueue sets (status "True"): QuotaReserved and Admitted (admission),
  // Evicted (preempted, deactivated, queue stopped), Finished.
  bool admitted = false, evicted = false, finished = false;
  std::int64_t admitted_time = 0;  // Admitted's lastTransitionTime (Unix seconds)
  std::string evicted_reason, evicted_message;
  std::vector<std::string> flavors;  // ResourceFlavors of status.admission, each once
  kube::json conditions;             // status.conditions as stored (to add Finished)
};

// The one place a missing spec field gets its default (api::kDefault*; the apiserver
// normally fills them from the CRD's schema first).
// obj[key] if it is a string, else "" (absent, null or another type).
std::string StringField(const kube::json& obj, const char* key);
// A full spec's `tests` array (judge mode), or an empty array.
const kube::json& SpecTests(const kube::json& spec);

// A spec.limits object (a CodeRun's or a CodeRunPool's), missing fields defaulted.
Limits DecodeLimits(const kube::json& limits);

absl::StatusOr<CodeRun> DecodeCodeRun(const kube::json& object);
absl::StatusOr<Pod> DecodePod(const kube::json& object);
absl::StatusOr<NetworkPolicy> DecodeNetworkPolicy(const kube::json& object);
absl::StatusOr<Workload> DecodeWorkload(const kube::json& object);

}  // namespace coderun::reconcile
