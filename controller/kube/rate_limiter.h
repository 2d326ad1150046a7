// Client-side rate limit (client-go's QPS/burst): a TokenBucket of `burst` tokens refilled at
// `qps` per second; every request takes one, blocking until it is due. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>

#include "common/clock.h"
#include "common/token_bucket.h"

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

 private:
  const Clock& clock_;
  const Sleeper sleep_;

  std::mutex mu_;
  TokenBucket bucket_;  // guarded by mu_
};

}  // namespace coderun::kube
