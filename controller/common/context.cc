#include "common/context.h"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace coderun {
namespace internal {

struct CancelState {
  std::mutex mu;
  std::condition_variable cv;
  bool cancelled = false;                                  // guarded by mu
  unsigned long next_id = 1;                               // guarded by mu
  std::map<unsigned long, std::function<void()>> waiting;  // guarded by mu
  unsigned long running = 0;                               // guarded by mu: callback in flight
  std::thread::id running_on;                              // guarded by mu

  void Cancel() {
    std::unique_lock lock(mu);
    if (cancelled) return;
    cancelled = true;
    cv.notify_all();
    while (!waiting.empty()) {
      auto node = waiting.extract(waiting.begin());
      running = node.key();
      running_on = std::this_thread::get_id();
      lock.unlock();
      node.mapped()();
      lock.lock();
      running = 0;
      cv.notify_all();
    }
  }

  void Unregister(unsigned long id) {
    std::unique_lock lock(mu);
    waiting.erase(id);
    // A callback running on another thread finishes before its registration goes.
    cv.wait(lock, [&] { return running != id || running_on == std::this_thread::get_id(); });
  }
};

}  // namespace internal

CancelRegistration::CancelRegistration(std::shared_ptr<internal::CancelState> state,
                                       unsigned long id)
    : state_(std::move(state)), id_(id) {}

CancelRegistration::CancelRegistration(CancelRegistration&& other) noexcept
    : state_(std::move(other.state_)), id_(std::exchange(other.id_, 0)) {}

CancelRegistration& CancelRegistration::operator=(CancelRegistration&& other) noexcept {
  if (this != &other) {
    Reset();
    state_ = std::move(other.state_);
    id_ = std::exchange(other.id_, 0);
  }
  return *this;
}

CancelRegistration::~CancelRegistration() { Reset(); }

void CancelRegistration::Reset() {
  if (state_ && id_ != 0) state_->Unregister(id_);
  state_.reset();
  id_ = 0;
}

Context Context::WithDeadline(Deadline deadline) const {
  Context child = *this;
  if (!child.deadline_ || deadline < *child.deadline_) child.deadline_ = deadline;
  return child;
}

Context Context::WithTimeout(std::chrono::steady_clock::duration timeout) const {
  return WithDeadline(std::chrono::steady_clock::now() + timeout);
}

bool Context::cancelled() const {
  if (!cancel_) return false;
  std::lock_guard lock(cancel_->mu);
  return cancel_->cancelled;
}

absl::Status Context::Err() const {
  if (cancelled()) return absl::CancelledError("cancelled");
  if (deadline_ && std::chrono::steady_clock::now() >= *deadline_) {
    return absl::DeadlineExceededError("deadline exceeded");
  }
  return absl::OkStatus();
}

CancelRegistration Context::OnCancel(std::function<void()> callback) const {
  if (!cancel_) return {};
  std::unique_lock lock(cancel_->mu);
  if (cancel_->cancelled) {
    lock.unlock();
    callback();
    return {};
  }
  const unsigned long id = cancel_->next_id++;
  cancel_->waiting.emplace(id, std::move(callback));
  return CancelRegistration(cancel_, id);
}

bool Context::SleepFor(std::chrono::steady_clock::duration period) const {
  const Deadline wanted = std::chrono::steady_clock::now() + period;
  const Deadline until = deadline_ && *deadline_ < wanted ? *deadline_ : wanted;
  if (!cancel_) {
    std::this_thread::sleep_until(until);
    return until == wanted;
  }
  std::unique_lock lock(cancel_->mu);
  const bool cancelled = cancel_->cv.wait_until(lock, until, [&] { return cancel_->cancelled; });
  return !cancelled && until == wanted;
}

bool RealSleep(const Context& ctx, std::chrono::nanoseconds d) { return ctx.SleepFor(d); }

CancelSource::CancelSource() : state_(std::make_shared<internal::CancelState>()) {}

Context CancelSource::context() const {
  Context ctx;
  ctx.cancel_ = state_;
  return ctx;
}

void CancelSource::Cancel() { state_->Cancel(); }

bool CancelSource::cancelled() const {
  std::lock_guard lock(state_->mu);
  return state_->cancelled;
}

}  // namespace coderun
