// Warm pools (docs/warm-pools.md): a CodeRunPool keeps `size` run Pods started, each
// waiting (runner --await-request) for the one run that claims it. This file holds the pure
// parts: the pool as the cache keeps it, its ledger, the warm Pod, which runs a pool
// serves, and what the pool controller should do next (PlanPool).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "kube/client.h"
#include "reconcile/settings.h"
#include "reconcile/types.h"
#include "reconcile/validate.h"

namespace coderun::reconcile {

inline const kube::Resource kCodeRunPools{"coderun.dev", "v1alpha1", "coderunpools", true};
// Every warm Pod carries the name of its pool under this label (the pool's status.selector).
inline constexpr char kPoolLabel[] = "coderun.dev/pool";
// Largest spec.size (the CRD's bound).
inline constexpr std::int64_t kMaxPoolSize = 100;

// One entry of a pool's ledger (status.pods): a Pod the controller created for the pool,
// and the run that claimed it ("" while idle). Only the controller writes status, so a Pod
// is the pool's only if the ledger lists its UID.
struct PoolPod {
  std::string name, uid;
  std::string claimed_by;      // the claiming CodeRun's name
  std::string claimed_by_uid;  // and UID
  std::int64_t created = 0;    // Unix seconds, when the entry was written

  bool operator==(const PoolPod&) const = default;
};

// What the controller needs of a CodeRunPool.
struct Pool {
  std::string ns, name, uid, resource_version;
  std::int64_t generation = 0;
  bool deleting = false;
  std::int64_t size = 0;
  std::string language;  // DecodePool: api::kDefaultLanguage when missing
  Limits limits;
  // Status as last written.
  std::vector<PoolPod> pods;  // the ledger
  std::int64_t ready = 0, starting = 0, observed_generation = 0;
  std::string ready_condition_status, ready_condition_time;  // condition Ready

  std::string Key() const { return ns + "/" + name; }
  const PoolPod* Entry(const std::string& pod_uid) const;
};

absl::StatusOr<Pool> DecodePool(const kube::json& object);

// The run's status records a warm Pod of a pool (not the run's own Pod, PodName).
bool InWarmPod(const CodeRun& run);

// The pool's limits as a run's would validate (Validate on a run with them); the reason
// when they would not.
std::variant<ValidLimits, std::string> ValidatePool(const Pool& pool, const Settings& settings);

// A run this pool may serve: a plain run (no tests), not Kueue-managed, of the pool's
// language, whose validated limits equal the pool's.
bool PoolServes(const Pool& pool, const ValidLimits& pool_limits, const CodeRun& run,
                const ValidLimits& run_limits, const Settings& settings);

// "<pool, cut to 52 characters>-<8 random hex>": a new warm Pod's name.
std::string WarmPodName(const Pool& pool);
// A warm Pod of `pool`: the cold run's hardened Pod (pod.cc) with stdin open once, no
// input volume, no deadline (it waits), the runner started with --await-request; labelled
// with kPoolLabel, owned by the pool.
kube::json BuildWarmPod(const Pool& pool, const ValidLimits& limits, const Settings& settings,
                        const std::string& name, std::int64_t run_uid);

// An idle ledger Pod that may take a run now: cached, not deleting, its runner running.
bool WarmPodReady(const Pod& pod);

// What the pool controller does next, from the pool and the cached Pods it owns.
struct PoolPlan {
  std::int64_t create = 0;           // new warm Pods to create
  std::vector<PoolPod> delete_pods;  // ledger Pods to delete (ended while idle, over size)
  std::vector<std::string> strangers;  // Pods owned by the pool that the ledger never listed
  bool young_strangers = false;        // such Pods within their grace: look again after it
  bool uncached_entries = false;       // ledger entries kept for their grace: the same
  std::vector<PoolPod> ledger;       // the ledger to write (entries whose Pod is gone dropped)
  std::int64_t ready = 0, starting = 0;
};
// `pods`: the cached Pods whose controller ownerReference is the pool. A ledger entry whose
// Pod is not cached is kept `grace_seconds` after it was written (the Pod cache may lag the
// creation), then dropped. Claimed entries are never deleted here (their run does), and
// dropped as soon as their Pod is not cached (it was, when it was claimed).
PoolPlan PlanPool(const Pool& pool, const std::vector<const Pod*>& pods, std::int64_t now,
                  std::int64_t grace_seconds);

// The status patch of a pool: the ledger, counts, selector, observedGeneration and a
// Ready condition; with the pool's resourceVersion as precondition.
kube::json PoolStatusPatch(const Pool& pool, const std::vector<PoolPod>& ledger,
                           std::int64_t ready, std::int64_t starting, const std::string& now);

}  // namespace coderun::reconcile
