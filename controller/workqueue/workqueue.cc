#include "workqueue/workqueue.h"

#include <algorithm>

namespace coderun::workqueue {

RateLimitingQueue::RateLimitingQueue(QueueOptions options, Clock& clock)
    : options_(options),
      clock_(clock),
      backoff_(options.backoff_base, options.backoff_cap),
      bucket_(options.qps, options.burst, clock.Now()) {}

void RateLimitingQueue::AddLocked(const std::string& key) {
  if (shutting_down_ || dirty_.contains(key)) return;
  dirty_.insert(key);
  if (processing_.contains(key)) return;  // requeued by Done()
  queue_.push_back(key);
  cv_.notify_one();
}

void RateLimitingQueue::Add(const std::string& key) {
  std::lock_guard lock(mu_);
  AddLocked(key);
}

void RateLimitingQueue::AddAfter(const std::string& key, Duration delay) {
  if (delay <= Duration::zero()) {
    Add(key);
    return;
  }
  std::lock_guard lock(mu_);
  if (shutting_down_) return;
  SteadyTime due = clock_.Now() + delay;
  auto it = delayed_by_key_.find(key);
  if (it != delayed_by_key_.end()) {
    if (it->second <= due) return;  // an earlier add is already pending
    delayed_.erase({it->second, key});
    it->second = due;
  } else {
    delayed_by_key_.emplace(key, due);
  }
  delayed_.emplace(due, key);
  // Waiters may be sleeping towards a later deadline: let them recompute.
  if (delayed_.begin()->second == key) cv_.notify_all();
}

void RateLimitingQueue::AddRateLimited(const std::string& key) {
  Duration delay;
  {
    std::lock_guard lock(mu_);
    if (shutting_down_) return;
    int& requeues = requeues_[key];
    Duration item = backoff_.Delay(requeues);
    ++requeues;
    ++total_retries_;
    delay = std::max(item, bucket_.Reserve(clock_.Now()));
  }
  AddAfter(key, delay);
}

void RateLimitingQueue::Forget(const std::string& key) {
  std::lock_guard lock(mu_);
  requeues_.erase(key);
}

int RateLimitingQueue::NumRequeues(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = requeues_.find(key);
  return it == requeues_.end() ? 0 : it->second;
}

std::uint64_t RateLimitingQueue::TotalRetries() const {
  std::lock_guard lock(mu_);
  return total_retries_;
}

void RateLimitingQueue::PromoteDueLocked(SteadyTime now) {
  while (!delayed_.empty() && delayed_.begin()->first <= now) {
    std::string key = delayed_.begin()->second;
    delayed_.erase(delayed_.begin());
    delayed_by_key_.erase(key);
    AddLocked(key);
  }
}

std::optional<std::string> RateLimitingQueue::Get() {
  std::unique_lock lock(mu_);
  while (true) {
    if (shutting_down_) return std::nullopt;
    SteadyTime now = clock_.Now();
    PromoteDueLocked(now);
    if (!queue_.empty()) {
      std::string key = std::move(queue_.front());
      queue_.pop_front();
      dirty_.erase(key);
      processing_.insert(key);
      if (!queue_.empty()) cv_.notify_one();  // promotions may have readied several keys
      return key;
    }
    if (delayed_.empty()) {
      cv_.wait(lock);
    } else {
      Duration wait = std::min<Duration>(delayed_.begin()->first - now, options_.clock_recheck);
      cv_.wait_for(lock, wait);
    }
  }
}

void RateLimitingQueue::Done(const std::string& key) {
  std::lock_guard lock(mu_);
  if (processing_.erase(key) == 0) return;  // not handed out: nothing to finish
  if (dirty_.contains(key) && !shutting_down_) {
    queue_.push_back(key);
    cv_.notify_one();
  }
}

void RateLimitingQueue::ShutDown() {
  std::lock_guard lock(mu_);
  shutting_down_ = true;
  cv_.notify_all();
}

bool RateLimitingQueue::ShuttingDown() const {
  std::lock_guard lock(mu_);
  return shutting_down_;
}

size_t RateLimitingQueue::Len() const {
  std::lock_guard lock(mu_);
  // Count due delayed keys as ready without mutating: Len() is const.
  size_t due = 0;
  SteadyTime now = clock_.Now();
  for (const auto& [when, key] : delayed_) {
    if (when > now) break;
    if (!dirty_.contains(key) && !processing_.contains(key)) ++due;
  }
  return queue_.size() + due;
}

size_t RateLimitingQueue::NumDelayed() const {
  std::lock_guard lock(mu_);
  return delayed_.size();
}

}  // namespace coderun::workqueue
