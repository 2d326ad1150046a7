// Client-side rate limit (client-go's QPS/burst): a TokenBucket of `burst` tokens refilled at
// `qps` per second; every request takes one, blocking until it is due. Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>

#include "absl/status/status.h"
#include "common/clock.h"
#include "common/context.h"
#include "common/token_bucket.h"

namespace coderun::kube {

class RateLimiter {
 public:
  using Sleeper = coderun::Sleeper;

  // qps <= 0 disables limiting (Wait never blocks). burst < 1 is treated as 1. The bucket
  // starts full. `clock` must outlive the limiter; `sleep` defaults to
  // RealSleep (tests pass one that advances a fake clock).
  RateLimiter(double qps, int burst, const Clock& clock = RealClock(), Sleeper sleep = nullptr);

  // Takes a token, blocking until one is available. Waiters are served in call order: each
  // call reserves the next token and then sleeps until it is due. A token due after `ctx`'s
  // deadline is DeadlineExceeded at once (client-go's Wait(ctx)); cancelled while waiting
  // is Cancelled. The token is spent either way.
  absl::Status Wait(const Context& ctx = {});

 private:
  const Clock& clock_;
  const Sleeper sleep_;

  std::mutex mu_;
  TokenBucket bucket_;  // guarded by mu_
};

}  // namespace coderun::kube
