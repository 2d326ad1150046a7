#include "common/context.h"

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace coderun {
namespace {

using namespace std::chrono_literals;

TEST(Context, BackgroundNeverEnds) {
  Context ctx;
  EXPECT_FALSE(ctx.cancelled());
  EXPECT_FALSE(ctx.deadline().has_value());
  EXPECT_TRUE(ctx.Err().ok());
  EXPECT_TRUE(ctx.SleepFor(1ms));
}

TEST(Context, DeadlineOnlyMovesEarlier) {
  const Deadline soon = std::chrono::steady_clock::now() + 1s;
  Context ctx = Context().WithDeadline(soon);
  EXPECT_EQ(ctx.WithDeadline(soon + 1h).deadline(), soon);
  EXPECT_EQ(ctx.WithDeadline(soon - 1ms).deadline(), soon - 1ms);
}

TEST(Context, PastDeadlineIsDeadlineExceeded) {
  Context ctx = Context().WithTimeout(-1ms);
  EXPECT_TRUE(absl::IsDeadlineExceeded(ctx.Err()));
  EXPECT_FALSE(ctx.SleepFor(1h));  // returns at once
}

TEST(Context, CancelWakesASleeperAndRunsCallbacksOnce) {
  CancelSource source;
  Context ctx = source.context().WithTimeout(1h);
  std::atomic<int> calls{0};
  CancelRegistration reg = ctx.OnCancel([&] { ++calls; });
  std::atomic<bool> slept_whole{true};
  std::thread sleeper([&] { slept_whole = ctx.SleepFor(1h); });
  source.Cancel();
  source.Cancel();
  sleeper.join();  // would take an hour without the wake-up
  EXPECT_FALSE(slept_whole);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(absl::IsCancelled(ctx.Err()));
  EXPECT_TRUE(source.cancelled());
}

TEST(Context, CallbackRegisteredAfterCancelRunsAtOnce) {
  CancelSource source;
  source.Cancel();
  bool ran = false;
  CancelRegistration reg = source.context().OnCancel([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(Context, UnregisteredCallbackNeverRuns) {
  CancelSource source;
  bool ran = false;
  { CancelRegistration reg = source.context().OnCancel([&] { ran = true; }); }
  source.Cancel();
  EXPECT_FALSE(ran);
}

TEST(Context, UnregisterWaitsForARunningCallback) {
  CancelSource source;
  std::atomic<bool> entered{false}, finished{false};
  auto reg = std::make_unique<CancelRegistration>(source.context().OnCancel([&] {
    entered = true;
    std::this_thread::sleep_for(100ms);
    finished = true;
  }));
  std::thread canceller([&] { source.Cancel(); });
  while (!entered) std::this_thread::yield();
  reg.reset();  // must not return while the callback runs
  EXPECT_TRUE(finished);
  canceller.join();
}

TEST(Context, CallbackMayDropItsOwnRegistration) {
  CancelSource source;
  std::unique_ptr<CancelRegistration> reg;
  reg = std::make_unique<CancelRegistration>(
      source.context().OnCancel([&] { reg.reset(); }));  // would deadlock if it waited
  source.Cancel();
  EXPECT_EQ(reg, nullptr);
}

}  // namespace
}  // namespace coderun
