// The CodeRun resource (coderun.dev/v1alpha1) as the controller reads and writes it: the
// names of phases, status reasons and conditions, the run Pod's runner container, and the
// spec defaults. crds/coderun.dev_coderuns.yaml is the schema; its `default:` values and
// the k*Default* constants below must agree (a unit test reads the CRD to check).
#pragma once

#include <cstdint>

namespace coderun::api {

// status.phase
inline constexpr char kPhasePending[] = "Pending";
inline constexpr char kPhaseRunning[] = "Running";
inline constexpr char kPhaseSucceeded[] = "Succeeded";
inline constexpr char kPhaseFailed[] = "Failed";

// status.reason: while Pending or Running.
inline constexpr char kReasonQueued[] = "Queued";  // waiting for a start slot: no Pod yet
inline constexpr char kReasonPodPending[] = "PodPending";  // created, waiting to start
inline constexpr char kReasonUnschedulable[] = "Unschedulable";
inline constexpr char kReasonQuotaExceeded[] = "QuotaExceeded";
inline constexpr char kReasonNoUidAvailable[] = "NoUidAvailable";
inline constexpr char kReasonNetworkPolicyConflict[] = "NetworkPolicyConflict";
inline constexpr char kReasonRunning[] = "Running";
// status.reason: terminal.
inline constexpr char kReasonCompleted[] = "Completed";  // the one Succeeded reason
inline constexpr char kReasonNonZeroExit[] = "NonZeroExit";
inline constexpr char kReasonKilled[] = "Killed";
inline constexpr char kReasonTimeLimitExceeded[] = "TimeLimitExceeded";
inline constexpr char kReasonMemoryLimitExceeded[] = "MemoryLimitExceeded";
inline constexpr char kReasonPodFailed[] = "PodFailed";
inline constexpr char kReasonInvalidSpec[] = "InvalidSpec";
// Waited longer than the controller's --max-queued-seconds for a start slot.
inline constexpr char kReasonQueueTimeout[] = "QueueTimeout";

// status.conditions[].type: True once the run is terminal.
inline constexpr char kConditionFinished[] = "Finished";
// kstatus' conditions (sigs.k8s.io/cli-utils kstatus): Reconciling is True while the run is
// not finished (tools read it as InProgress), Stalled is True once it failed (Failed);
// neither once it succeeded (Current).
inline constexpr char kConditionReconciling[] = "Reconciling";
inline constexpr char kConditionStalled[] = "Stalled";

// The run Pod's container that runs the runner (whose log holds the report).
inline constexpr char kRunnerContainer[] = "runner";

// spec.language values.
inline constexpr char kLanguagePython[] = "python";

// Spec defaults: what the apiserver fills in from the CRD's schema, and what the
// controller's decoder assumes when a field is missing anyway (an object stored before the
// default existed).
inline constexpr const char* kDefaultLanguage = kLanguagePython;
inline constexpr std::int64_t kDefaultTimeoutSeconds = 10;
inline constexpr char kDefaultCpu[] = "1";
inline constexpr char kDefaultMemory[] = "256Mi";
inline constexpr std::int64_t kDefaultPids = 50;
inline constexpr std::int64_t kDefaultOutputBytes = 65536;
inline constexpr std::int64_t kDefaultPriority = 0;

}  // namespace coderun::api
