#include "kube/rate_limiter.h"

#include <thread>

namespace coderun::kube {

RateLimiter::RateLimiter(double qps, int burst, const Clock& clock, Sleeper sleep)
    : clock_(clock),
      sleep_(sleep ? std::move(sleep)
                   : Sleeper([](std::chrono::nanoseconds d) { std::this_thread::sleep_for(d); })),
      bucket_(qps, burst, clock.Now()) {}

void RateLimiter::Wait() {
  std::chrono::nanoseconds delay;
  {
    std::lock_guard<std::mutex> lock(mu_);
    delay = bucket_.Reserve(clock_.Now());
  }
  if (delay > std::chrono::nanoseconds::zero()) sleep_(delay);
}

}  // namespace coderun::kube
