#include "runner/processes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "runner/testing/runner_test_util.h"

namespace coderun::runner {
namespace {

using testing::TempDir;

TEST(ProcessesTest, ParentIsReadAfterTheLastParenthesis) {
  EXPECT_EQ(ParentFromStat("42 (python3) S 7 42 42 0 -1"), 7);
  EXPECT_EQ(ParentFromStat("42 (a) S 9 (b) R 1 x"), 1);  // a name holding ") S 9 (b"
  EXPECT_EQ(ParentFromStat("42 (x"), -1);
  EXPECT_EQ(ParentFromStat("42 (x) S"), -1);
  EXPECT_EQ(ParentFromStat(""), -1);
}

TEST(ProcessesTest, DescendantsFollowParentLinks) {
  TempDir proc;
  auto add = [&](int pid, int parent) {
    std::filesystem::create_directory(proc.path() + "/" + std::to_string(pid));
    proc.Write(std::to_string(pid) + "/stat",
               std::to_string(pid) + " (p) S " + std::to_string(parent) + " 1 1 0");
  };
  add(1, 0);
  add(10, 1);   // the runner
  add(11, 10);  // the program
  add(12, 11);
  add(13, 12);
  add(20, 10);  // an orphan reparented to the runner
  add(30, 1);   // not ours
  std::filesystem::create_directory(proc.path() + "/self");
  std::vector<pid_t> found = ListDescendants(10, proc.path());
  std::sort(found.begin(), found.end());
  EXPECT_EQ(found, (std::vector<pid_t>{11, 12, 13, 20}));
  EXPECT_TRUE(ListDescendants(30, proc.path()).empty());
}

}  // namespace
}  // namespace coderun::runner
