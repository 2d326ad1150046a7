#include "common/backoff.h"

#include <algorithm>

namespace coderun {

using std::chrono::nanoseconds;

Backoff::Backoff(nanoseconds initial, nanoseconds cap, double jitter, std::uint64_t seed)
    : initial_(initial), cap_(std::max(cap, initial)), jitter_(std::max(jitter, 0.0)), rng_(seed) {}

nanoseconds Backoff::Delay(int attempt) {
  if (initial_ <= nanoseconds::zero()) return nanoseconds::zero();
  nanoseconds delay = initial_;
  for (int i = 0; i < attempt && delay < cap_; ++i) {
    // Doubling past cap/2 would exceed the cap (and eventually overflow): stop there.
    if (delay > cap_ / 2) {
      delay = cap_;
      break;
    }
    delay *= 2;
  }
  delay = std::min(delay, cap_);
  if (jitter_ > 0) {
    std::uniform_real_distribution<double> factor(1.0, 1.0 + jitter_);
    delay = std::chrono::duration_cast<nanoseconds>(delay * factor(rng_));
  }
  return delay;
}

nanoseconds Backoff::Next() {
  nanoseconds delay = Delay(attempts_);
  // Past the cap more attempts change nothing; stop counting before int overflows.
  if (attempts_ < 64) ++attempts_;
  return delay;
}

}  // namespace coderun
