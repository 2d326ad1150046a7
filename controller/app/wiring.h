// How informer events become work, in one place: which CodeRun key each CodeRun, Pod and
// NetworkPolicy event enqueues, the run-UID allocator's feed, and the informer indices the
// rules and the reconciler read (CodeRuns and policies by namespace, runs held for a
// NetworkPolicy conflict, strangers: Pods labelled for a run that the run does not own).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "informer/informer.h"
#include "reconcile/admission.h"
#include "reconcile/reconciler.h"
#include "reconcile/types.h"
#include "reconcile/uid_allocator.h"

namespace coderun::app {

// Index names (informer::Informer::AddIndexer) registered by Wire().
// CodeRuns and NetworkPolicies: metadata.namespace.
inline constexpr char kByNamespace[] = "namespace";
// CodeRuns whose status reason is NetworkPolicyConflict, by namespace.
inline constexpr char kHeldForPolicy[] = "heldForNetworkPolicy";
// Pods labelled coderun.dev/uid=U whose controller ownerReference is not U, by U.
inline constexpr char kStrangers[] = "strangers";
// Pods whose controller ownerReference is a CodeRunPool, by that pool's UID.
inline constexpr char kByPool[] = "byPool";

// The index functions behind those names.
std::vector<std::string> CodeRunNamespace(const reconcile::CodeRun& run);
std::vector<std::string> HeldForPolicy(const reconcile::CodeRun& run);
std::vector<std::string> PolicyNamespace(const reconcile::NetworkPolicy& policy);
std::vector<std::string> StrangerOf(const reconcile::Pod& pod);
std::vector<std::string> PoolOf(const reconcile::Pod& pod);
std::vector<std::string> PoolNamespace(const reconcile::Pool& pool);

// The rules from informer events to work-queue keys. Handlers run on the informers' threads
// (one call at a time per namespace); thread-safe as long as `enqueue` and `runs` are.
class EventRouter {
 public:
  using Enqueue = std::function<void(const std::string& key)>;
  // What the NetworkPolicy rule reads about CodeRuns (the CodeRun informer's indices).
  struct Runs {
    std::function<std::size_t(const std::string& ns)> count_in_namespace;
    // Keys of the runs in `ns` held with reason NetworkPolicyConflict.
    std::function<std::vector<std::string>(const std::string& ns)> held_for_policy;
  };

  // `uids` and `admission` (null: none) must outlive the router. With `kueue`, runs
  // labelled with a Kueue queue stay out of `admission` (Kueue admits them).
  EventRouter(Enqueue enqueue, reconcile::UidAllocator& uids, Runs runs,
              reconcile::Admission* admission = nullptr, bool kueue = false);

  // Any CodeRun change enqueues its key and feeds the admission queue.
  void OnCodeRun(const std::string& key, const reconcile::CodeRun* old_run,
                 const reconcile::CodeRun* run);
  // A Pod seen with a runAsUser holds that UID under its key; a deleted Pod releases it.
  // Every Pod event enqueues the CodeRun its controller ownerReference names and feeds the
  // admission counts.
  void OnPod(const std::string& key, const reconcile::Pod* old_pod, const reconcile::Pod* pod);
  // Any policy change enqueues the namespace's runs held with reason NetworkPolicyConflict;
  // the managed deny-all deleted or altered also enqueues NetworkPolicyKey(ns), only in a
  // namespace that has CodeRuns.
  void OnNetworkPolicy(const std::string& key, const reconcile::NetworkPolicy* old_policy,
                       const reconcile::NetworkPolicy* policy);
  // Every Workload event enqueues the CodeRun its controller ownerReference names.
  void OnWorkload(const std::string& key, const reconcile::Workload* old_workload,
                  const reconcile::Workload* workload);
  // Any pool change enqueues the pool. A warm Pod's events enqueue its pool and the run its
  // pool's ledger says claimed it (`pools` reads the pool cache; set before events flow).
  void OnPool(const std::string& key, const reconcile::Pool* old_pool, const reconcile::Pool* pool);
  void SetPools(std::function<std::shared_ptr<const reconcile::Pool>(const std::string& key)> pools) {
    pools_ = std::move(pools);
  }

 private:
  const Enqueue enqueue_;
  reconcile::UidAllocator& uids_;
  const Runs runs_;
  reconcile::Admission* const admission_;
  const bool kueue_;
  std::function<std::shared_ptr<const reconcile::Pool>(const std::string& key)> pools_;
};

// EventRouter::Runs served by `coderuns`' kByNamespace and kHeldForPolicy indices.
EventRouter::Runs RunsOf(const informer::Informer<reconcile::CodeRun>& coderuns);

// Registers the indices above and `router`'s handlers on the informers. Before they start.
void Wire(EventRouter& router, informer::Informer<reconcile::CodeRun>& coderuns,
          informer::Informer<reconcile::Pod>& pods,
          informer::Informer<reconcile::NetworkPolicy>& policies,
          informer::Informer<reconcile::Workload>* workloads = nullptr,
          informer::Informer<reconcile::Pool>* pools = nullptr);

// The reconciler's view of the caches, read from the informers and the indices Wire()
// registered. The informers must outlive the returned functions.
reconcile::Caches CachesOf(const informer::Informer<reconcile::CodeRun>& coderuns,
                           const informer::Informer<reconcile::Pod>& pods,
                           const informer::Informer<reconcile::NetworkPolicy>& policies,
                           const informer::Informer<reconcile::Workload>* workloads = nullptr,
                           const informer::Informer<reconcile::Pool>* pools = nullptr);

}  // namespace coderun::app
