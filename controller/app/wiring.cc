#include "app/wiring.h"

#include <utility>

#include "api/coderun.h"
#include "reconcile/network_policy.h"

namespace coderun::app {
namespace {

using reconcile::CodeRun;
using reconcile::NetworkPolicy;
using reconcile::Pod;
using reconcile::Pool;
using reconcile::Workload;

}  // namespace

std::vector<std::string> CodeRunNamespace(const CodeRun& run) { return {run.ns}; }

std::vector<std::string> HeldForPolicy(const CodeRun& run) {
  if (run.reason != api::kReasonNetworkPolicyConflict) return {};
  return {run.ns};
}

std::vector<std::string> PolicyNamespace(const NetworkPolicy& policy) { return {policy.ns}; }

std::vector<std::string> StrangerOf(const Pod& pod) {
  if (pod.run_uid_label.empty() || pod.controller_uid == pod.run_uid_label) return {};
  return {pod.run_uid_label};
}

std::vector<std::string> PoolOf(const Pod& pod) {
  if (pod.controller_kind != "CodeRunPool" || pod.controller_uid.empty()) return {};
  return {pod.controller_uid};
}

std::vector<std::string> PoolNamespace(const Pool& pool) { return {pool.ns}; }

EventRouter::EventRouter(Enqueue enqueue, reconcile::UidAllocator& uids, Runs runs,
                         reconcile::Admission* admission, bool kueue)
    : enqueue_(std::move(enqueue)),
      uids_(uids),
      runs_(std::move(runs)),
      admission_(admission),
      kueue_(kueue) {}

void EventRouter::OnCodeRun(const std::string& key, const CodeRun* old_run, const CodeRun* run) {
  if (admission_) {
    // A run Kueue admits is, to the controller's own admission, a run that is not there.
    auto own = [this](const CodeRun* r) { return r && kueue_ && !r->queue_name.empty() ? nullptr : r; };
    if (own(old_run) || own(run)) admission_->OnRun(own(old_run), own(run));
  }
  enqueue_(key);
}

void EventRouter::OnWorkload(const std::string&, const Workload* old_workload,
                             const Workload* workload) {
  const Workload* w = workload ? workload : old_workload;
  if (w->controller_kind == "CodeRun" && !w->controller_name.empty()) {
    enqueue_(w->ns + "/" + w->controller_name);
  }
}

void EventRouter::OnPod(const std::string& key, const Pod* old_pod, const Pod* pod) {
  const Pod* p = pod ? pod : old_pod;
  if (pod && pod->run_as_user) {
    uids_.PodSeen(key, *pod->run_as_user);
  } else if (!pod) {
    uids_.PodGone(key);
  }
  if (admission_) admission_->OnPod(old_pod, pod);
  if (p->controller_kind == "CodeRun" && !p->controller_name.empty()) {
    enqueue_(p->ns + "/" + p->controller_name);
  } else if (p->controller_kind == "CodeRunPool" && !p->controller_name.empty()) {
    enqueue_(reconcile::PoolKey(p->ns, p->controller_name));
    if (pools_) {
      auto pool = pools_(p->ns + "/" + p->controller_name);
      const reconcile::PoolPod* entry = pool ? pool->Entry(p->uid) : nullptr;
      if (entry && !entry->claimed_by.empty()) enqueue_(p->ns + "/" + entry->claimed_by);
    }
  }
}

void EventRouter::OnPool(const std::string&, const Pool* old_pool, const Pool* pool) {
  const Pool* p = pool ? pool : old_pool;
  enqueue_(reconcile::PoolKey(p->ns, p->name));
}

void EventRouter::OnNetworkPolicy(const std::string&, const NetworkPolicy* old_policy,
                                  const NetworkPolicy* policy) {
  const NetworkPolicy* p = policy ? policy : old_policy;
  // Any change may release runs held for a conflict.
  for (const std::string& run : runs_.held_for_policy(p->ns)) enqueue_(run);
  // Ours deleted or altered: restore it where runs exist.
  const bool restore = p->name == reconcile::kNetworkPolicyName &&
                       !(policy && reconcile::IsIntactDenyAll(*policy));
  if (restore && runs_.count_in_namespace(p->ns) > 0) {
    enqueue_(reconcile::NetworkPolicyKey(p->ns));
  }
}

EventRouter::Runs RunsOf(const informer::Informer<CodeRun>& coderuns) {
  return {[&coderuns](const std::string& ns) { return coderuns.IndexCount(kByNamespace, ns); },
          [&coderuns](const std::string& ns) { return coderuns.IndexKeys(kHeldForPolicy, ns); }};
}

void Wire(EventRouter& router, informer::Informer<CodeRun>& coderuns,
          informer::Informer<Pod>& pods, informer::Informer<NetworkPolicy>& policies,
          informer::Informer<Workload>* workloads, informer::Informer<Pool>* pools) {
  coderuns.AddIndexer(kByNamespace, CodeRunNamespace);
  coderuns.AddIndexer(kHeldForPolicy, HeldForPolicy);
  pods.AddIndexer(kStrangers, StrangerOf);
  policies.AddIndexer(kByNamespace, PolicyNamespace);
  coderuns.AddHandler([&router](const std::string& key, const CodeRun* old_run,
                                const CodeRun* run) { router.OnCodeRun(key, old_run, run); });
  pods.AddHandler([&router](const std::string& key, const Pod* old_pod, const Pod* pod) {
    router.OnPod(key, old_pod, pod);
  });
  policies.AddHandler([&router](const std::string& key, const NetworkPolicy* old_policy,
                                const NetworkPolicy* policy) {
    router.OnNetworkPolicy(key, old_policy, policy);
  });
  if (pools) {
    pods.AddIndexer(kByPool, PoolOf);
    pools->AddIndexer(kByNamespace, PoolNamespace);
    pools->AddHandler([&router](const std::string& key, const Pool* old_pool, const Pool* pool) {
      router.OnPool(key, old_pool, pool);
    });
    router.SetPools([pools](const std::string& key) { return pools->Get(key); });
  }
  if (workloads) {
    workloads->AddHandler([&router](const std::string& key, const Workload* old_workload,
                                    const Workload* workload) {
      router.OnWorkload(key, old_workload, workload);
    });
  }
}

reconcile::Caches CachesOf(const informer::Informer<CodeRun>& coderuns,
                           const informer::Informer<Pod>& pods,
                           const informer::Informer<NetworkPolicy>& policies,
                           const informer::Informer<Workload>* workloads,
                           const informer::Informer<Pool>* pools) {
  reconcile::Caches caches{
      [&coderuns](const std::string& key) { return coderuns.Get(key); },
      [&pods](const std::string& key) { return pods.Get(key); },
      [&policies](const std::string& ns) { return policies.ByIndex(kByNamespace, ns); },
      [&pods](const std::string& run_uid) {
        std::vector<std::string> names;
        for (const std::string& key : pods.IndexKeys(kStrangers, run_uid)) {
          names.push_back(informer::SplitKey(key).second);
        }
        return names;
      },
      nullptr};
  if (workloads) {
    caches.workload = [workloads](const std::string& key) { return workloads->Get(key); };
  }
  if (pools) {
    caches.pool = [pools](const std::string& key) { return pools->Get(key); };
    caches.pools = [pools](const std::string& ns) { return pools->ByIndex(kByNamespace, ns); };
    caches.pool_pods = [&pods](const std::string& pool_uid) { return pods.ByIndex(kByPool, pool_uid); };
  }
  return caches;
}

}  // namespace coderun::app
