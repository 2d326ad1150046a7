#include "runner/cgroup.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "runner/testing/runner_test_util.h"

namespace coderun::runner {
namespace {

using testing::TempDir;

TEST(CgroupTest, ReadsV2PeakAndOomKills) {
  TempDir root;
  root.Write("cgroup.controllers", "cpu memory pids\n");
  root.Write("memory.peak", "134217728\n");
  root.Write("memory.events", "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n");
  const CgroupMemory m = ReadCgroupMemory(root.path());
  EXPECT_EQ(m.peak_bytes, 134217728u);
  EXPECT_EQ(m.oom_kills, 1u);
  EXPECT_EQ(m.failcnt, std::nullopt);
}

TEST(CgroupTest, V2WithoutMemoryPeakStillCountsOomKills) {
  TempDir root;
  root.Write("memory.events", "oom 0\noom_kill 0\n");
  const CgroupMemory m = ReadCgroupMemory(root.path());
  EXPECT_EQ(m.peak_bytes, std::nullopt);
  EXPECT_EQ(m.oom_kills, 0u);
}

TEST(CgroupTest, ReadsV1UnderMemory) {
  TempDir root;
  std::filesystem::create_directory(root.path() + "/memory");
  root.Write("memory/memory.max_usage_in_bytes", "268435456\n");
  root.Write("memory/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  root.Write("memory/memory.failcnt", "77\n");
  const CgroupMemory m = ReadCgroupMemory(root.path());
  EXPECT_EQ(m.peak_bytes, 268435456u);
  EXPECT_EQ(m.oom_kills, 3u);
  EXPECT_EQ(m.failcnt, 77u);
}

TEST(CgroupTest, OldV1KernelFallsBackToFailcnt) {
  TempDir root;
  std::filesystem::create_directory(root.path() + "/memory");
  root.Write("memory/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n");
  root.Write("memory/memory.failcnt", "0\n");
  const CgroupMemory before = ReadCgroupMemory(root.path());
  root.Write("memory/memory.failcnt", "5\n");
  const CgroupMemory after = ReadCgroupMemory(root.path());
  EXPECT_EQ(after.oom_kills, std::nullopt);
  EXPECT_TRUE(OomKillBetween(before, after));
  EXPECT_FALSE(OomKillBetween(after, after));
}

TEST(CgroupTest, OomKillCounterDecides) {
  CgroupMemory before{.peak_bytes = 1, .oom_kills = 0, .failcnt = 0};
  CgroupMemory after = before;
  after.failcnt = 9;  // hitting the limit is not an OOM kill when the counter exists
  EXPECT_FALSE(OomKillBetween(before, after));
  after.oom_kills = 1;
  EXPECT_TRUE(OomKillBetween(before, after));
}

TEST(CgroupTest, MissingOrMalformedFilesLeaveFieldsEmpty) {
  const CgroupMemory none = ReadCgroupMemory("/nonexistent/cgroup");
  EXPECT_EQ(none.peak_bytes, std::nullopt);
  EXPECT_EQ(none.oom_kills, std::nullopt);
  EXPECT_FALSE(OomKillBetween(none, none));
  TempDir root;
  root.Write("memory.peak", "max\n");
  root.Write("memory.events", "oom_kill x\n");
  const CgroupMemory bad = ReadCgroupMemory(root.path());
  EXPECT_EQ(bad.peak_bytes, std::nullopt);
  EXPECT_EQ(bad.oom_kills, std::nullopt);
}

TEST(CgroupTest, ReadsV2CpuUsageInNanoseconds) {
  TempDir root;
  root.Write("cpu.stat", "usage_usec 2500001\nuser_usec 2000000\nsystem_usec 500001\n");
  EXPECT_EQ(ReadCgroupCpuNanos(root.path()), 2500001000u);
}

TEST(CgroupTest, ReadsV1CpuacctUsageUnderEitherName) {
  TempDir joint;
  std::filesystem::create_directory(joint.path() + "/cpu,cpuacct");
  joint.Write("cpu,cpuacct/cpuacct.usage", "1234567890\n");
  EXPECT_EQ(ReadCgroupCpuNanos(joint.path()), 1234567890u);
  TempDir split;
  std::filesystem::create_directory(split.path() + "/cpuacct");
  split.Write("cpuacct/cpuacct.usage", "42\n");
  EXPECT_EQ(ReadCgroupCpuNanos(split.path()), 42u);
}

TEST(CgroupTest, HybridFallsBackToTheUnifiedHierarchy) {
  TempDir root;
  std::filesystem::create_directory(root.path() + "/memory");
  std::filesystem::create_directory(root.path() + "/unified");
  root.Write("unified/cpu.stat", "usage_usec 7\n");
  EXPECT_EQ(ReadCgroupCpuNanos(root.path()), 7000u);
}

TEST(CgroupTest, UnreadableOrMalformedCpuUsageIsNullopt) {
  EXPECT_EQ(ReadCgroupCpuNanos("/nonexistent/cgroup"), std::nullopt);
  TempDir v2;
  v2.Write("cpu.stat", "user_usec 5\n");  // no usage_usec
  EXPECT_EQ(ReadCgroupCpuNanos(v2.path()), std::nullopt);
  TempDir v1;
  std::filesystem::create_directory(v1.path() + "/cpuacct");
  v1.Write("cpuacct/cpuacct.usage", "lots\n");
  EXPECT_EQ(ReadCgroupCpuNanos(v1.path()), std::nullopt);
}

TEST(CgroupTest, KeyedValueMatchesWholeKeys) {
  EXPECT_EQ(KeyedValue("oom 4\noom_kill 2\n", "oom"), 4u);
  EXPECT_EQ(KeyedValue("oom_kill_disable 0\noom_kill 2", "oom_kill"), 2u);
  EXPECT_EQ(KeyedValue("", "oom_kill"), std::nullopt);
  EXPECT_EQ(ParseUint(" 12\n"), 12u);
  EXPECT_EQ(ParseUint("-1"), std::nullopt);
  EXPECT_EQ(ParseUint("99999999999999999999999"), std::nullopt);
}

}  // namespace
}  // namespace coderun::runner
