#include "common/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace coderun {

TokenBucket::TokenBucket(double qps, int burst, SteadyTime now)
    : qps_(qps), burst_(std::max(burst, 1)), tokens_(burst_), last_(now) {}

std::chrono::nanoseconds TokenBucket::Reserve(SteadyTime now) {
  if (qps_ <= 0) return std::chrono::nanoseconds::zero();
  if (now > last_) {
    const double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1;
  if (tokens_ >= 0) return std::chrono::nanoseconds::zero();
  return std::chrono::nanoseconds(std::llround(-tokens_ / qps_ * 1e9));
}

}  // namespace coderun
