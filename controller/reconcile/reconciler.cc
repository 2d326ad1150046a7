#include "reconcile/reconciler.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "api/coderun.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "kube/errors.h"
#include "kube/object.h"
#include "judge/verdict.h"
#include "reconcile/judging.h"
#include "reconcile/kueue.h"
#include "reconcile/network_policy.h"
#include "reconcile/output.h"
#include "reconcile/pod.h"
#include "reconcile/status.h"

namespace coderun::reconcile {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kNetpolPrefix[] = "netpol:";
constexpr char kPoolPrefix[] = "pool:";
// How long after its Pod ended a run keeps retrying a failing log read before it settles
// for the Pod's own state.
constexpr std::int64_t kLogRetrySeconds = 60;
// How often a run waiting for room (quota, UIDs) tries again.
constexpr seconds kRetryWaiting{5};
// A queued run's status is written again once its position has fallen to a quarter of the
// one it shows (status writes are the dearest part of a queued run); it looks after three
// quarters of its estimated wait, within these bounds.
constexpr seconds kQueueRecheckMin{15};
constexpr seconds kQueueRecheckMax{600};
constexpr seconds kQueueRecheckUnknown{60};  // no run admitted lately: no estimate
// A reconcile skipped because the cache has not shown the controller's own last write
// looks again after this, should that write's watch event be slow or lost.
constexpr seconds kStaleRecheck{1};

const std::vector<double> kRunDurationBuckets = {1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800};
const std::vector<double> kRunLatencyBuckets = {1,   2,   3,   5,    10,   20,  30,
                                                60,  120, 300, 600, 1800, 3600};

}  // namespace

std::string NetworkPolicyKey(const std::string& ns) { return kNetpolPrefix + ns; }
std::string PoolKey(const std::string& ns, const std::string& name) {
  return absl::StrCat(kPoolPrefix, ns, "/", name);
}

absl::StatusOr<ReconcilerMetrics> RegisterMetrics(metrics::Registry& registry) {
  ReconcilerMetrics m;
  ASSIGN_OR_RETURN(m.runs_finished,
                   registry.AddCounter("coderun_runs_finished_total",
                                       "CodeRuns finished, by phase and reason (once per run).",
                                       {"phase", "reason"}));
  ASSIGN_OR_RETURN(m.run_duration,
                   registry.AddHistogram("coderun_run_duration_seconds",
                                         "Seconds from a run's startTime to its completionTime.",
                                         kRunDurationBuckets));
  ASSIGN_OR_RETURN(m.test_verdicts,
                   registry.AddCounter("coderun_test_verdicts_total",
                                       "Test cases of finished judge runs, by verdict (counted "
                                       "once per run).",
                                       {"verdict"}));
  ASSIGN_OR_RETURN(m.run_latency,
                   registry.AddHistogram("coderun_run_latency_seconds",
                                         "Seconds from a run's creation to its completionTime "
                                         "(what a client waits; 1 s resolution).",
                                         kRunLatencyBuckets));
  ASSIGN_OR_RETURN(m.pool_claims,
                   registry.AddCounter("coderun_pool_claims_total",
                                       "Runs a warm pool serves: hit took a warm Pod, miss found "
                                       "none ready and ran cold.",
                                       {"result"}));
  return m;
}

Reconciler::Reconciler(kube::Client& client, Caches caches, const Settings& settings,
                       UidAllocator& uids, events::EventSink& events, Clock& clock,
                       ReconcilerMetrics metrics, Context ctx, Admission* admission)
    : client_(client),
      ctx_(std::move(ctx)),
      caches_(std::move(caches)),
      settings_(settings),
      uids_(uids),
      events_(events),
      clock_(clock),
      metrics_(metrics),
      admission_(admission) {}

void Reconciler::Event(const CodeRun& run, const char* type, const char* reason,
                       const std::string& message) {
  events_.Record({"coderun.dev/v1alpha1", "CodeRun", run.ns, run.name, run.uid}, type, reason,
                 message);
}

std::int64_t Reconciler::NowUnix() const {
  return UnixSeconds(clock_);
}

Result Reconciler::Reconcile(const std::string& key) {
  if (absl::StartsWith(key, kNetpolPrefix)) {
    auto ensured = EnsureNetworkPolicy(key.substr(sizeof(kNetpolPrefix) - 1));
    if (ensured.ok()) return Done("netpol");
    // The namespace is gone or going (its policy went with it): nothing left to guard.
    if (kube::IsNotFound(ensured.status()) || kube::IsNamespaceTerminating(ensured.status())) {
      return Done("namespace gone");
    }
    return Error(ensured.status());
  }
  if (absl::StartsWith(key, kPoolPrefix)) return ReconcilePool(key.substr(sizeof(kPoolPrefix) - 1));
  std::shared_ptr<const CodeRun> run = caches_.coderun(key);
  if (CacheBehindOwnWrite(key, run ? &run->resource_version : nullptr)) {
    return After(kStaleRecheck, "stale");
  }
  if (!run || run->deleting) return Done("noop");
  return ReconcileRun(*run);
}

void Reconciler::NoteWrite(const std::string& key, const std::string& replaced,
                           const kube::json& written) {
  // An unchanged version (a patch that changed nothing) has no event to wait for.
  const std::string rv = kube::ResourceVersionOf(written);
  if (rv.empty() || rv == replaced) return;
  std::lock_guard lock(writes_mu_);
  written_over_[key] = replaced;
}

bool Reconciler::CacheBehindOwnWrite(const std::string& key, const std::string* cached_version) {
  std::lock_guard lock(writes_mu_);
  auto it = written_over_.find(key);
  if (it == written_over_.end()) return false;
  if (cached_version && *cached_version == it->second) return true;
  written_over_.erase(it);
  return false;
}

Result Reconciler::ReconcileRun(const CodeRun& run) {
  {
    std::lock_guard lock(writes_mu_);
    if (unwritable_.count(run.uid)) return Done("noop");
  }
  if (run.Terminal()) {
    Forget(run);
    return Finished(run);
  }
  Validation validation = Validate(run, settings_);
  if (auto* why = std::get_if<std::string>(&validation)) {
    return WriteStatus(run, FailedStatus(api::kReasonInvalidSpec, *why), "invalid");
  }
  const auto& limits = std::get<ValidLimits>(validation);
  if (caches_.strangers) {
    for (const std::string& stranger : caches_.strangers(run.uid)) {
      Event(run, "Warning", events::kForeignPod,
            absl::StrCat("Pod ", stranger, " carries this run's labels but is not owned by it; ",
                         "it is ignored"));
    }
  }
  if (InWarmPod(run)) return ObserveWarm(run, limits);
  const std::string pod_name = PodName(run.name, run.uid);
  if (auto pod = caches_.pod(run.ns + "/" + pod_name)) {
    if (pod->controller_uid != run.uid) return NameTaken(run, pod_name);
    if (run.next_case > 0 && run.pod_uid.empty() && pod->terminated &&
        CreatedHere(run) != pod->uid) {
      return Superseded(run, *pod);
    }
    if (!run.pod_uid.empty() && pod->uid != run.pod_uid) return Replaced(run, *pod);
    if (run.pod_uid.empty() && CreatedHere(run) != pod->uid) return Unrecorded(run, *pod);
    if (KueueManaged(run, settings_) && !pod->terminated) {
      if (auto w = WorkloadOf(run); w && w->controller_uid == run.uid && w->evicted) {
        return KueueEvicted(run, *w);
      }
    }
    return Observe(run, *pod, limits);
  }
  if (!run.pod_name.empty()) return PodMissing(run);
  if (auto claimed = TryClaim(run, limits)) return std::move(*claimed);
  return Start(run, limits);
}

std::string Reconciler::CreatedHere(const CodeRun& run) {
  std::lock_guard lock(writes_mu_);
  auto it = created_.find(run.uid);
  return it == created_.end() ? "" : it->second;
}

void Reconciler::Forget(const CodeRun& run) {
  std::lock_guard lock(writes_mu_);
  created_.erase(run.uid);
}

Result Reconciler::Replaced(const CodeRun& run, const Pod& pod) {
  log::Warn("pod is not the one created", {{"coderun", run.Key()}, {"pod", pod.name}});
  Event(run, "Warning", events::kForeignPod,
        absl::StrCat("Pod ", pod.name, " (uid ", pod.uid, ") is not the Pod this run created (uid ",
                     run.pod_uid, "); it is ignored"));
  return WriteStatus(run,
                     FailedStatus(api::kReasonPodFailed,
                                  absl::StrCat("the run's Pod was deleted before the run finished ",
                                               "and another object took its name"),
                                  run.pod_name),
                     "finished");
}

Result Reconciler::Superseded(const CodeRun& run, const Pod& pod) {
  if (pod.deleting) return After(seconds(1), "superseded");
  // Its Secret goes too: the next Pod gets a new one (and a new nonce) from Start.
  const std::string name = PodName(run.name, run.uid);
  absl::Status st = client_.Delete(ctx_, kube::kSecrets, run.ns, name);
  if (!st.ok() && !kube::IsNotFound(st)) return Error(st);
  st = client_.Delete(ctx_, kube::kPods, run.ns, pod.name, kube::DeleteOptions{pod.uid, "Background"});
  if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return Error(st);
  log::Info("superseded pod deleted",
            {{"coderun", run.Key()}, {"pod", pod.name}, {"nextCase", std::to_string(run.next_case)}});
  return After(seconds(1), "superseded");
}

Result Reconciler::Unrecorded(const CodeRun& run, const Pod& pod) {
  // Ours only if the status records it. The cache may be a step behind a status write of an
  // earlier process: a quorum read decides.
  auto live = client_.Get(ctx_, kube::kCodeRuns, run.ns, run.name, CodeRunDropKeys());
  if (!live.ok()) return kube::IsNotFound(live.status()) ? Done("noop") : Error(live.status());
  auto decoded = DecodeCodeRun(*live);
  if (!decoded.ok()) return Error(decoded.status());
  if (decoded->uid != run.uid) return Done("noop");
  if (!decoded->pod_uid.empty()) return After(seconds(1), "lag");
  if (pod.deleting) return After(seconds(1), "replacing");
  // Not recorded as created by the controller: a look-alike an `edit` user made under the
  // run's name, or the controller's own Pod whose creation a restart kept it from
  // recording. Either way it may not produce the result: it goes, and the run starts in a
  // Pod of its own.
  log::Warn("unrecorded pod deleted", {{"coderun", run.Key()}, {"pod", pod.name}});
  Event(run, "Warning", events::kForeignPod,
        absl::StrCat("Pod ", pod.name, " was not recorded as created by the controller for this ",
                     "run; it is deleted and never read, and the run starts in a new Pod"));
  absl::Status st = client_.Delete(ctx_, kube::kPods, run.ns, pod.name,
                                   kube::DeleteOptions{pod.uid, "Background"});
  if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return Error(st);
  return After(seconds(1), "replacing");
}

Result Reconciler::Start(const CodeRun& run, const ValidLimits& limits) {
  auto conflict = EnsureNetworkPolicy(run.ns);
  if (!conflict.ok()) return Error(conflict.status());
  if (conflict->has_value()) {
    Event(run, "Warning", events::kNamespaceRefused, **conflict);
    return Waiting(run, api::kReasonNetworkPolicyConflict, **conflict, run.creation_time);
  }
  // Only now, with the namespace known to be safe, does the run take a start slot (or
  // queue its Workload in Kueue).
  std::int64_t admitted_at = run.creation_time;
  const bool kueue = KueueManaged(run, settings_);
  std::vector<kube::json> flavors;
  if (kueue) {
    auto gate = AwaitKueue(run, limits);
    if (auto* wait = std::get_if<Result>(&gate)) return std::move(*wait);
    auto& admitted = std::get<KueueAdmitted>(gate);
    if (admitted.at != 0) admitted_at = admitted.at;
    flavors = std::move(admitted.flavors);
  } else if (admission_) {
    Admission::Decision decision = admission_->Admit(run);
    if (!decision.admitted) return Queued(run, decision.place);
    if (decision.admitted_at != 0) admitted_at = decision.admitted_at;
  }
  // Waits for room before a Pod exists (quota): the namespace's slot goes to others
  // meanwhile.
  auto quota_wait = [&](const absl::Status& s) {
    if (admission_ && !kueue) admission_->Defer(run, kRetryWaiting);
    return Waiting(run, api::kReasonQuotaExceeded, std::string(s.message()), admitted_at);
  };

  // The cache holds no code or stdin: read them once, to build the Secret.
  auto full = client_.Get(ctx_, kube::kCodeRuns, run.ns, run.name);
  if (!full.ok()) return kube::IsNotFound(full.status()) ? Done("noop") : Error(full.status());
  if ((*full)["metadata"].value("uid", "") != run.uid) return Done("noop");
  if (std::optional<std::string> bad = InputProblem((*full)["spec"])) {
    return WriteStatus(run, FailedStatus(api::kReasonInvalidSpec, *bad), "invalid");
  }
  // Bound the whole stored object: this spec and metadata, plus the largest status the run
  // can produce, must fit what the store accepts, or the final status could never be
  // written.
  // A run going on from status.nextCase already holds some cases' results: counted in
  // `output` below, not twice.
  const size_t stored =
      StoredSize(*full) - (run.next_case > 0 && full->contains("status")
                               ? std::min(StoredSize((*full)["status"]), StoredSize(*full))
                               : 0);
  // A judge run's top-level streams stay empty; its cases' share the output budget.
  const size_t output = limits.judge ? JudgeStatusBytes(*limits.judge)
                                     : 2 * static_cast<size_t>(limits.output_bytes + 2);
  const size_t worst = stored + output + kStatusOverheadBytes;
  if (worst > kStoreLimitBytes) {
    return WriteStatus(
        run,
        FailedStatus(api::kReasonInvalidSpec,
                     limits.judge
                         ? absl::StrCat("the CodeRun takes ", stored,
                                        " bytes as the apiserver stores it; with its ",
                                        limits.judge->cases, " test cases' results (up to ", output,
                                        " bytes) its final status could exceed the ",
                                        kStoreLimitBytes,
                                        " bytes the store accepts: shorten code, stdin, the "
                                        "test cases or annotations, or use fewer test cases")
                         : absl::StrCat("the CodeRun takes ", stored, " bytes as the apiserver stores it; "
                                  "with up to 2 x limits.outputBytes (", limits.output_bytes,
                                  ") of output its final status could exceed the ", kStoreLimitBytes,
                                  " bytes the store accepts: shorten code, stdin, args or "
                                  "annotations, or lower limits.outputBytes")),
        "invalid");
  }
  RunInput input = MakeRunInput((*full)["spec"], limits.timeout_seconds);
  if (std::optional<std::string> too_big = SecretProblem(input)) {
    return WriteStatus(run, FailedStatus(api::kReasonInvalidSpec, *too_big), "invalid");
  }
  if (auto s = CreateSecret(run, input); !s.ok()) {
    if (kube::IsQuotaExceeded(s)) return quota_wait(s);
    if (kube::IsForbidden(s) || kube::IsInvalid(s)) {
      return WriteStatus(run, FailedStatus(api::kReasonPodFailed, absl::StrCat("the run's Secret was refused: ",
                                                                    s.message())),
                         "refused");
    }
    return Error(s);
  }

  const std::string pod_name = PodName(run.name, run.uid);
  const std::string pod_key = run.ns + "/" + pod_name;
  std::optional<std::int64_t> uid = uids_.Allocate(pod_key);
  if (!uid) {
    return Waiting(run, api::kReasonNoUidAvailable,
                   absl::StrCat("all run UIDs ", settings_.uid_low, "-", settings_.uid_high,
                                " are in use; waiting for runs to finish"),
                   admitted_at);
  }
  kube::json pod = BuildPod(run, limits, settings_, *uid, input.digest);
  for (const kube::json& flavor : flavors) AddFlavorPlacement(flavor, pod["spec"]);
  auto created = client_.Create(ctx_, kube::kPods, run.ns, pod);
  if (!created.ok()) {
    const absl::Status& st = created.status();
    uids_.Release(pod_key);  // an existing Pod holds its own UID
    if (kube::IsAlreadyExists(st)) {
      // Not created by this call: someone else's, or ours from a call whose answer was lost.
      auto existing = client_.Get(ctx_, kube::kPods, run.ns, pod_name, MetadataDropKeys());
      if (!existing.ok()) return Error(existing.status());
      auto decoded = DecodePod(*existing);
      if (!decoded.ok() || decoded->controller_uid != run.uid) return NameTaken(run, pod_name);
      return Unrecorded(run, *decoded);
    }
    if (kube::IsQuotaExceeded(st)) return quota_wait(st);
    if (kube::IsForbidden(st) || kube::IsInvalid(st)) {
      return WriteStatus(
          run, FailedStatus(api::kReasonPodFailed, absl::StrCat("the Pod was refused: ", st.message())),
          "refused");
    }
    return Error(st);
  }
  const std::string pod_uid = (*created)["metadata"].value("uid", "");
  {
    std::lock_guard lock(writes_mu_);
    created_[run.uid] = pod_uid;
  }
  log::Info("pod created", {{"coderun", run.Key()}, {"pod", pod_name}, {"uid", std::to_string(*uid)}});
  Event(run, "Normal", events::kPodCreated, absl::StrCat("Created Pod ", pod_name));
  RunStatus pending =
      PendingStatus(api::kReasonPodPending, absl::StrCat("Pod ", pod_name, " created, waiting to start"),
                    pod_name);
  pending.pod_uid = pod_uid;
  return WriteStatus(run, pending, "created");
}

absl::Status Reconciler::CreateSecret(const CodeRun& run, const RunInput& input) {
  const kube::json secret = BuildSecret(run, input);
  const std::string name = PodName(run.name, run.uid);
  auto created = client_.Create(ctx_, kube::kSecrets, run.ns, secret);
  if (created.ok() || !kube::IsAlreadyExists(created.status())) return created.status();
  // A Secret of this name exists: ours from an earlier attempt, or planted by someone who
  // may create Secrets here. The controller cannot read Secrets, so it replaces it; should
  // a replacement race in later, the runner refuses input that does not match the digest
  // in its Pod's arguments.
  log::Warn("replacing a secret the controller did not create", {{"coderun", run.Key()}});
  Event(run, "Warning", events::kForeignSecret,
        absl::StrCat("Secret ", name, " existed before the controller ",
                     "created it (planted, or left by an earlier attempt); it is replaced and ",
                     "never used"));
  absl::Status st = client_.Delete(ctx_, kube::kSecrets, run.ns, name);
  if (!st.ok() && !kube::IsNotFound(st)) return st;
  created = client_.Create(ctx_, kube::kSecrets, run.ns, secret);
  if (created.ok()) return absl::OkStatus();
  if (kube::IsAlreadyExists(created.status())) {
    // Still there (a finalizer holds it): the runner's digest check decides.
    Event(run, "Warning", events::kForeignSecret,
          absl::StrCat("Secret ", name,
                       " was not created by the controller and could not be replaced"));
    return absl::OkStatus();
  }
  return created.status();
}

Result Reconciler::NameTaken(const CodeRun& run, const std::string& pod_name) {
  log::Warn("pod not owned by its coderun", {{"coderun", run.Key()}, {"pod", pod_name}});
  Event(run, "Warning", events::kForeignPod,
        absl::StrCat("Pod ", pod_name, " has this run's name but another owner; left alone"));
  return WriteStatus(
      run,
      FailedStatus(api::kReasonPodFailed,
                   absl::StrCat("Pod ", pod_name, " exists but is not owned by this CodeRun")),
      "stranger");
}

Result Reconciler::Observe(const CodeRun& run, const Pod& pod, const ValidLimits& limits) {
  RunStatus desired = ObservePod(pod, DeadlineSeconds(limits, settings_));
  desired.pod_uid = pod.uid;  // recorded if a restart kept the creating process from it
  // A warm Pod started long before its run: the run started when its request was delivered.
  if (InWarmPod(run)) desired.start_time.clear();
  if (desired.phase == api::kPhasePending) {
    return Waiting(run, desired.reason, desired.message,
                   ParseTime(pod.creation_timestamp).value_or(run.creation_time), pod.name,
                   pod.uid);
  }
  // The runner container ended by itself: its report has the output and the real outcome.
  const bool platform_failure =
      pod.reason == "DeadlineExceeded" || pod.reason == "Evicted" || pod.deleting;
  if (desired.Terminal() && !platform_failure && !run.Terminal()) {
    if (pod.terminated) {
      auto completed = WithReport(run, pod, limits, std::move(desired));
      if (!completed.ok() && kube::IsNotFound(completed.status())) return Done("noop");  // gone
      if (!completed.ok()) return Error(completed.status());
      desired = std::move(*completed);
    } else {
      desired = WithoutReport(std::move(desired),
                              "the Pod ended without a runner container state, so without a "
                              "runner report");
    }
  }
  if (!StatusDiffers(run, desired)) return Done("noop");
  if (desired.next_case) {
    Result written = WriteStatus(run, desired, "continued");
    if (written.error.ok()) {
      Forget(run);  // the Pod this process created is now an earlier one (Superseded)
      Event(run, "Warning", events::kJudgeContinued, desired.message);
    }
    return written;
  }
  return WriteStatus(run, desired, desired.Terminal() ? "finished" : "status");
}

absl::StatusOr<RunStatus> Reconciler::WithReport(const CodeRun& run, const Pod& pod,
                                                 const ValidLimits& limits, RunStatus from_pod) {
  auto log = client_.PodLog(ctx_, run.ns, pod.name, api::kRunnerContainer,
                            static_cast<long>(ReportLimitBytes(limits)));
  std::string problem;
  if (log.ok()) {
    auto report = api::ParseReport(*log, &problem);
    if (report && !run.input_digest.empty() && report->input_digest != run.input_digest) {
      // Someone who may attach to the Pod delivered a request before the controller did:
      // the program the report describes is not the run's.
      report.reset();
      problem = "the report is for another request than the one the controller delivered";
    }
    if (report && limits.judge && report->runner_error.empty()) {
      return WithVerdicts(run, pod, *report, limits, std::move(from_pod));
    }
    if (report) return FromReport(pod, *report, limits.output_bytes);
    if (limits.judge && from_pod.reason == api::kReasonMemoryLimitExceeded) {
      // The kernel killed the whole container (cgroup v2's memory.oom.group), the runner
      // with the case that ran out of memory: the cases it finished are in the log.
      return AfterContainerOom(run, pod, api::ParseCases(*log), limits, std::move(from_pod));
    }
    problem = absl::StrCat("runner report unreadable: ", problem);
  } else {
    const std::int64_t ended =
        ParseTime(pod.terminated->finished_at).value_or(NowUnix());
    if (kube::IsTransient(log.status()) && NowUnix() - ended < kLogRetrySeconds) {
      return log.status();
    }
    problem = absl::StrCat("runner report unavailable: ", log.status().message());
  }
  log::Warn("no runner report", {{"coderun", run.Key()}, {"why", problem}});
  return WithoutReport(std::move(from_pod), problem);
}

absl::StatusOr<Reconciler::JudgeInput> Reconciler::ReadJudgeInput(const CodeRun& run) {
  // The expected outputs are read now, never cached, never in the Pod. status.tests only
  // when earlier Pods of the run judged some cases.
  static const kube::DropKeys drop = {"/metadata/managedFields", "/metadata/annotations",
                                      "/spec/code", "/spec/stdin", "/spec/args", "/status"};
  static const kube::DropKeys drop_keep_tests = {
      "/metadata/managedFields", "/metadata/annotations", "/spec/code", "/spec/stdin",
      "/spec/args", "/status/stdout", "/status/stderr", "/status/conditions"};
  auto full = client_.Get(ctx_, kube::kCodeRuns, run.ns, run.name,
                          run.next_case > 0 ? drop_keep_tests : drop);
  if (!full.ok()) return full.status();
  if ((*full)["metadata"].value("uid", "") != run.uid) {
    return absl::NotFoundError(absl::StrCat("CodeRun ", run.Key(), " was replaced"));
  }
  JudgeInput in;
  in.spec = std::move((*full)["spec"]);
  if (run.next_case > 0) {
    const kube::json& status = (*full)["status"];
    auto tests = status.is_object() ? status.find("tests") : status.end();
    const std::int64_t next = status.is_object() ? status.value("nextCase", std::int64_t{0}) : 0;
    if (next != run.next_case || tests == status.end() || !tests->is_array() ||
        tests->size() != static_cast<size_t>(next)) {
      // Our own continuation write not yet in the cache, or status edited: retried.
      return absl::UnavailableError(absl::StrCat("status.tests of ", run.Key(),
                                                 " does not hold the cases before nextCase"));
    }
    for (const kube::json& item : *tests) {
      auto c = ParseCaseStatus(item);
      if (!c.ok()) return absl::UnavailableError(c.status().message());
      in.earlier.push_back(std::move(*c));
    }
  }
  return in;
}

namespace {

// A judge run's own usage: its cases' wall and CPU time summed, the largest peak memory
// (across all its Pods: the report of the last one covers only its own cases).
void SumCaseUsage(const JudgeStatus& judged, RunStatus& st) {
  if (!st.output) return;
  st.output->wall_millis = st.output->cpu_millis = st.output->max_rss_bytes = 0;
  for (const CaseStatus& c : judged.cases) {
    if (!c.output) continue;
    st.output->wall_millis += c.output->wall_millis;
    st.output->cpu_millis += c.output->cpu_millis;
    st.output->max_rss_bytes = std::max(st.output->max_rss_bytes, c.output->max_rss_bytes);
  }
}

}  // namespace

absl::StatusOr<RunStatus> Reconciler::WithVerdicts(const CodeRun& run, const Pod& pod,
                                                   const api::Report& report,
                                                   const ValidLimits& limits,
                                                   RunStatus from_pod) {
  auto in = ReadJudgeInput(run);
  if (!in.ok()) return in.status();
  absl::StatusOr<JudgeStatus> judged = JudgeReport(run, in->spec, report, limits, in->earlier);
  if (!judged.ok()) {
    const std::string problem = absl::StrCat("runner report unusable: ", judged.status().message());
    log::Warn("no runner report", {{"coderun", run.Key()}, {"why", problem}});
    return WithoutReport(std::move(from_pod), problem);
  }
  RunStatus st = FromReport(pod, report, limits.output_bytes);
  if (st.phase == api::kPhaseSucceeded) {
    st.exit_code = 0;
    st.message = JudgeSummary(*judged);
  }
  if (!in->earlier.empty()) SumCaseUsage(*judged, st);
  st.judge = std::move(*judged);
  return st;
}

absl::StatusOr<RunStatus> Reconciler::AfterContainerOom(const CodeRun& run, const Pod& pod,
                                                        std::vector<api::CaseReport> finished,
                                                        const ValidLimits& limits,
                                                        RunStatus from_pod) {
  auto in = ReadJudgeInput(run);
  if (!in.ok()) return in.status();
  const kube::json& tests = SpecTests(in->spec);
  const size_t first = in->earlier.size();
  const size_t killed = first + finished.size();  // the case that was running
  api::Report report;
  report.exit_code = 0;
  report.tests = std::move(finished);
  std::string killed_name;
  if (killed < tests.size()) {
    api::CaseReport oom;
    oom.name = killed_name = StringField(tests[killed], "name");
    oom.limit = api::Limit::kMemory;
    oom.signal = 9;
    oom.max_rss_bytes = static_cast<std::uint64_t>(limits.memory_bytes);  // it reached the limit
    report.tests.push_back(std::move(oom));
  }
  absl::StatusOr<JudgeStatus> judged = JudgeReport(run, in->spec, report, limits, in->earlier);
  if (!judged.ok()) {
    const std::string problem =
        absl::StrCat("the runner's case results are unusable: ", judged.status().message());
    log::Warn("no runner report", {{"coderun", run.Key()}, {"why", problem}});
    return WithoutReport(std::move(from_pod), problem);
  }
  const std::string what =
      killed_name.empty()
          ? std::string("the container was OOM-killed after its last case")
          : absl::StrCat("case ", killed_name,
                         " ran out of memory and the kernel stopped the whole container "
                         "(memory.oom.group)");
  const size_t next = killed + 1;
  if (next >= tests.size() || run.judge.stop_on_first_failure) {
    RunStatus st = FromReport(pod, report, limits.output_bytes);
    st.exit_code = 0;
    st.message = absl::StrCat(JudgeSummary(*judged), "; ", what);
    SumCaseUsage(*judged, st);
    st.judge = std::move(*judged);
    return st;
  }
  // Goes on in a new Pod from the next case; the cases so far are kept in status.tests.
  judged->cases.resize(next);
  judged->passed = std::count_if(judged->cases.begin(), judged->cases.end(),
                                 [](const CaseStatus& c) { return c.verdict == "Accepted"; });
  judged->verdict.clear();
  RunStatus going;
  going.phase = api::kPhaseRunning;
  going.reason = api::kReasonRunning;
  going.message = absl::StrCat(what, "; the run goes on from case ",
                               StringField(tests[next], "name"), " in a new Pod");
  going.next_case = static_cast<std::int64_t>(next);
  going.judge = std::move(*judged);
  return going;
}

Result Reconciler::PodMissing(const CodeRun& run) {
  // The status names a Pod the cache does not hold: informer lag, or someone deleted it.
  auto live = client_.Get(ctx_, kube::kPods, run.ns, run.pod_name, MetadataDropKeys());
  if (live.ok()) return After(seconds(2), "lag");
  if (!kube::IsNotFound(live.status())) return Error(live.status());
  return WriteStatus(run,
                     FailedStatus(api::kReasonPodFailed, "the Pod was deleted before the run finished",
                                  run.pod_name),
                     "finished");
}

Result Reconciler::Waiting(const CodeRun& run, std::string reason, std::string message,
                           std::int64_t since, const std::string& pod_name,
                           const std::string& pod_uid) {
  const std::int64_t now = NowUnix();
  const std::int64_t deadline = (since != 0 ? since : now) + settings_.max_pending_seconds;
  if (now >= deadline) {
    return WriteStatus(run,
                       FailedStatus(api::kReasonPodFailed,
                                    absl::StrCat("did not start within ",
                                                 settings_.max_pending_seconds, " s: ", message),
                                    pod_name.empty() ? run.pod_name : pod_name),
                       "finished");
  }
  milliseconds wait = seconds(deadline - now);
  if (reason == api::kReasonQuotaExceeded || reason == api::kReasonNoUidAvailable) wait = std::min<milliseconds>(wait, kRetryWaiting);
  RunStatus desired = PendingStatus(std::move(reason), std::move(message),
                                    pod_name.empty() ? run.pod_name : pod_name);
  desired.pod_uid = pod_uid;
  return WriteWaiting(run, desired, wait, "waiting");
}

Result Reconciler::Queued(const CodeRun& run, const QueuePlace& place) {
  // Admitted before, and its namespace's quota full: it keeps saying so while its namespace
  // yields its turn (the pending deadline, not the queue's, applies).
  if (run.reason == api::kReasonQuotaExceeded) return After(kRetryWaiting, "waiting");
  milliseconds next = kQueueRecheckUnknown;
  if (place.eta) {
    next = std::clamp<milliseconds>(*place.eta * 3 / 4, kQueueRecheckMin, kQueueRecheckMax);
  }
  if (auto timed_out = QueueTimedOut(
          run, absl::StrCat(place.position - 1, " runs were still ahead"), next)) {
    return std::move(*timed_out);
  }
  const bool fresh = run.reason == api::kReasonQueued && run.queue_position &&
                     place.position * 4 > *run.queue_position;
  if (fresh) return After(next, "queued");
  RunStatus desired = PendingStatus(
      api::kReasonQueued,
      absl::StrCat("waiting for a start slot: position ", place.position, " (", place.in_namespace,
                   " ahead in this namespace); ",
                   place.eta ? absl::StrCat("about ", place.eta->count(), " s at the current rate")
                             : std::string("no run was admitted in the last minute")));
  desired.queue_position = place.position;
  return WriteWaiting(run, desired, next, "queued");
}

Result Reconciler::WriteWaiting(const CodeRun& run, const RunStatus& desired,
                                milliseconds recheck, const char* outcome) {
  if (!StatusDiffers(run, desired)) return After(recheck, outcome);
  Result r = WriteStatus(run, desired, outcome);
  if (r.error.ok()) r.requeue_after = recheck;
  return r;
}

std::optional<Result> Reconciler::QueueTimedOut(const CodeRun& run, const std::string& still,
                                                milliseconds& next) {
  if (settings_.max_queued_seconds <= 0) return std::nullopt;
  const std::int64_t now = NowUnix();
  const std::int64_t deadline =
      (run.creation_time != 0 ? run.creation_time : now) + settings_.max_queued_seconds;
  if (now < deadline) {
    next = std::min<milliseconds>(next, seconds(deadline - now));
    return std::nullopt;
  }
  return WriteStatus(run,
                     FailedStatus(api::kReasonQueueTimeout,
                                  absl::StrCat("waited ", settings_.max_queued_seconds,
                                               " s for a start slot (the controller's "
                                               "--max-queued-seconds); ",
                                               still)),
                     "queue timeout");
}

std::shared_ptr<const Workload> Reconciler::WorkloadOf(const CodeRun& run) const {
  if (!caches_.workload) return nullptr;
  return caches_.workload(run.ns + "/" + PodName(run.name, run.uid));
}

std::variant<Result, Reconciler::KueueAdmitted> Reconciler::AwaitKueue(const CodeRun& run,
                                                                       const ValidLimits& limits) {
  const std::string name = PodName(run.name, run.uid);
  const kube::json pod_sets = WorkloadPodSets(run, limits, settings_);
  std::shared_ptr<const Workload> w = WorkloadOf(run);
  if (!w) {
    auto created = client_.Create(ctx_, kWorkloads, run.ns, BuildWorkload(run, pod_sets));
    if (!created.ok()) {
      const absl::Status& st = created.status();
      if (kube::IsAlreadyExists(st)) return After(seconds(1), "lag");  // the cache will show it
      if (kube::IsForbidden(st) || kube::IsInvalid(st)) {
        return WriteStatus(run,
                           FailedStatus(api::kReasonPodFailed,
                                        absl::StrCat("the run's Kueue Workload was refused: ",
                                                     st.message())),
                           "refused");
      }
      return Error(st);
    }
    log::Info("workload created", {{"coderun", run.Key()}, {"queue", run.queue_name}});
    Event(run, "Normal", events::kWorkloadCreated,
          absl::StrCat("Created Workload ", name, " in Kueue LocalQueue ", run.queue_name));
    return KueueQueued(run, name, "");
  }
  if (w->controller_uid != run.uid) {
    Event(run, "Warning", events::kForeignWorkload,
          absl::StrCat("Workload ", name, " has this run's name but another owner; left alone"));
    return WriteStatus(run,
                       FailedStatus(api::kReasonPodFailed,
                                    absl::StrCat("Workload ", name,
                                                 " exists but is not owned by this CodeRun")),
                       "stranger");
  }
  if (w->deleting) return After(seconds(1), "replacing");
  std::optional<std::string> mismatch = WorkloadMismatch(*w, run, pod_sets);
  // Deactivated by someone who may (an admin holding the run): it waits, as Kueue would.
  if (!mismatch && !w->active) return KueueQueued(run, name, " (deactivated: spec.active is false)");
  if (mismatch || w->evicted || w->finished) {
    // Not the Workload the controller builds for this run, or one Kueue took back before
    // the Pod existed (preempted, queue stopped): it goes, and the run queues again in a
    // new one.
    if (mismatch) {
      log::Warn("workload replaced", {{"coderun", run.Key()}, {"why", *mismatch}});
      Event(run, "Warning", events::kForeignWorkload,
            absl::StrCat("Workload ", name, " is not the one the controller builds for this run (",
                         *mismatch, "); it is deleted and the run queued again"));
    } else {
      log::Info("workload requeued", {{"coderun", run.Key()},
                                      {"evicted", w->evicted ? w->evicted_reason : "finished"}});
    }
    absl::Status st = client_.Delete(ctx_, kWorkloads, run.ns, name,
                                     kube::DeleteOptions{w->uid, "Background"});
    if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return Error(st);
    return After(seconds(1), "replacing");
  }
  if (!w->admitted) return KueueQueued(run, name, "");
  KueueAdmitted admitted;
  admitted.at = w->admitted_time;
  for (const std::string& flavor : w->flavors) {
    auto got = client_.Get(ctx_, kResourceFlavors, "", flavor, MetadataDropKeys());
    if (!got.ok()) return Error(got.status());
    admitted.flavors.push_back(std::move(*got));
  }
  return admitted;
}

Result Reconciler::KueueQueued(const CodeRun& run, const std::string& workload_name,
                               const std::string& note) {
  // Workload events wake the run; only the queue deadline needs a timer.
  milliseconds next = kQueueRecheckMax;
  if (auto timed_out = QueueTimedOut(
          run, absl::StrCat("Kueue had not admitted Workload ", workload_name), next)) {
    return std::move(*timed_out);
  }
  RunStatus desired = PendingStatus(
      api::kReasonQueued, absl::StrCat("waiting for Kueue to admit Workload ", workload_name,
                                       note, " (LocalQueue ", run.queue_name, ")"));
  return WriteWaiting(run, desired, next, "queued");
}

Result Reconciler::KueueEvicted(const CodeRun& run, const Workload& workload) {
  const std::string why = absl::StrCat("Kueue evicted the run's Workload ", workload.name, " (",
                                       workload.evicted_reason, "): ", workload.evicted_message);
  log::Warn("workload evicted", {{"coderun", run.Key()}, {"reason", workload.evicted_reason}});
  Event(run, "Warning", events::kEvicted, why);
  return WriteStatus(run,
                     FailedStatus(api::kReasonPodFailed,
                                  absl::StrCat(why, "; the run was stopped before it finished"),
                                  run.pod_name),
                     "evicted");
}

absl::Status Reconciler::FinishWorkload(const CodeRun& run, bool succeeded,
                                        const std::string& message) {
  std::shared_ptr<const Workload> w = WorkloadOf(run);
  if (!w || w->controller_uid != run.uid || w->finished) return absl::OkStatus();
  const std::string key = w->ns + "/" + w->name;
  {
    std::lock_guard lock(writes_mu_);
    auto it = finished_over_.find(key);
    if (it != finished_over_.end()) {
      if (it->second == w->resource_version) return absl::OkStatus();  // the cache is behind
      finished_over_.erase(it);
    }
  }
  auto patched = client_.MergePatch(ctx_, kWorkloads, w->ns, w->name,
                                    FinishedPatch(*w, succeeded, message, FormatTime(NowUnix())),
                                    "status");
  if (!patched.ok()) return kube::IsNotFound(patched.status()) ? absl::OkStatus() : patched.status();
  std::lock_guard lock(writes_mu_);
  finished_over_[key] = w->resource_version;
  return absl::OkStatus();
}

Result Reconciler::WriteStatus(const CodeRun& run, const RunStatus& desired, std::string outcome) {
  if (run.Terminal()) return Done("noop");  // a terminal status is never rewritten
  const std::int64_t now = NowUnix();
  auto patched = PatchStatus(run, desired, FormatTime(now));
  if (!patched.ok() && kube::IsTooLarge(patched.status())) return Unwritable(run, patched.status());
  if (!patched.ok()) {
    return kube::IsNotFound(patched.status()) ? Done("noop") : Error(patched.status());
  }
  NoteWrite(run.Key(), run.resource_version, *patched);
  if (!desired.Terminal()) return Done(std::move(outcome));
  // Once per run: the patch carries the cached resourceVersion, so a second terminal write
  // from a stale cache is refused (409) before it gets here.
  CountFinished(run, desired, now);
  log::Info("coderun finished", {{"coderun", run.Key()}, {"phase", desired.phase},
                                 {"reason", desired.reason}});
  const std::string summary = absl::StrCat(desired.phase, "/", desired.reason,
                                           desired.message.empty() ? "" : ": ", desired.message);
  if (desired.phase == api::kPhaseSucceeded) {
    Event(run, "Normal", events::kFinished, summary);
  } else {
    Event(run, "Warning",
          desired.reason == api::kReasonInvalidSpec ? events::kInvalidSpec : events::kRunFailed, summary);
  }
  if (desired.judge) {
    Event(run, desired.judge->verdict == judge::VerdictName(judge::Verdict::kAccepted) ? "Normal" : "Warning",
          events::kJudgeVerdict, JudgeSummary(*desired.judge));
  }
  if (auto s = Cleanup(run); !s.ok()) return Error(s);
  if (auto s = FinishWorkload(run, desired.phase == api::kPhaseSucceeded, summary); !s.ok()) {
    return Error(s);
  }
  const std::int64_t ttl = TtlSecondsAfterFinished(run, settings_);
  return After(seconds(ttl), std::move(outcome));
}

absl::StatusOr<kube::json> Reconciler::PatchStatus(const CodeRun& run, const RunStatus& desired,
                                                   const std::string& now) {
  auto patched = client_.MergePatch(ctx_, kube::kCodeRuns, run.ns, run.name,
                                    StatusPatch(run, desired, now), "status");
  if (patched.ok() || !desired.Terminal() || !kube::IsTooLarge(patched.status())) return patched;
  // Every CodeRun the apiserver accepted must end: smaller and smaller terminal statuses.
  const std::string first_error(patched.status().message());
  for (int attempt = 0; attempt < 3 && kube::IsTooLarge(patched.status()); ++attempt) {
    RunStatus smaller = desired;
    std::string why;
    if (attempt < 2 && smaller.output) {
      // A judge run's cases' streams shrink alike (each to a quarter of the largest's).
      std::vector<RunOutput*> outputs = {&*smaller.output};
      if (smaller.judge) {
        for (CaseStatus& c : smaller.judge->cases) {
          if (c.output) outputs.push_back(&*c.output);
        }
      }
      size_t largest = 0;
      for (const RunOutput* o : outputs) {
        largest = std::max({largest, o->stdout_text.size(), o->stderr_text.size()});
      }
      const size_t keep = attempt == 0 ? largest / 4 : 0;
      for (RunOutput* o : outputs) {
        o->stdout_truncated |= CutToEncodedSize(o->stdout_text, keep);
        o->stderr_truncated |= CutToEncodedSize(o->stderr_text, keep);
      }
      why = keep == 0 ? "output dropped" : absl::StrCat("output cut to ", keep, " bytes per stream");
    } else {
      smaller.output.reset();
      smaller.message.clear();
      if (smaller.judge) smaller.judge->cases.clear();
      why = smaller.judge ? "output and details (the test cases' results) dropped"
                          : "output and details dropped";
    }
    smaller.message = absl::StrCat(smaller.message, smaller.message.empty() ? "" : "; ", why,
                                   ": the CodeRun would have exceeded the size the apiserver "
                                   "can store");
    log::Warn("status too large, writing a smaller one",
              {{"coderun", run.Key()}, {"attempt", std::to_string(attempt + 1)},
               {"error", first_error}});
    patched = client_.MergePatch(ctx_, kube::kCodeRuns, run.ns, run.name,
                                 StatusPatch(run, smaller, now), "status");
  }
  return patched;
}

Result Reconciler::Unwritable(const CodeRun& run, const absl::Status& error) {
  // Only an object padded (annotations added after it started) to within a few hundred
  // bytes of the store's limit gets here. Nothing more can be written to it: free what the
  // run holds and stop, instead of retrying a write that cannot succeed.
  log::Error("status cannot be stored", {{"coderun", run.Key()}, {"error", std::string(error.message())}});
  Event(run, "Warning", events::kRunFailed,
        "the run's status cannot be stored: the CodeRun is too large for the apiserver; its Pod "
        "and Secret were deleted");
  {
    std::lock_guard lock(writes_mu_);
    unwritable_.insert(run.uid);
  }
  Forget(run);
  if (auto s = Cleanup(run); !s.ok()) return Error(s);
  if (auto s = FinishWorkload(run, false, "the CodeRun's status cannot be stored"); !s.ok()) {
    return Error(s);
  }
  return Done("unwritable");
}

void Reconciler::CountFinished(const CodeRun& run, const RunStatus& desired,
                               std::int64_t completed) {
  if (metrics_.runs_finished) {
    metrics_.runs_finished->WithLabels({desired.phase, desired.reason}).Inc();
  }
  if (metrics_.test_verdicts && desired.judge) {
    for (const CaseStatus& c : desired.judge->cases) {
      metrics_.test_verdicts->WithLabels({c.verdict}).Inc();
    }
  }
  if (metrics_.run_latency && run.creation_time > 0) {
    metrics_.run_latency->WithLabels().Observe(
        static_cast<double>(std::max<std::int64_t>(0, completed - run.creation_time)));
  }
  if (!metrics_.run_duration) return;
  const std::int64_t started =
      !desired.start_time.empty() ? ParseTime(desired.start_time).value_or(0) : run.start_time;
  if (started <= 0) return;  // never ran (InvalidSpec, refused, never started)
  const double seconds_run = static_cast<double>(std::max<std::int64_t>(0, completed - started));
  metrics_.run_duration->WithLabels().Observe(seconds_run);
}

Result Reconciler::Finished(const CodeRun& run) {
  if (auto pod = caches_.pod(run.ns + "/" + RunPodName(run));
      pod && (pod->controller_uid == run.uid || (InWarmPod(run) && pod->uid == run.pod_uid)) &&
      !pod->deleting && !settings_.keep_pods) {
    // Deleted by this process already and the cache has not shown it yet (each event of the
    // going Pod wakes the run): no second round of deletes.
    if (!DeletedHere(run, pod->uid)) {
      if (auto s = Cleanup(run); !s.ok()) return Error(s);
    }
  } else {
    std::lock_guard lock(writes_mu_);
    deleted_pods_.erase(run.uid);
  }
  if (auto s = FinishWorkload(run, run.phase == api::kPhaseSucceeded,
                              absl::StrCat(run.phase, "/", run.reason));
      !s.ok()) {
    return Error(s);
  }
  const std::int64_t done = run.completion_time != 0   ? run.completion_time
                           : run.creation_time != 0 ? run.creation_time
                                                    : NowUnix();
  const std::int64_t ttl = TtlSecondsAfterFinished(run, settings_);
  const std::int64_t now = NowUnix();
  if (now < done + ttl) return After(seconds(done + ttl - now), "ttl");
  absl::Status st = client_.Delete(ctx_, kube::kCodeRuns, run.ns, run.name,
                                   kube::DeleteOptions{run.uid, "Background"});
  if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return Error(st);
  {
    std::lock_guard lock(writes_mu_);
    deleted_pods_.erase(run.uid);
  }
  log::Info("coderun expired", {{"coderun", run.Key()}});
  return Done("expired");
}

absl::Status Reconciler::Cleanup(const CodeRun& run) {
  const std::string name = PodName(run.name, run.uid);
  absl::Status st = client_.Delete(ctx_, kube::kSecrets, run.ns, name);
  if (!st.ok() && !kube::IsNotFound(st)) return st;
  if (settings_.keep_pods) return absl::OkStatus();
  auto pod = caches_.pod(run.ns + "/" + RunPodName(run));
  if (!pod || (pod->controller_uid != run.uid && !(InWarmPod(run) && pod->uid == run.pod_uid))) {
    return absl::OkStatus();
  }
  st = client_.Delete(ctx_, kube::kPods, run.ns, pod->name,
                      kube::DeleteOptions{pod->uid, "Background"});
  if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return st;
  std::lock_guard lock(writes_mu_);
  deleted_pods_[run.uid] = pod->uid;
  return absl::OkStatus();
}

bool Reconciler::DeletedHere(const CodeRun& run, const std::string& pod_uid) {
  std::lock_guard lock(writes_mu_);
  auto it = deleted_pods_.find(run.uid);
  return it != deleted_pods_.end() && it->second == pod_uid;
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
    auto created = client_.Create(ctx_, kube::kNetworkPolicies, ns, BuildDenyAllPolicy(ns));
    if (!created.ok() && !kube::IsAlreadyExists(created.status())) return created.status();
    if (created.ok()) log::Info("network policy created", {{"namespace", ns}});
  } else if (!IsIntactDenyAll(*ours)) {
    kube::json desired = BuildDenyAllPolicy(ns);
    desired["metadata"]["resourceVersion"] = ours->resource_version;
    auto updated = client_.Update(ctx_, kube::kNetworkPolicies, ns, desired);
    if (!updated.ok()) return updated.status();
    log::Info("network policy restored", {{"namespace", ns}});
  }
  return FindConflict(all);
}

}  // namespace coderun::reconcile
