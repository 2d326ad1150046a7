// Client-side token bucket (client-go's QPS/burst): `qps` tokens per second refill a bucket
// of `burst` tokens; every request takes one. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>

#include "common/clock.h"

namespace coderun::kube {

class RateLimiter {
 public:
  using Sleeper = std::function<void(std::chrono::nanoseconds)>;

  // qps <= 0 disables limiting (Wait never blocks). burst < 1 is treated as 1. The bucket
  // starts full. `clock` must outlive the limiter; `sleep` defaults to
  // std::this_thread::sleep_for (tests pass one that advances a fake clock).
  RateLimiter(double qps, int burst, const Clock& clock = RealClock(), Sleeper sleep = nullptr);

  // Takes a token, blocking until one is available. Waiters are served in call order: each
  // call reserves the next token and then sleeps until it is due.
  void Wait();

  // Takes a token if one is available now; never blocks.
  bool TryAccept();

  // How long a Wait() called now would block, without taking a token.
  std::chrono::nanoseconds Delay() const;

 private:
  // Refills the bucket up to now. Requires mu_.
  void Advance(SteadyTime now) const;

  const double qps_;
  const double burst_;
  const Clock& clock_;
  const Sleeper sleep_;

  mutable std::mutex mu_;
  mutable double tokens_;     // guarded by mu_; negative = tokens reserved by waiters
  mutable SteadyTime last_;   // guarded by mu_; time tokens_ was computed for
};

}  // namespace coderun::kube
