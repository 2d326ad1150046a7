// Allocates each run a Linux UID of its own from a range, unique among live run Pods, so the
// RLIMIT_NPROC of one run never counts another run's processes.
//
// The set of used UIDs is the Pod cache's (fed by the Pod informer's handler, so it is
// rebuilt from the cache after a restart) plus reservations made between Allocate() and the
// Pod's appearance in the cache. A UID is free again only when its Pod object is gone.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace coderun::reconcile {

class UidAllocator {
 public:
  UidAllocator(std::int64_t low, std::int64_t high);

  // Reserves a free UID for the Pod `pod_key` (namespace/name); returns the UID that Pod
  // already holds if any. nullopt if the range is exhausted.
  std::optional<std::int64_t> Allocate(const std::string& pod_key);
  // Drops a reservation that did not become a Pod.
  void Release(const std::string& pod_key);

  // Pod informer events: a Pod holding `uid` exists / is gone.
  void PodSeen(const std::string& pod_key, std::int64_t uid);
  void PodGone(const std::string& pod_key);

  std::size_t InUse() const;

 private:
  void FreeLocked(const std::string& pod_key);

  const std::int64_t low_, high_;
  mutable std::mutex mu_;
  std::map<std::int64_t, std::string> owner_;      // guarded by mu_: uid -> pod key
  std::map<std::string, std::int64_t> by_pod_;     // guarded by mu_: pod key -> uid
  std::int64_t next_;                              // guarded by mu_: next-fit cursor
};

}  // namespace coderun::reconcile
