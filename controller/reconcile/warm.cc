// Warm pools (docs/warm-pools.md): the pool controller, the claim of a warm Pod by a run,
// the delivery of its request through pods/attach, and the runs that live in warm Pods.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "api/coderun.h"
#include "api/request.h"
#include "common/log.h"
#include "kube/errors.h"
#include "kube/object.h"
#include "reconcile/pod.h"
#include "reconcile/reconciler.h"
#include "reconcile/status.h"

namespace coderun::reconcile {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A ledger entry whose Pod the cache does not show is kept this long after it was written,
// and a Pod of the pool that the ledger does not list is deleted only after this long (the
// Pod cache and the pool cache each may lag the other's write).
constexpr std::int64_t kPoolGraceSeconds = 30;
// New warm Pods a pool creates in one pass (the rest in the next, a moment later).
constexpr std::int64_t kMaxPoolCreatesPerPass = 10;

// The run's args as the runner's request wants them (MakeRunInput wrote them as JSON).
std::vector<std::string> ArgsOf(const RunInput& input) {
  std::vector<std::string> out;
  const kube::json args = kube::json::parse(input.args_json, nullptr, false);
  if (!args.is_array()) return out;
  for (const kube::json& a : args) {
    if (a.is_string()) out.push_back(a.get<std::string>());
  }
  return out;
}

}  // namespace

std::string Reconciler::RunPodName(const CodeRun& run) {
  return run.pod_name.empty() ? PodName(run.name, run.uid) : run.pod_name;
}

Result Reconciler::ReconcilePool(const std::string& key) {
  if (!caches_.pool || !caches_.pool_pods) return Done("noop");
  std::shared_ptr<const Pool> pool = caches_.pool(key);
  if (!pool) return Done("noop");  // its Pods go with it (ownerReferences)
  if (CacheBehindOwnWrite(PoolKey(pool->ns, pool->name), &pool->resource_version)) {
    return After(milliseconds(200), "stale");
  }
  std::vector<std::shared_ptr<const Pod>> owned = caches_.pool_pods(pool->uid);
  std::vector<const Pod*> pods;
  for (const auto& p : owned) pods.push_back(p.get());
  const std::int64_t now = NowUnix();
  PoolPlan plan = PlanPool(*pool, pods, now, kPoolGraceSeconds);

  for (const std::string& name : plan.strangers) {
    // Carries the pool's ownerReference but was never in its ledger: a look-alike someone
    // else created (or ours whose ledger write was lost). Never claimed; deleted.
    log::Warn("pod not in its pool's ledger deleted", {{"pool", pool->Key()}, {"pod", name}});
    events_.Record({"coderun.dev/v1alpha1", "CodeRunPool", pool->ns, pool->name, pool->uid},
                   "Warning", events::kForeignPod,
                   absl::StrCat("Pod ", name, " claims to belong to this pool but the controller ",
                                "did not create it for the pool; it is deleted and never used"));
    absl::Status st = client_.Delete(ctx_, kube::kPods, pool->ns, name);
    if (!st.ok() && !kube::IsNotFound(st)) return Error(st);
  }
  for (const PoolPod& e : plan.delete_pods) {
    absl::Status st = client_.Delete(ctx_, kube::kPods, pool->ns, e.name,
                                     kube::DeleteOptions{e.uid, "Background"});
    if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return Error(st);
  }

  std::vector<PoolPod> ledger = std::move(plan.ledger);
  std::int64_t starting = plan.starting;
  std::string problem;
  auto valid = ValidatePool(*pool, settings_);
  if (auto* why = std::get_if<std::string>(&valid)) {
    problem = *why;
  } else if (plan.create > 0) {
    auto conflict = EnsureNetworkPolicy(pool->ns);
    if (!conflict.ok()) return Error(conflict.status());
    if (conflict->has_value()) {
      problem = **conflict;
    } else {
      const ValidLimits& limits = std::get<ValidLimits>(valid);
      for (std::int64_t i = 0; i < std::min(plan.create, kMaxPoolCreatesPerPass); ++i) {
        const std::string name = WarmPodName(*pool);
        const std::string pod_key = pool->ns + "/" + name;
        std::optional<std::int64_t> uid = uids_.Allocate(pod_key);
        if (!uid) {
          problem = "no run UID is free for a warm Pod";
          break;
        }
        auto created = client_.Create(ctx_, kube::kPods, pool->ns,
                                      BuildWarmPod(*pool, limits, settings_, name, *uid));
        if (!created.ok()) {
          uids_.Release(pod_key);
          if (kube::IsNamespaceTerminating(created.status())) return Done("namespace gone");
          problem = absl::StrCat("a warm Pod was refused: ", created.status().message());
          log::Warn("warm pod not created", {{"pool", pool->Key()}, {"why", problem}});
          break;
        }
        ledger.push_back({name, (*created)["metadata"].value("uid", ""), "", "", now});
        ++starting;
      }
    }
  }
  if (!problem.empty()) {
    events_.Record({"coderun.dev/v1alpha1", "CodeRunPool", pool->ns, pool->name, pool->uid},
                   "Warning", "PoolNotFilled", problem);
  }
  const bool changed = ledger != pool->pods || plan.ready != pool->ready ||
                       starting != pool->starting || pool->observed_generation != pool->generation;
  if (changed) {
    auto written = client_.MergePatch(ctx_, kCodeRunPools, pool->ns, pool->name,
                                      PoolStatusPatch(*pool, ledger, plan.ready, starting,
                                                      FormatTime(now)),
                                      "status");
    if (!written.ok()) {
      if (kube::IsConflict(written.status())) return After(milliseconds(100), "conflict");
      if (kube::IsNotFound(written.status())) return Done("noop");
      return Error(written.status());
    }
    NoteWrite(PoolKey(pool->ns, pool->name), pool->resource_version, *written);
  }
  // Entries waiting for their Pod to show, and refills cut by the per-pass bound, come back.
  if (plan.create > kMaxPoolCreatesPerPass) return After(milliseconds(500), "filling");
  if (starting > 0 || !problem.empty()) return After(seconds(5), "pool");
  if (plan.young_strangers || plan.uncached_entries) {
    return After(seconds(kPoolGraceSeconds), "pool");
  }
  return Done(changed ? "pool" : "noop");
}

std::optional<Result> Reconciler::TryClaim(const CodeRun& run, const ValidLimits& limits) {
  if (!caches_.pools || !caches_.pod || !run.warm_pool.empty()) return std::nullopt;
  if (run.Judged() || run.next_case > 0) return std::nullopt;
  bool served = false;
  for (const std::shared_ptr<const Pool>& pool : caches_.pools(run.ns)) {
    if (CacheBehindOwnWrite(PoolKey(pool->ns, pool->name), &pool->resource_version)) {
      return After(milliseconds(100), "stale pool");
    }
    auto valid = ValidatePool(*pool, settings_);
    const auto* pool_limits = std::get_if<ValidLimits>(&valid);
    if (!pool_limits || !PoolServes(*pool, *pool_limits, run, limits, settings_)) continue;
    served = true;
    // The ledger may already give this run a Pod: a claim whose run status write was lost.
    const PoolPod* mine = nullptr;
    for (const PoolPod& e : pool->pods) {
      if (e.claimed_by_uid == run.uid) mine = &e;
    }
    if (mine) {
      auto pod = caches_.pod(run.ns + "/" + mine->name);
      if (pod && pod->uid == mine->uid && WarmPodReady(*pod)) {
        return Deliver(run, limits, *pool, *pod);
      }
      if (pod && pod->uid == mine->uid && !pod->deleting) {
        absl::Status st = client_.Delete(ctx_, kube::kPods, run.ns, pod->name,
                                         kube::DeleteOptions{pod->uid, "Background"});
        if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return Error(st);
      }
      continue;
    }
    for (const PoolPod& e : pool->pods) {
      if (!e.claimed_by_uid.empty()) continue;
      auto pod = caches_.pod(run.ns + "/" + e.name);
      if (!pod || pod->uid != e.uid || !WarmPodReady(*pod)) continue;
      // The claim: the ledger entry names the run, written only over the version read, so
      // two claims of one Pod cannot both succeed.
      std::vector<PoolPod> ledger = pool->pods;
      for (PoolPod& l : ledger) {
        if (l.uid == e.uid) {
          l.claimed_by = run.name;
          l.claimed_by_uid = run.uid;
        }
      }
      auto written = client_.MergePatch(
          ctx_, kCodeRunPools, pool->ns, pool->name,
          PoolStatusPatch(*pool, ledger, std::max<std::int64_t>(0, pool->ready - 1),
                          pool->starting, FormatTime(NowUnix())),
          "status");
      if (!written.ok()) {
        if (kube::IsConflict(written.status())) return After(milliseconds(50), "claim conflict");
        if (kube::IsNotFound(written.status())) continue;
        return Error(written.status());
      }
      NoteWrite(PoolKey(pool->ns, pool->name), pool->resource_version, *written);
      if (metrics_.pool_claims) metrics_.pool_claims->WithLabels({"hit"}).Inc();
      return Deliver(run, limits, *pool, *pod);
    }
  }
  if (served && metrics_.pool_claims) metrics_.pool_claims->WithLabels({"miss"}).Inc();
  return std::nullopt;
}

Result Reconciler::Deliver(const CodeRun& run, const ValidLimits& limits, const Pool& pool,
                           const Pod& pod) {
  auto full = client_.Get(ctx_, kube::kCodeRuns, run.ns, run.name);
  if (!full.ok()) return kube::IsNotFound(full.status()) ? Done("noop") : Error(full.status());
  if ((*full)["metadata"].value("uid", "") != run.uid) return Done("noop");
  if (std::optional<std::string> bad = InputProblem((*full)["spec"])) {
    return WriteStatus(run, FailedStatus(api::kReasonInvalidSpec, *bad), "invalid");
  }
  RunInput input = MakeRunInput((*full)["spec"], limits.timeout_seconds);
  if (std::optional<std::string> too_big = SecretProblem(input)) {
    return WriteStatus(run, FailedStatus(api::kReasonInvalidSpec, *too_big), "invalid");
  }
  api::Request request{input.nonce, input.code, input.stdin_data, ArgsOf(input)};
  std::string frame = api::FormatRequest(request);
  if (frame.size() > api::kMaxRequestFrameBytes) {
    // Fits a Secret but not a request once JSON-escaped: this run goes cold, the Pod it
    // claimed goes (a claimed Pod never serves another run).
    absl::Status st = client_.Delete(ctx_, kube::kPods, run.ns, pod.name,
                                     kube::DeleteOptions{pod.uid, "Background"});
    if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return Error(st);
    RunStatus cold = PendingStatus(
        api::kReasonPodPending,
        absl::StrCat("the run's input is too large for a warm Pod's request (", frame.size(),
                     " bytes); it starts in a Pod of its own"));
    cold.warm_pool = pool.name;
    return WriteStatus(run, cold, "cold");
  }
  // Recorded before the request goes: a controller that dies from here on finds a claim
  // whose delivery it cannot confirm, and gives the Pod up (ObserveWarm).
  RunStatus claimed = PendingStatus(
      api::kReasonPodPending,
      absl::StrCat("claimed warm Pod ", pod.name, " of pool ", pool.name, "; delivering"),
      pod.name);
  claimed.pod_uid = pod.uid;
  claimed.warm_pool = pool.name;
  claimed.input_digest = input.digest;
  auto written = PatchStatus(run, claimed, FormatTime(NowUnix()));
  if (!written.ok()) {
    if (kube::IsConflict(written.status())) return After(milliseconds(50), "conflict");
    return kube::IsNotFound(written.status()) ? Done("noop") : Error(written.status());
  }
  NoteWrite(run.Key(), run.resource_version, *written);
  auto recorded = DecodeCodeRun(*written);
  if (!recorded.ok()) return Error(recorded.status());

  absl::Status sent = client_.AttachStdin(ctx_, run.ns, pod.name, api::kRunnerContainer, frame);
  if (!sent.ok()) {
    // Cut in the middle, the runner refuses what arrived and says so in its report; never
    // arrived, the run's deadline ends it. Either way the Pod decides, not a retry: the
    // request must not run twice.
    log::Warn("request not delivered", {{"coderun", run.Key()}, {"pod", pod.name},
                                        {"why", std::string(sent.message())}});
    Event(run, "Warning", "RequestNotDelivered",
          absl::StrCat("the request to warm Pod ", pod.name, " failed: ", sent.message()));
  }
  RunStatus running;
  running.phase = api::kPhaseRunning;
  running.reason = api::kReasonRunning;
  running.message = absl::StrCat("running in warm Pod ", pod.name, " of pool ", pool.name);
  running.pod_name = pod.name;
  running.pod_uid = pod.uid;
  running.start_time = FormatTime(NowUnix());
  log::Info("warm pod claimed", {{"coderun", run.Key()}, {"pod", pod.name}, {"pool", pool.name}});
  return WriteStatus(*recorded, running, "claimed");
}

Result Reconciler::ObserveWarm(const CodeRun& run, const ValidLimits& limits) {
  auto pod = caches_.pod(run.ns + "/" + run.pod_name);
  const bool delivered = run.phase == api::kPhaseRunning;
  if (pod && pod->uid == run.pod_uid && !delivered) {
    // Claimed, but this process did not see the delivery through (it restarted, or the
    // write after it failed): the request may or may not have arrived. The Pod goes unread
    // and the run starts in a Pod of its own: it may run twice, never with a wrong result.
    if (!pod->deleting) {
      absl::Status st = client_.Delete(ctx_, kube::kPods, run.ns, pod->name,
                                       kube::DeleteOptions{pod->uid, "Background"});
      if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return Error(st);
    }
    RunStatus cold = PendingStatus(
        api::kReasonPodPending,
        absl::StrCat("the request to warm Pod ", run.pod_name,
                     " may not have arrived (the controller stopped while delivering it); "
                     "the run starts in a Pod of its own"));
    cold.clear_pod = true;
    return WriteStatus(run, cold, "abandoned");
  }
  if (!pod || pod->uid != run.pod_uid) {
    if (!pod) {
      auto live = client_.Get(ctx_, kube::kPods, run.ns, run.pod_name, MetadataDropKeys());
      if (live.ok() && (*live)["metadata"].value("uid", "") == run.pod_uid) {
        return After(seconds(1), "lag");
      }
      if (!live.ok() && !kube::IsNotFound(live.status())) return Error(live.status());
    }
    if (!delivered) {
      RunStatus cold = PendingStatus(
          api::kReasonPodPending,
          absl::StrCat("warm Pod ", run.pod_name, " went before its request was confirmed; ",
                       "the run starts in a Pod of its own"));
      cold.clear_pod = true;
      return WriteStatus(run, cold, "abandoned");
    }
    return WriteStatus(run,
                       FailedStatus(api::kReasonPodFailed,
                                    "the warm Pod was deleted before the run finished",
                                    run.pod_name),
                       "finished");
  }
  if (!pod->terminated && pod->phase != "Failed" && pod->phase != "Succeeded") {
    // No activeDeadlineSeconds on a Pod that waited: the controller keeps the run's.
    const std::int64_t deadline = run.start_time + DeadlineSeconds(limits, settings_);
    const std::int64_t now = NowUnix();
    if (run.start_time != 0 && now >= deadline) {
      absl::Status st = client_.Delete(ctx_, kube::kPods, run.ns, pod->name,
                                       kube::DeleteOptions{pod->uid, "Background"});
      if (!st.ok() && !kube::IsNotFound(st) && !kube::IsConflict(st)) return Error(st);
      return WriteStatus(run,
                         FailedStatus(api::kReasonPodFailed,
                                      absl::StrCat("the run did not end within its deadline (",
                                                   DeadlineSeconds(limits, settings_),
                                                   " s) in warm Pod ", pod->name),
                                      run.pod_name),
                         "finished");
    }
    return After(seconds(std::max<std::int64_t>(1, deadline - now)), "running");
  }
  return Observe(run, *pod, limits);
}

}  // namespace coderun::reconcile
