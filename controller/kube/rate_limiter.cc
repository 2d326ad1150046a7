#include "kube/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <thread>

namespace coderun::kube {

RateLimiter::RateLimiter(double qps, int burst, const Clock& clock, Sleeper sleep)
    : qps_(qps),
      burst_(std::max(1, burst)),
      clock_(clock),
      sleep_(sleep ? std::move(sleep)
                   : Sleeper([](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); })),
      tokens_(burst_),
      last_(clock.Now()) {}

void RateLimiter::Advance(SteadyTime now) const {
  if (now <= last_) return;
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
  last_ = now;
}

void RateLimiter::Wait() {
  if (qps_ <= 0) return;
  std::chrono::nanoseconds delay{0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    Advance(clock_.Now());
    tokens_ -= 1;
    if (tokens_ < 0) {
      delay = std::chrono::nanoseconds(std::llround(-tokens_ / qps_ * 1e9));
    }
  }
  if (delay > std::chrono::nanoseconds::zero()) sleep_(delay);
}

bool RateLimiter::TryAccept() {
  if (qps_ <= 0) return true;
  std::lock_guard<std::mutex> lock(mu_);
  Advance(clock_.Now());
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

std::chrono::nanoseconds RateLimiter::Delay() const {
  if (qps_ <= 0) return std::chrono::nanoseconds::zero();
  std::lock_guard<std::mutex> lock(mu_);
  Advance(clock_.Now());
  if (tokens_ >= 1) return std::chrono::nanoseconds::zero();
  return std::chrono::nanoseconds(std::llround((1 - tokens_) / qps_ * 1e9));
}

}  // namespace coderun::kube
