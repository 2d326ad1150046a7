#include "reconcile/reconciler.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "kube/errors.h"
#include "reconcile/network_policy.h"
#include "reconcile/pod.h"
#include "reconcile/status.h"

namespace coderun::reconcile {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kNetpolPrefix[] = "netpol:";
// How long after its Pod ended a run keeps retrying a failing log read before it settles
// for the Pod's own state.
constexpr std::int64_t kLogRetrySeconds = 60;
// How often a run waiting for room (quota, UIDs) tries again.
constexpr seconds kRetryWaiting{5};
// A reconcile skipped because the cache has not shown the controller's own last write
// looks again after this, should that write's watch event be slow or lost.
constexpr seconds kStaleRecheck{1};

constexpr char kRunsFinished[] = "coderun_runs_finished_total";
constexpr char kRunDuration[] = "coderun_run_duration_seconds";
const std::vector<double> kRunDurationBuckets = {1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800};

Result Error(absl::Status status) { return Result{std::move(status), std::nullopt, "error"}; }
Result Done(std::string outcome) { return Result{absl::OkStatus(), std::nullopt, std::move(outcome)}; }
Result After(milliseconds delay, std::string outcome) {
  return Result{absl::OkStatus(), std::max(delay, milliseconds(0)), std::move(outcome)};
}

}  // namespace

std::string NetworkPolicyKey(const std::string& ns) { return kNetpolPrefix + ns; }

Reconciler::Reconciler(kube::Client& client, Caches caches, const Settings& settings,
                       UidAllocator& uids, events::EventSink& events, Clock& clock,
                       metrics::Registry* metrics)
    : client_(client),
      caches_(std::move(caches)),
      settings_(settings),
      uids_(uids),
      events_(events),
      clock_(clock),
      metrics_(metrics) {}

void Reconciler::Event(const CodeRun& run, const char* type, const char* reason,
                       const std::string& message) {
  events_.Record({"coderun.dev/v1alpha1", "CodeRun", run.ns, run.name, run.uid}, type, reason,
                 message);
}

std::int64_t Reconciler::NowUnix() const {
  return std::chrono::duration_cast<seconds>(clock_.WallNow().time_since_epoch()).count();
}

Result Reconciler::Reconcile(const std::string& key) {
  if (absl::StartsWith(key, kNetpolPrefix)) {
    auto ensured = EnsureNetworkPolicy(key.substr(sizeof(kNetpolPrefix) - 1));
    if (ensured.ok()) return Done("netpol");
    // The namespace is gone or going (its policy went with it): nothing left to guard.
    if (kube::IsNotFound(ensured.status()) ||
        (kube::IsForbidden(ensured.status()) &&
         absl::StrContains(ensured.status().message(), "being terminated"))) {
      return Done("namespace gone");
    }
    return Error(ensured.status());
  }
  std::shared_ptr<const CodeRun> run = caches_.coderun(key);
  if (CacheBehindOwnWrite(key, run.get())) return After(kStaleRecheck, "stale");
  if (!run || run->deleting) return Done("noop");
  return ReconcileRun(*run);
}

void Reconciler::NoteWrite(const CodeRun& run, const kube::json& written) {
  // An unchanged version (a patch that changed nothing) has no event to wait for.
  const std::string rv = ResourceVersionOf(written);
  if (rv.empty() || rv == run.resource_version) return;
  std::lock_guard lock(writes_mu_);
  written_over_[run.Key()] = run.resource_version;
}

bool Reconciler::CacheBehindOwnWrite(const std::string& key, const CodeRun* cached) {
  std::lock_guard lock(writes_mu_);
  auto it = written_over_.find(key);
  if (it == written_over_.end()) return false;
  if (cached && cached->resource_version == it->second) return true;
  written_over_.erase(it);
  return false;
}

Result Reconciler::ReconcileRun(const CodeRun& run) {
  if (run.Terminal()) return Finished(run);
  Validation validation = Validate(run, settings_);
  if (auto* why = std::get_if<std::string>(&validation)) {
    return WriteStatus(run, FailedStatus("InvalidSpec", *why), "invalid");
  }
  const auto& limits = std::get<ValidLimits>(validation);
  if (caches_.strangers) {
    for (const std::string& stranger : caches_.strangers(run.uid)) {
      Event(run, "Warning", events::kForeignPod,
            absl::StrCat("Pod ", stranger, " carries this run's labels but is not owned by it; ",
                         "it is ignored"));
    }
  }
  const std::string pod_name = PodName(run.name, run.uid);
  if (auto pod = caches_.pod(run.ns + "/" + pod_name)) {
    if (pod->controller_uid != run.uid) return NameTaken(run, pod_name);
    return Observe(run, *pod, limits);
  }
  if (!run.pod_name.empty()) return PodMissing(run);
  return Start(run, limits);
}

Result Reconciler::Start(const CodeRun& run, const ValidLimits& limits) {
  auto conflict = EnsureNetworkPolicy(run.ns);
  if (!conflict.ok()) return Error(conflict.status());
  if (conflict->has_value()) {
    Event(run, "Warning", events::kNamespaceRefused, **conflict);
    return Waiting(run, "NetworkPolicyConflict", **conflict);
  }

  // The cache holds no code or stdin: read them once, to build the Secret.
  auto full = client_.Get(kube::kCodeRuns, run.ns, run.name);
  if (!full.ok()) return kube::IsNotFound(full.status()) ? Done("noop") : Error(full.status());
  if ((*full)["metadata"].value("uid", "") != run.uid) return Done("noop");
  auto secret = client_.Create(kube::kSecrets, run.ns, BuildSecret(run, (*full)["spec"]));
  if (!secret.ok() && !kube::IsAlreadyExists(secret.status())) {
    if (kube::IsQuotaExceeded(secret.status())) {
      return Waiting(run, "QuotaExceeded", std::string(secret.status().message()));
    }
    if (kube::IsForbidden(secret.status()) || kube::IsInvalid(secret.status())) {
      return WriteStatus(run, FailedStatus("PodFailed", absl::StrCat("the run's Secret was refused: ",
                                                                    secret.status().message())),
                         "refused");
    }
    return Error(secret.status());
  }

  const std::string pod_name = PodName(run.name, run.uid);
  const std::string pod_key = run.ns + "/" + pod_name;
  std::optional<std::int64_t> uid = uids_.Allocate(pod_key);
  if (!uid) {
    return Waiting(run, "NoUidAvailable",
                   absl::StrCat("all run UIDs ", settings_.uid_low, "-", settings_.uid_high,
                                " are in use; waiting for runs to finish"));
  }
  auto created = client_.Create(kube::kPods, run.ns, BuildPod(run, limits, settings_, *uid));
  if (!created.ok()) {
    const absl::Status& st = created.status();
    if (kube::IsAlreadyExists(st)) {
      uids_.Release(pod_key);  // the existing Pod holds its own UID; the informer reports it
      auto existing = client_.Get(kube::kPods, run.ns, pod_name);
      if (!existing.ok()) return Error(existing.status());
      auto decoded = DecodePod(*existing);
      if (!decoded.ok() || decoded->controller_uid != run.uid) return NameTaken(run, pod_name);
      return Observe(run, *decoded, limits);
    }
    uids_.Release(pod_key);
    if (kube::IsQuotaExceeded(st)) return Waiting(run, "QuotaExceeded", std::string(st.message()));
    if (kube::IsForbidden(st) || kube::IsInvalid(st)) {
      return WriteStatus(
          run, FailedStatus("PodFailed", absl::StrCat("the Pod was refused: ", st.message())),
          "refused");
    }
    return Error(st);
  }
  log::Info("pod created", {{"coderun", run.Key()}, {"pod", pod_name}, {"uid", std::to_string(*uid)}});
  Event(run, "Normal", events::kPodCreated, absl::StrCat("Created Pod ", pod_name));
  return WriteStatus(run,
                     PendingStatus("PodPending", absl::StrCat("Pod ", pod_name,
                                                              " created, waiting to start"),
                                   pod_name),
                     "created");
}

Result Reconciler::NameTaken(const CodeRun& run, const std::string& pod_name) {
  log::Warn("pod not owned by its coderun", {{"coderun", run.Key()}, {"pod", pod_name}});
  Event(run, "Warning", events::kForeignPod,
        absl::StrCat("Pod ", pod_name, " has this run's name but another owner; left alone"));
  return WriteStatus(
      run,
      FailedStatus("PodFailed",
                   absl::StrCat("Pod ", pod_name, " exists but is not owned by this CodeRun")),
      "stranger");
}

Result Reconciler::Observe(const CodeRun& run, const Pod& pod, const ValidLimits& limits) {
  RunStatus desired = ObservePod(pod, limits.timeout_seconds + settings_.deadline_margin_seconds);
  if (desired.phase == kPending) return Waiting(run, desired.reason, desired.message, pod.name);
  // The runner container ended by itself: its report has the output and the real outcome.
  const bool platform_failure =
      pod.reason == "DeadlineExceeded" || pod.reason == "Evicted" || pod.deleting;
  if (desired.Terminal() && pod.terminated && !platform_failure && !run.Terminal()) {
    auto completed = WithReport(run, pod, limits, std::move(desired));
    if (!completed.ok()) return Error(completed.status());
    desired = std::move(*completed);
  }
  if (!StatusDiffers(run, desired)) return Done("noop");
  return WriteStatus(run, desired, desired.Terminal() ? "finished" : "status");
}

absl::StatusOr<RunStatus> Reconciler::WithReport(const CodeRun& run, const Pod& pod,
                                                 const ValidLimits& limits, RunStatus from_pod) {
  auto log = client_.PodLog(run.ns, pod.name, kRunnerContainer,
                            static_cast<long>(runner::MaxFrameBytes(limits.output_bytes)));
  std::string problem;
  if (log.ok()) {
    auto report = runner::ParseReport(*log, &problem);
    if (report) return FromReport(pod, *report, limits.output_bytes);
    problem = absl::StrCat("runner report unreadable: ", problem);
  } else {
    const std::int64_t ended =
        ParseTime(pod.terminated->finished_at).value_or(NowUnix());
    if (kube::IsTransient(log.status()) && NowUnix() - ended < kLogRetrySeconds) {
      return log.status();
    }
    problem = absl::StrCat("runner report unavailable: ", log.status().message());
  }
  log::Warn("status from pod state", {{"coderun", run.Key()}, {"why", problem}});
  from_pod.message = absl::StrCat(from_pod.message, from_pod.message.empty() ? "" : "; ",
                                  problem, " (status taken from the Pod's state)");
  return from_pod;
}

Result Reconciler::PodMissing(const CodeRun& run) {
  // The status names a Pod the cache does not hold: informer lag, or someone deleted it.
  auto live = client_.Get(kube::kPods, run.ns, run.pod_name, MetadataDropKeys());
  if (live.ok()) return After(seconds(2), "lag");
  if (!kube::IsNotFound(live.status())) return Error(live.status());
  return WriteStatus(run,
                     FailedStatus("PodFailed", "the Pod was deleted before the run finished",
                                  run.pod_name),
                     "finished");
}

Result Reconciler::Waiting(const CodeRun& run, std::string reason, std::string message,
                           const std::string& pod_name) {
  const std::int64_t created = run.creation_time != 0 ? run.creation_time : NowUnix();
  const std::int64_t deadline = created + settings_.max_pending_seconds;
  const std::int64_t now = NowUnix();
  if (now >= deadline) {
    return WriteStatus(run,
                       FailedStatus("PodFailed",
                                    absl::StrCat("did not start within ",
                                                 settings_.max_pending_seconds, " s: ", message),
                                    pod_name.empty() ? run.pod_name : pod_name),
                       "finished");
  }
  milliseconds wait = seconds(deadline - now);
  if (reason == "QuotaExceeded" || reason == "NoUidAvailable") wait = std::min<milliseconds>(wait, kRetryWaiting);
  RunStatus desired = PendingStatus(std::move(reason), std::move(message),
                                    pod_name.empty() ? run.pod_name : pod_name);
  if (!StatusDiffers(run, desired)) return After(wait, "waiting");
  Result r = WriteStatus(run, desired, "waiting");
  if (r.error.ok()) r.requeue_after = wait;
  return r;
}

Result Reconciler::WriteStatus(const CodeRun& run, const RunStatus& desired, std::string outcome) {
  if (run.Terminal()) return Done("noop");  // a terminal status is never rewritten
  const std::int64_t now = NowUnix();
  auto patched = client_.MergePatch(kube::kCodeRuns, run.ns, run.name,
                                    StatusPatch(run, desired, FormatTime(now)), "status");
  if (!patched.ok()) {
    return kube::IsNotFound(patched.status()) ? Done("noop") : Error(patched.status());
  }
  NoteWrite(run, *patched);
  if (!desired.Terminal()) return Done(std::move(outcome));
  // Once per run: the patch carries the cached resourceVersion, so a second terminal write
  // from a stale cache is refused (409) before it gets here.
  CountFinished(run, desired, now);
  log::Info("coderun finished", {{"coderun", run.Key()}, {"phase", desired.phase},
                                 {"reason", desired.reason}});
  const std::string summary = absl::StrCat(desired.phase, "/", desired.reason,
                                           desired.message.empty() ? "" : ": ", desired.message);
  if (desired.phase == kSucceeded) {
    Event(run, "Normal", events::kFinished, summary);
  } else {
    Event(run, "Warning",
          desired.reason == "InvalidSpec" ? events::kInvalidSpec : events::kRunFailed, summary);
  }
  if (auto s = Cleanup(run); !s.ok()) return Error(s);
  const std::int64_t ttl = run.ttl_seconds_after_finished.value_or(settings_.default_ttl_seconds);
  return After(seconds(ttl), std::move(outcome));
}

void Reconciler::CountFinished(const CodeRun& run, const RunStatus& desired,
                               std::int64_t completed) {
  if (!metrics_) return;
  metrics_->Inc(kRunsFinished, "CodeRuns finished, by phase and reason (once per run).",
                {{"phase", desired.phase}, {"reason", desired.reason}});
  const std::int64_t started =
      !desired.start_time.empty() ? ParseTime(desired.start_time).value_or(0) : run.start_time;
  if (started <= 0) return;  // never ran (InvalidSpec, refused, never started)
  const double seconds_run = static_cast<double>(std::max<std::int64_t>(0, completed - started));
  metrics_->Observe(kRunDuration, "Seconds from a run's startTime to its completionTime.",
                    kRunDurationBuckets, seconds_run);
}

Result Reconciler::Finished(const CodeRun& run) {
  if (auto pod = caches_.pod(run.ns + "/" + PodName(run.name, run.uid));
      pod && pod->controller_uid == run.uid && !pod->deleting && !settings_.keep_pods) {
    if (auto s = Cleanup(run); !s.ok()) return Error(s);
  }
  const std::int64_t done = run.completion_time != 0   ? run.completion_time
                           : run.creation_time != 0 ? run.creation_time
                                                    : NowUnix();
  const std::int64_t ttl = run.ttl_seconds_after_finished.value_or(settings_.default_ttl_seconds);
  const std::int64_t now = NowUnix();
  if (now < done + ttl) return After(seconds(done + ttl - now), "ttl");
  absl::Status st = client_.Delete(kube::kCodeRuns, run.ns, run.name,
                                   kube::DeleteOptions{run.uid, "Background"});
  if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return Error(st);
  log::Info("coderun expired", {{"coderun", run.Key()}});
  return Done("expired");
}

absl::Status Reconciler::Cleanup(const CodeRun& run) {
  const std::string name = PodName(run.name, run.uid);
  absl::Status st = client_.Delete(kube::kSecrets, run.ns, name);
  if (!st.ok() && !kube::IsNotFound(st)) return st;
  if (settings_.keep_pods) return absl::OkStatus();
  auto pod = caches_.pod(run.ns + "/" + name);
  if (!pod || pod->controller_uid != run.uid) return absl::OkStatus();
  st = client_.Delete(kube::kPods, run.ns, name, kube::DeleteOptions{pod->uid, "Background"});
  if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return st;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> Reconciler::EnsureNetworkPolicy(const std::string& ns) {
  std::vector<std::shared_ptr<const NetworkPolicy>> policies = caches_.policies(ns);
  const NetworkPolicy* ours = nullptr;
  std::vector<const NetworkPolicy*> all;
  for (const auto& p : policies) {
    all.push_back(p.get());
    if (p->name == kNetworkPolicyName) ours = p.get();
  }
  if (!ours) {
    auto created = client_.Create(kube::kNetworkPolicies, ns, BuildDenyAllPolicy(ns));
    if (!created.ok() && !kube::IsAlreadyExists(created.status())) return created.status();
    if (created.ok()) log::Info("network policy created", {{"namespace", ns}});
  } else if (!IsIntactDenyAll(*ours)) {
    kube::json desired = BuildDenyAllPolicy(ns);
    desired["metadata"]["resourceVersion"] = ours->resource_version;
    auto updated = client_.Update(kube::kNetworkPolicies, ns, desired);
    if (!updated.ok()) return updated.status();
    log::Info("network policy restored", {{"namespace", ns}});
  }
  return FindConflict(all);
}

}  // namespace coderun::reconcile
