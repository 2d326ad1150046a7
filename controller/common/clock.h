// Time source seam: production uses the system clocks, tests a fake.
#pragma once

#include <chrono>

namespace coderun {

using SteadyTime = std::chrono::steady_clock::time_point;
using WallTime = std::chrono::system_clock::time_point;

// Thread-safe implementations only.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual SteadyTime Now() const = 0;      // monotonic, for delays and deadlines
  virtual WallTime WallNow() const = 0;    // for timestamps written to the API
};

// The process-wide real clock.
Clock& RealClock();

}  // namespace coderun
