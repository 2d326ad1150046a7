// The CodeRun reconciler: level-triggered and idempotent. Given a key it re-reads the
// CodeRun and its Pod from the caches, decides, and writes; it is safe to run again at any
// point, after a crash, or twice.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "api/report.h"
#include "common/clock.h"
#include "common/context.h"
#include "events/recorder.h"
#include "kube/client.h"
#include "metrics/registry.h"
#include "reconcile/admission.h"
#include "reconcile/pool.h"
#include "reconcile/settings.h"
#include "reconcile/status.h"
#include "reconcile/types.h"
#include "reconcile/uid_allocator.h"
#include "reconcile/validate.h"

namespace coderun::reconcile {

// Read access to the informers' caches (shared, immutable objects).
struct Caches {
  std::function<std::shared_ptr<const CodeRun>(const std::string& key)> coderun;
  std::function<std::shared_ptr<const Pod>(const std::string& key)> pod;
  std::function<std::vector<std::shared_ptr<const NetworkPolicy>>(const std::string& ns)>
      policies;
  // Names of Pods labelled with this run's UID that the run does not own (reported, ignored).
  std::function<std::vector<std::string>(const std::string& run_uid)> strangers;
  // Kueue Workloads by "ns/name" (--kueue only; null without).
  std::function<std::shared_ptr<const Workload>(const std::string& key)> workload;
  // Warm pools (--warm-pools only; null without): a CodeRunPool by "ns/name", the pools of
  // a namespace, and the cached Pods whose controller ownerReference is the pool of a UID.
  std::function<std::shared_ptr<const Pool>(const std::string& key)> pool;
  std::function<std::vector<std::shared_ptr<const Pool>>(const std::string& ns)> pools;
  std::function<std::vector<std::shared_ptr<const Pod>>(const std::string& pool_uid)> pool_pods;
};

struct Result {
  absl::Status error;  // non-OK: retry with backoff
  std::optional<std::chrono::milliseconds> requeue_after;
  std::string outcome;  // for metrics and logs: "created", "status", "finished", "noop", ...
};

// Results: retry with backoff after an error; done; look again after a delay.
inline Result Error(absl::Status status) { return Result{std::move(status), std::nullopt, "error"}; }
inline Result Done(std::string outcome) {
  return Result{absl::OkStatus(), std::nullopt, std::move(outcome)};
}
inline Result After(std::chrono::milliseconds delay, std::string outcome) {
  return Result{absl::OkStatus(), std::max(delay, std::chrono::milliseconds(0)), std::move(outcome)};
}

// Work-queue keys: "ns/name" for a CodeRun, "netpol:ns" to re-check a namespace's policy,
// "pool:ns/name" for a CodeRunPool.
std::string NetworkPolicyKey(const std::string& ns);
std::string PoolKey(const std::string& ns, const std::string& name);

// The reconciler's metric families: coderun_runs_finished_total{phase,reason}, counted once
// per run when its terminal status is written, coderun_test_verdicts_total{verdict} (judge
// runs' cases, counted with it), and coderun_run_duration_seconds (startTime
// to completionTime) for runs that started, and coderun_run_latency_seconds (creation to
// completionTime, every finished run). Null families record nothing.
struct ReconcilerMetrics {
  metrics::CounterFamily* runs_finished = nullptr;
  // coderun_test_verdicts_total{verdict}: each case of a judge run, counted with the run's
  // terminal status (so once per run).
  metrics::CounterFamily* test_verdicts = nullptr;
  metrics::HistogramFamily* run_duration = nullptr;
  metrics::HistogramFamily* run_latency = nullptr;
  // coderun_pool_claims_total{result="hit"|"miss"}: runs a pool could serve (by namespace,
  // language and limits) that took a warm Pod, or found none ready and ran cold.
  metrics::CounterFamily* pool_claims = nullptr;
};
// Registers them in `registry`; once per registry (AlreadyExists otherwise).
absl::StatusOr<ReconcilerMetrics> RegisterMetrics(metrics::Registry& registry);

class Reconciler {
 public:
  // A run starts (Secret, then Pod) only once `admission` admits it; null admits every run
  // at once.
  // Every API call is made under `ctx` (plus the client's per-request timeout): the
  // controller cancels it when this replica stops leading, so no write of a former leader
  // lands after its Lease could have lapsed.
  Reconciler(kube::Client& client, Caches caches, const Settings& settings,
             UidAllocator& uids, events::EventSink& events, Clock& clock,
             ReconcilerMetrics metrics = {}, Context ctx = {}, Admission* admission = nullptr);

  Result Reconcile(const std::string& key);

 private:
  Result ReconcileRun(const CodeRun& run);
  Result Finished(const CodeRun& run);
  Result Start(const CodeRun& run, const ValidLimits& limits);
  // A Kueue-managed run before its Pod (kueue.h): its Workload created, checked, replaced
  // when evicted or not the controller's; a Result while Kueue has not admitted it.
  struct KueueAdmitted {
    std::int64_t at = 0;                  // Admitted's lastTransitionTime
    std::vector<kube::json> flavors;      // the assigned ResourceFlavors
  };
  std::variant<Result, KueueAdmitted> AwaitKueue(const CodeRun& run, const ValidLimits& limits);
  // Pending/Queued while Kueue has not admitted the run's Workload; `note` follows its name.
  Result KueueQueued(const CodeRun& run, const std::string& workload_name, const std::string& note);
  // Kueue evicted the Workload of a run whose Pod exists: the run fails, its Pod goes.
  Result KueueEvicted(const CodeRun& run, const Workload& workload);
  // Marks the run's Workload Finished (its quota goes back); nothing without one.
  absl::Status FinishWorkload(const CodeRun& run, bool succeeded, const std::string& message);
  std::shared_ptr<const Workload> WorkloadOf(const CodeRun& run) const;
  // Failed/QueueTimeout once max_queued_seconds have passed since the run's creation;
  // otherwise nullopt, with `next` cut to the time left.
  std::optional<Result> QueueTimedOut(const CodeRun& run, const std::string& still,
                                      std::chrono::milliseconds& next);
  Result Observe(const CodeRun& run, const Pod& pod, const ValidLimits& limits);
  // Completes a terminal status from the runner's report in the Pod log. A transient read
  // error is returned (retry) for a while after the Pod ended; after that, or when the report
  // is missing or cut short, `from_pod` stands, with the reason in its message.
  absl::StatusOr<struct RunStatus> WithReport(const CodeRun& run, const Pod& pod,
                                              const ValidLimits& limits, RunStatus from_pod);
  // A judge run's status from its report (no runnerError): each case judged against the
  // expected outputs of the full spec, read with a GET (its error returned; NotFound when
  // the run was replaced). A report whose cases are not the spec's is no report: `from_pod`
  // stands, as in WithReport.
  absl::StatusOr<struct RunStatus> WithVerdicts(const CodeRun& run, const Pod& pod,
                                                const api::Report& report,
                                                const ValidLimits& limits, RunStatus from_pod);
  // A judge run's full spec (expected outputs included) and, when it goes on from
  // status.nextCase, the cases judged before (status.tests): read with a GET (its error
  // returned; NotFound when the run was replaced; Unavailable while status.tests does not
  // hold exactly the cases before nextCase).
  struct JudgeInput {
    kube::json spec;
    std::vector<CaseStatus> earlier;
  };
  absl::StatusOr<JudgeInput> ReadJudgeInput(const CodeRun& run);
  // A judge run whose container was OOM-killed as a whole (the kernel's memory.oom.group on
  // cgroup v2 nodes) before the runner's report: the cases it `finished` (streamed to the
  // log) are judged, the one running then is MemoryLimitExceeded, and the run goes on from
  // the case after it in a new Pod (status.nextCase; Running) unless that was the last or
  // stopOnFirstFailure holds (then terminal, later cases Skipped).
  absl::StatusOr<struct RunStatus> AfterContainerOom(const CodeRun& run, const Pod& pod,
                                                     std::vector<api::CaseReport> finished,
                                                     const ValidLimits& limits, RunStatus from_pod);
  // The Pod of an earlier stage of a judge run that goes on from status.nextCase: it and
  // the run's Secret are deleted; the next Pod starts once it is gone.
  Result Superseded(const CodeRun& run, const Pod& pod);
  // Warm pools (warm.cc). The pool controller: keeps `size` idle warm Pods in the ledger,
  // deletes the ones that ended idle or are over size, and look-alikes it never created.
  Result ReconcilePool(const std::string& pool_key);
  // A run a pool serves takes a Ready idle warm Pod (or the one the ledger already gives
  // it), records it and delivers its request; nullopt: no pool serves it now (run cold).
  std::optional<Result> TryClaim(const CodeRun& run, const ValidLimits& limits);
  Result Deliver(const CodeRun& run, const ValidLimits& limits, const Pool& pool, const Pod& pod);
  // A run whose status records a warm Pod: finished from that Pod as a cold run is from
  // its own; a claim whose delivery was never confirmed is given up (the Pod deleted, the
  // run starts cold); a run past its deadline fails (a warm Pod has no activeDeadline).
  Result ObserveWarm(const CodeRun& run, const ValidLimits& limits);
  // The Pod the status records, or the run's own name (cold runs).
  static std::string RunPodName(const CodeRun& run);
  Result PodMissing(const CodeRun& run);
  // The Pod under the run's name is not the one the status records: the recorded one is
  // gone. Reported, never read; the run fails.
  Result Replaced(const CodeRun& run, const Pod& pod);
  // A Pod owned by the run that no status records and this process did not create: deleted
  // (never read) so that the run starts in a Pod the controller created.
  Result Unrecorded(const CodeRun& run, const Pod& pod);
  // Creates the run's Secret, replacing one of that name the controller did not create.
  absl::Status CreateSecret(const CodeRun& run, const struct RunInput& input);
  // metadata.uid of the Pod this process created for `run` and has not yet seen recorded.
  std::string CreatedHere(const CodeRun& run);
  void Forget(const CodeRun& run);
  // A Pod with the run's name that the run does not own: reported, left alone, run failed.
  Result NameTaken(const CodeRun& run, const std::string& pod_name);
  // Ensures the deny-all policy of `ns` is in place. Returns a conflict message if another
  // policy lets run Pods talk.
  absl::StatusOr<std::optional<std::string>> EnsureNetworkPolicy(const std::string& ns);
  // Pending while waiting for room; Failed once max_pending_seconds have passed `since`
  // (Unix seconds; 0 = now).
  Result Waiting(const CodeRun& run, std::string reason, std::string message, std::int64_t since,
                 const std::string& pod_name = "", const std::string& pod_uid = "");
  // Pending/Queued with the run's place, written again when the place has fallen to a quarter; Failed
  // with QueueTimeout once max_queued_seconds have passed since the run's creation.
  Result Queued(const CodeRun& run, const QueuePlace& place);
  Result WriteStatus(const CodeRun& run, const struct RunStatus& desired, std::string outcome);
  // A Pending status: written if it differs from the run's, and looked at again after
  // `recheck` either way.
  Result WriteWaiting(const CodeRun& run, const struct RunStatus& desired,
                      std::chrono::milliseconds recheck, const char* outcome);
  // A status the store refuses even at its smallest: the run's Pod and Secret are deleted and
  // the run is left alone (remembered by this process).
  Result Unwritable(const CodeRun& run, const absl::Status& error);
  // Patches the status; a terminal status refused because the object would be too large to
  // store is written again smaller (output cut to a quarter, then dropped, then the bare
  // outcome), each time saying so in the message.
  absl::StatusOr<kube::json> PatchStatus(const CodeRun& run, const struct RunStatus& desired,
                                         const std::string& now);
  // Counts a run whose terminal status was just written at `completed` (Unix seconds).
  void CountFinished(const CodeRun& run, const struct RunStatus& desired, std::int64_t completed);
  absl::Status Cleanup(const CodeRun& run);
  // This process deleted Pod `pod_uid` of `run` (Cleanup) and the cache may still show it.
  bool DeletedHere(const CodeRun& run, const std::string& pod_uid);
  // Own status writes the CodeRun cache has not shown yet. A reconcile that still sees the
  // version a write replaced would decide from a state older than that write, and its
  // patch would be refused (409) after a wasted log read; it waits for the write's watch
  // event instead, which queues the key again.
  // `key`: a CodeRun's "ns/name" or a pool's PoolKey; `replaced`: the resourceVersion the
  // write was made over; `cached_version`: what the cache shows (null: no object).
  void NoteWrite(const std::string& key, const std::string& replaced, const kube::json& written);
  bool CacheBehindOwnWrite(const std::string& key, const std::string* cached_version);

  void Event(const CodeRun& run, const char* type, const char* reason,
             const std::string& message);
  std::int64_t NowUnix() const;

  kube::Client& client_;
  const Context ctx_;
  Caches caches_;
  const Settings settings_;
  UidAllocator& uids_;
  events::EventSink& events_;
  Clock& clock_;
  const ReconcilerMetrics metrics_;
  Admission* const admission_;

  std::mutex writes_mu_;
  // CodeRun key or PoolKey -> the resourceVersion its last status write replaced; dropped
  // once the cache shows any other version (or no object).
  std::unordered_map<std::string, std::string> written_over_;
  // Guarded by writes_mu_. CodeRun UID -> metadata.uid of the Pod this process created for
  // it, until the run is terminal. Lets a reconcile whose status write failed trust the Pod
  // it just created; after a restart only the status record counts.
  std::unordered_map<std::string, std::string> created_;
  std::unordered_set<std::string> unwritable_;  // guarded by writes_mu_: CodeRun UIDs
  // Guarded by writes_mu_. Workload key -> the resourceVersion this process's Finished
  // patch replaced, until the cache shows another version: no second patch from a stale
  // cache (it would only be refused).
  std::unordered_map<std::string, std::string> finished_over_;
  // Guarded by writes_mu_. CodeRun UID -> metadata.uid of the Pod Cleanup deleted, until the
  // cache no longer shows a live Pod of the run (or the run expires).
  std::unordered_map<std::string, std::string> deleted_pods_;

};

}  // namespace coderun::reconcile
