#include "runner/scratch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "runner/testing/runner_test_util.h"

namespace coderun::runner {
namespace {

namespace fs = std::filesystem;

TEST(ScratchTest, RemovesWhatWasAddedAndKeepsWhatWasThere) {
  testing::TempDir root;
  const std::string dir = root.path() + "/tmp";
  fs::create_directories(dir + "/old");
  std::ofstream(dir + "/old/inside") << "kept";
  std::ofstream(root.path() + "/outside") << "never touched";
  const DirSnapshot snapshot = SnapshotDir(dir);
  EXPECT_TRUE(snapshot.exists);
  EXPECT_EQ(snapshot.names, (std::set<std::string>{"old"}));

  std::ofstream(dir + "/new.txt") << "x";
  fs::create_directories(dir + "/a/b/c");
  std::ofstream(dir + "/a/b/c/f") << "x";
  chmod((dir + "/a/b").c_str(), 0);  // unreadable: still removed
  fs::create_symlink(root.path() + "/outside", dir + "/link");
  fs::create_directory_symlink(root.path(), dir + "/dirlink");
  // Deeper than any recursion should go.
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(mkdirat(fd, "d", 0700), 0);
    const int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
    close(fd);
    fd = next;
  }
  close(fd);

  EXPECT_EQ(RemoveAddedEntries(snapshot), "");
  EXPECT_EQ(SnapshotDir(dir).names, (std::set<std::string>{"old"}));
  EXPECT_TRUE(fs::exists(dir + "/old/inside"));
  EXPECT_TRUE(fs::exists(root.path() + "/outside"));  // symlinks were not followed
}

TEST(ScratchTest, AnAbsentDirectoryIsNothingToDo) {
  const DirSnapshot snapshot = SnapshotDir("/nonexistent/coderun-scratch");
  EXPECT_FALSE(snapshot.exists);
  EXPECT_EQ(RemoveAddedEntries(snapshot), "");
}

TEST(ScratchTest, SealedMemoryFileReadsBackAndCannotChange) {
  const int fd = SealedMemoryFile("line 1\nline 2\n");
  ASSERT_GE(fd, 0);
  char buf[64] = {};
  EXPECT_EQ(read(fd, buf, sizeof(buf)), 14);
  EXPECT_STREQ(buf, "line 1\nline 2\n");
  EXPECT_LT(pwrite(fd, "X", 1, 0), 0);
  EXPECT_NE(ftruncate(fd, 0), 0);
  close(fd);
}

}  // namespace
}  // namespace coderun::runner
