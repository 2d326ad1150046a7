#include "kube/rate_limiter.h"

#include "common/status_macros.h"

namespace coderun::kube {

RateLimiter::RateLimiter(double qps, int burst, const Clock& clock, Sleeper sleep)
    : clock_(clock),
      sleep_(sleep ? std::move(sleep) : Sleeper(RealSleep)),
      bucket_(qps, burst, clock.Now()) {}

absl::Status RateLimiter::Wait(const Context& ctx) {
  RETURN_IF_ERROR(ctx.Err());
  std::chrono::nanoseconds delay;
  {
    std::lock_guard<std::mutex> lock(mu_);
    delay = bucket_.Reserve(clock_.Now());
  }
  if (delay <= std::chrono::nanoseconds::zero()) return absl::OkStatus();
  if (ctx.deadline() && std::chrono::steady_clock::now() + delay > *ctx.deadline()) {
    return absl::DeadlineExceededError("client rate limit: the next request slot is after the deadline");
  }
  if (!sleep_(ctx, delay)) {
    RETURN_IF_ERROR(ctx.Err());
    return absl::CancelledError("client rate limit wait interrupted");
  }
  return absl::OkStatus();
}

}  // namespace coderun::kube
