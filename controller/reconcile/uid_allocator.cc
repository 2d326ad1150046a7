#include "reconcile/uid_allocator.h"

namespace coderun::reconcile {
namespace {

std::string PodHolder(const std::string& key) { return "pod:" + key; }
std::string Reservation(const std::string& key) { return "res:" + key; }

}  // namespace

UidAllocator::UidAllocator(std::int64_t low, std::int64_t high)
    : low_(low), high_(high), next_(low) {}

std::optional<std::int64_t> UidAllocator::Allocate(const std::string& pod_key) {
  std::lock_guard lock(mu_);
  if (auto it = reserved_.find(pod_key); it != reserved_.end()) return it->second;
  const std::int64_t size = high_ - low_ + 1;
  for (std::int64_t i = 0; i < size; ++i) {
    std::int64_t uid = low_ + (next_ - low_ + i) % size;
    if (holders_.count(uid)) continue;
    holders_[uid].insert(Reservation(pod_key));
    reserved_[pod_key] = uid;
    next_ = uid + 1 > high_ ? low_ : uid + 1;
    return uid;
  }
  return std::nullopt;
}

void UidAllocator::Release(const std::string& pod_key) {
  std::lock_guard lock(mu_);
  auto it = reserved_.find(pod_key);
  if (it == reserved_.end()) return;
  DropHoldLocked(it->second, Reservation(pod_key));
  reserved_.erase(it);
}

void UidAllocator::PodSeen(const std::string& pod_key, std::int64_t uid) {
  std::lock_guard lock(mu_);
  if (auto it = pod_uid_.find(pod_key); it != pod_uid_.end()) {
    if (it->second == uid) return;
    DropHoldLocked(it->second, PodHolder(pod_key));
    pod_uid_.erase(it);
  }
  // Outside the range (a stranger's Pod) it cannot collide with an allocation.
  if (uid < low_ || uid > high_) return;
  holders_[uid].insert(PodHolder(pod_key));
  pod_uid_[pod_key] = uid;
  if (auto r = reserved_.find(pod_key); r != reserved_.end() && r->second == uid) {
    DropHoldLocked(uid, Reservation(pod_key));  // the Pod holds it now
    reserved_.erase(r);
  }
}

void UidAllocator::PodGone(const std::string& pod_key) {
  std::lock_guard lock(mu_);
  auto it = pod_uid_.find(pod_key);
  if (it == pod_uid_.end()) return;
  DropHoldLocked(it->second, PodHolder(pod_key));
  pod_uid_.erase(it);
}

std::size_t UidAllocator::InUse() const {
  std::lock_guard lock(mu_);
  return holders_.size();
}

void UidAllocator::DropHoldLocked(std::int64_t uid, const std::string& holder) {
  auto it = holders_.find(uid);
  if (it == holders_.end()) return;
  it->second.erase(holder);
  if (it->second.empty()) holders_.erase(it);
}

}  // namespace coderun::reconcile
