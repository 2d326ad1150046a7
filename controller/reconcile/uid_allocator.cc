#include "reconcile/uid_allocator.h"

namespace coderun::reconcile {

UidAllocator::UidAllocator(std::int64_t low, std::int64_t high)
    : low_(low), high_(high), next_(low) {}

std::optional<std::int64_t> UidAllocator::Allocate(const std::string& pod_key) {
  std::lock_guard lock(mu_);
  if (auto it = by_pod_.find(pod_key); it != by_pod_.end()) return it->second;
  const std::int64_t size = high_ - low_ + 1;
  for (std::int64_t i = 0; i < size; ++i) {
    std::int64_t uid = low_ + (next_ - low_ + i) % size;
    if (owner_.count(uid)) continue;
    owner_[uid] = pod_key;
    by_pod_[pod_key] = uid;
    next_ = uid + 1 > high_ ? low_ : uid + 1;
    return uid;
  }
  return std::nullopt;
}

void UidAllocator::Release(const std::string& pod_key) {
  std::lock_guard lock(mu_);
  FreeLocked(pod_key);
}

void UidAllocator::PodSeen(const std::string& pod_key, std::int64_t uid) {
  std::lock_guard lock(mu_);
  if (auto it = by_pod_.find(pod_key); it != by_pod_.end() && it->second == uid) return;
  FreeLocked(pod_key);
  // Outside the range (a stranger's Pod) it cannot collide with an allocation.
  if (uid < low_ || uid > high_) return;
  owner_[uid] = pod_key;  // a live Pod outranks a reservation of the same UID
  by_pod_[pod_key] = uid;
}

void UidAllocator::PodGone(const std::string& pod_key) {
  std::lock_guard lock(mu_);
  FreeLocked(pod_key);
}

std::size_t UidAllocator::InUse() const {
  std::lock_guard lock(mu_);
  return owner_.size();
}

void UidAllocator::FreeLocked(const std::string& pod_key) {
  auto it = by_pod_.find(pod_key);
  if (it == by_pod_.end()) return;
  if (auto o = owner_.find(it->second); o != owner_.end() && o->second == pod_key) owner_.erase(o);
  by_pod_.erase(it);
}

}  // namespace coderun::reconcile
