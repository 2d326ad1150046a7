// The one retry backoff: exponential from `initial`, doubling per attempt up to `cap`, each
// delay optionally stretched by a random factor in [1, 1 + jitter). Not thread-safe: each
// user guards its Backoff with its own mutex, or keeps it on one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace coderun {

class Backoff {
 public:
  // `jitter` 0 makes every delay exact (and Delay deterministic); 0.2 adds up to 20%.
  // Negative jitter is treated as 0. A cap below `initial` is raised to it (the first delay
  // is always `initial`). `seed` fixes the jitter's random sequence (tests).
  Backoff(std::chrono::nanoseconds initial, std::chrono::nanoseconds cap, double jitter = 0,
          std::uint64_t seed = std::random_device{}());

  // The delay before retry number `attempt` (0 = the first): initial * 2^attempt, at most
  // the cap (never overflowing), then jittered. A negative attempt counts as 0; initial <= 0
  // gives zero.
  std::chrono::nanoseconds Delay(int attempt);

  // Delay(attempts()), then counts one more attempt.
  std::chrono::nanoseconds Next();
  // Back to the first delay.
  void Reset() { attempts_ = 0; }
  int attempts() const { return attempts_; }

 private:
  const std::chrono::nanoseconds initial_;
  const std::chrono::nanoseconds cap_;
  const double jitter_;
  int attempts_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace coderun
