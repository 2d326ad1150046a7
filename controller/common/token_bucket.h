// The token bucket behind every rate cap (client-go's QPS/burst, golang.org/x/time/rate's
// Reserve): it starts full with `burst` tokens and refills at `qps` per second. Not
// thread-safe: each user guards its bucket with its own mutex.
#pragma once

#include <chrono>

#include "common/clock.h"

namespace coderun {

class TokenBucket {
 public:
  // qps <= 0 disables the bucket (every call is free). burst < 1 is treated as 1.
  TokenBucket(double qps, int burst, SteadyTime now);

  // Takes a token, possibly one that only exists in the future, and returns how long the
  // caller must wait for it (zero when one was there). Reservations queue up: each call
  // after the bucket ran dry waits one refill interval longer than the previous one.
  std::chrono::nanoseconds Reserve(SteadyTime now);

 private:
  const double qps_;
  const double burst_;
  double tokens_;    // may go negative: tokens already promised to future reservations
  SteadyTime last_;  // the time tokens_ was computed for
};

}  // namespace coderun
