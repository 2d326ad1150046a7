// Admission: which waiting CodeRuns may create their Pod now. A run that cannot start yet
// waits in a queue with no Pod and no Secret, so etcd and the scheduler never hold thousands
// of hopeless Pods; the controller creates Pods only while its not-yet-running Pods are
// fewer than a bound (and, if set, its live runs fewer than cluster-wide and per-namespace
// bounds).
//
// Order: by spec.priority (higher first), then FIFO by creation time (then name) within a
// namespace, round-robin across namespaces, so a namespace that submits 10,000 runs cannot
// starve one that submits 10 (priority never reaches across namespaces).
//
// Level-triggered: the state is derived from the CodeRun and Pod informers' events only
// (OnRun, OnPod), so a restarted or failed-over controller rebuilds the same queue from its
// caches. The one piece of memory is the grant itself (a run admitted whose Pod is not in
// the cache yet); lost in a restart, it is given again in the same order.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <ext/pb_ds/assoc_container.hpp>
#include <ext/pb_ds/tree_policy.hpp>

#include "common/clock.h"
#include "reconcile/types.h"

namespace coderun::reconcile {

struct AdmissionLimits {
  // Runs admitted whose Pod has not started running (being created, scheduled, pulled,
  // sandboxed). At least 1.
  std::int64_t max_starting = 20;
  // Runs admitted and not finished (starting or running); 0 = no bound.
  std::int64_t max_running = 0;
  // The same, per namespace; 0 = no bound.
  std::int64_t max_running_per_namespace = 0;
};

// A queued run's place: what its status shows.
struct QueuePlace {
  std::int64_t position = 0;      // 1 = next to be admitted (cluster-wide, round-robin order)
  std::int64_t in_namespace = 0;  // runs of its own namespace ahead of it
  // Estimated wait at the recent admission rate; none before any run was admitted lately.
  std::optional<std::chrono::seconds> eta;
};

struct AdmissionCounts {
  std::int64_t queued = 0, starting = 0, running = 0;
};

class Admission {
 public:
  // Called (outside the lock) with the key of each run just admitted, to reconcile it.
  using Wake = std::function<void(const std::string& run_key)>;

  Admission(AdmissionLimits limits, Wake wake, Clock& clock);

  // Informer handlers (any thread). A run waits in the queue while it is not terminal, not
  // being deleted, records no Pod in its status, and no Pod it owns is cached. A Pod counts
  // as starting until its container runs, as running until it ends, and only while it has
  // the name the controller gives its run's Pod and that run is live: Pods someone else
  // labels as run Pods and owns to a finished CodeRun, or names otherwise, never take a
  // slot (the garbage collector deletes those owned by a CodeRun that does not exist).
  void OnRun(const CodeRun* old_run, const CodeRun* run);
  void OnPod(const Pod* old_pod, const Pod* pod);

  // The caches have synced (and this replica leads): grants may begin. Until then the
  // counts are incomplete, so nothing is admitted.
  void Open();

  // Whether `run` may create its Pod now: true once a grant was given to it (and while its
  // Pod exists). Otherwise its place in the queue.
  struct Decision {
    bool admitted = false;
    QueuePlace place;  // when not admitted
    // When the run was first admitted (Unix seconds, this process's memory): the clock of
    // waits before a Pod exists (quota). 0 when not admitted.
    std::int64_t admitted_at = 0;
  };
  Decision Admit(const CodeRun& run);

  // The admitted `run` cannot create its Pod for a while (its namespace's ResourceQuota is
  // full): its slot goes back, it keeps its place at the head of its namespace, and its
  // namespace gets no grant for `pause`.
  void Defer(const CodeRun& run, std::chrono::seconds pause);

  AdmissionCounts Counts() const;
  // Creation time (Unix seconds) of the oldest run waiting in the queue; 0 when none waits.
  // Walks every queue: for a scrape, not a hot path.
  std::int64_t OldestQueuedCreated() const;

 private:
  enum class PodState { kNone, kStarting, kRunning, kFinished };
  struct QKey {
    std::int64_t priority;  // higher first
    std::int64_t created;
    std::string name, uid;
    bool operator<(const QKey& o) const {
      return std::tie(o.priority, created, name, uid) < std::tie(priority, o.created, o.name, o.uid);
    }
  };
  using OrderedQueue =
      __gnu_pbds::tree<QKey, __gnu_pbds::null_type, std::less<QKey>, __gnu_pbds::rb_tree_tag,
                       __gnu_pbds::tree_order_statistics_node_update>;
  struct Rec {
    std::string ns, name;
    std::int64_t created = 0;
    std::int64_t priority = 0;
    std::string own_pod;     // PodName(name, uid), once the run is known
    std::string pod_name;    // the name of the Pod owned by this UID that was seen last
    bool run_waiting = false;  // the run object is live and records no Pod
    bool run_live = false;     // the run object exists, not terminal, not deleting
    PodState pod = PodState::kNone;
    bool granted = false;
    std::int64_t first_admitted = 0;  // Unix seconds
  };
  enum class Class { kNone, kQueued, kStarting, kRunning };
  struct Namespace {
    OrderedQueue queue;
    std::int64_t active = 0;  // starting + running
    SteadyTime paused_until{};
  };

  static Class Classify(const Rec& r);
  static QKey KeyOf(const Rec& r, const std::string& uid) {
    return {r.priority, r.created, r.name, uid};
  }
  // The Pod seen counts: its run is live and the Pod has that run's Pod name.
  static bool PodCounts(const Rec& r) { return r.run_live && r.pod_name == r.own_pod; }
  // Applies `change` to the record of `uid`, moving it between queue and counts.
  template <typename F>
  void Update(const std::string& uid, F change);
  void Enter(const std::string& uid, const Rec& r, Class c);
  void Leave(const std::string& uid, const Rec& r, Class c);
  // Grants while there is room; returns the keys to wake. Lock held.
  std::vector<std::string> Pump();
  bool Eligible(const Namespace& n, SteadyTime now) const;
  QueuePlace PlaceOf(const Rec& r, const std::string& uid) const;
  void WakeAll(const std::vector<std::string>& keys);

  const AdmissionLimits limits_;
  const Wake wake_;
  Clock& clock_;

  mutable std::mutex mu_;
  bool open_ = false;
  std::unordered_map<std::string, Rec> recs_;  // by run UID
  std::map<std::string, Namespace> namespaces_;
  std::string cursor_;  // the namespace granted last: round-robin goes on after it
  std::int64_t queued_ = 0, starting_ = 0, running_ = 0;
  std::deque<SteadyTime> recent_grants_;  // within the rate window
};

}  // namespace coderun::reconcile
