// Allocates each run a Linux UID of its own from a range, unique among live run Pods, so the
// RLIMIT_NPROC of one run never counts another run's processes.
//
// A UID is held by every Pod seen with it (the Pod informer's handler feeds PodSeen/PodGone,
// so a restart rebuilds the holders from the cache) and by a reservation made between
// Allocate() and the Pod's appearance. Holds are kept per holder: a UID is free only when no
// Pod and no reservation holds it, so a look-alike Pod that carries a live run's UID adds a
// hold of its own and, when deleted, releases only that — never the run's. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

namespace coderun::reconcile {

class UidAllocator {
 public:
  UidAllocator(std::int64_t low, std::int64_t high);

  // Reserves a UID that nothing holds for the Pod to be created as `pod_key`
  // (namespace/name); returns the existing reservation of that key if there is one. nullopt
  // if the range is exhausted.
  std::optional<std::int64_t> Allocate(const std::string& pod_key);
  // Drops the reservation of `pod_key` (its Pod was not created). Holds of seen Pods stay.
  void Release(const std::string& pod_key);

  // Pod informer events: the Pod `pod_key` exists holding `uid` / is gone. A seen Pod takes
  // over the reservation of its key when it holds the reserved UID.
  void PodSeen(const std::string& pod_key, std::int64_t uid);
  void PodGone(const std::string& pod_key);

  // UIDs held by at least one Pod or reservation.
  std::size_t InUse() const;

 private:
  void DropHoldLocked(std::int64_t uid, const std::string& holder);

  const std::int64_t low_, high_;
  mutable std::mutex mu_;
  // Guarded by mu_. Holders are "pod:<key>" for seen Pods and "res:<key>" for reservations.
  std::map<std::int64_t, std::set<std::string>> holders_;
  std::map<std::string, std::int64_t> pod_uid_;   // guarded by mu_: seen Pod key -> UID
  std::map<std::string, std::int64_t> reserved_;  // guarded by mu_: reserved key -> UID
  std::int64_t next_;                             // guarded by mu_: next-fit cursor
};

}  // namespace coderun::reconcile
