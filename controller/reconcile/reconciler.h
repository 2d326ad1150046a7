// The CodeRun reconciler: level-triggered and idempotent. Given a key it re-reads the
// CodeRun and its Pod from the caches, decides, and writes; it is safe to run again at any
// point, after a crash, or twice.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "events/recorder.h"
#include "kube/client.h"
#include "metrics/registry.h"
#include "reconcile/settings.h"
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
};

struct Result {
  absl::Status error;  // non-OK: retry with backoff
  std::optional<std::chrono::milliseconds> requeue_after;
  std::string outcome;  // for metrics and logs: "created", "status", "finished", "noop", ...
};

// Work-queue keys: "ns/name" for a CodeRun, "netpol:ns" to re-check a namespace's policy.
std::string NetworkPolicyKey(const std::string& ns);

class Reconciler {
 public:
  // `metrics` (may be null) gets coderun_runs_finished_total{phase,reason} once per run, when
  // its terminal status is written, and coderun_run_duration_seconds (startTime to
  // completionTime) for runs that started.
  Reconciler(kube::Client& client, Caches caches, const Settings& settings,
             UidAllocator& uids, events::EventSink& events, Clock& clock,
             metrics::Registry* metrics = nullptr);

  Result Reconcile(const std::string& key);

 private:
  Result ReconcileRun(const CodeRun& run);
  Result Finished(const CodeRun& run);
  Result Start(const CodeRun& run, const ValidLimits& limits);
  Result Observe(const CodeRun& run, const Pod& pod, const ValidLimits& limits);
  // Completes a terminal status from the runner's report in the Pod log. A transient read
  // error is returned (retry) for a while after the Pod ended; after that, or when the report
  // is missing or cut short, `from_pod` stands, with the reason in its message.
  absl::StatusOr<struct RunStatus> WithReport(const CodeRun& run, const Pod& pod,
                                              const ValidLimits& limits, RunStatus from_pod);
  Result PodMissing(const CodeRun& run);
  // A Pod with the run's name that the run does not own: reported, left alone, run failed.
  Result NameTaken(const CodeRun& run, const std::string& pod_name);
  // Ensures the deny-all policy of `ns` is in place. Returns a conflict message if another
  // policy lets run Pods talk.
  absl::StatusOr<std::optional<std::string>> EnsureNetworkPolicy(const std::string& ns);
  // Pending while waiting for room; Failed once the pending deadline has passed.
  Result Waiting(const CodeRun& run, std::string reason, std::string message,
                 const std::string& pod_name = "");
  Result WriteStatus(const CodeRun& run, const struct RunStatus& desired, std::string outcome);
  // Counts a run whose terminal status was just written at `completed` (Unix seconds).
  void CountFinished(const CodeRun& run, const struct RunStatus& desired, std::int64_t completed);
  absl::Status Cleanup(const CodeRun& run);
  // Own status writes the CodeRun cache has not shown yet. A reconcile that still sees the
  // version a write replaced would decide from a state older than that write, and its
  // patch would be refused (409) after a wasted log read; it waits for the write's watch
  // event instead, which queues the key again.
  void NoteWrite(const CodeRun& run, const kube::json& written);
  bool CacheBehindOwnWrite(const std::string& key, const CodeRun* cached);

  void Event(const CodeRun& run, const char* type, const char* reason,
             const std::string& message);
  std::int64_t NowUnix() const;

  kube::Client& client_;
  Caches caches_;
  const Settings settings_;
  UidAllocator& uids_;
  events::EventSink& events_;
  Clock& clock_;
  metrics::Registry* const metrics_;  // may be null

  std::mutex writes_mu_;
  // CodeRun key -> the resourceVersion its last status write replaced; dropped once the
  // cache shows any other version (or no object).
  std::unordered_map<std::string, std::string> written_over_;
};

}  // namespace coderun::reconcile
