#include "kube/token_source.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "common/testing/fake_clock.h"

namespace coderun::kube {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

class TokenSourceTest : public ::testing::Test {
 protected:
  TokenSourceTest() {
    char dir[] = "/tmp/token_source_test.XXXXXX";
    dir_ = mkdtemp(dir);
    path_ = dir_ + "/token";
  }
  ~TokenSourceTest() override {
    std::remove(path_.c_str());
    std::remove((path_ + ".new").c_str());
    rmdir(dir_.c_str());
  }
  // In place, as an editor or `echo >` would.
  void Overwrite(const std::string& text) { std::ofstream(path_, std::ios::trunc) << text; }
  // A new file renamed over the old one, as the kubelet's atomic writer does.
  void Replace(const std::string& text) {
    std::ofstream(path_ + ".new", std::ios::trunc) << text;
    ASSERT_EQ(std::rename((path_ + ".new").c_str(), path_.c_str()), 0);
  }

  std::string dir_, path_;
  FakeClock clock_;
};

TEST_F(TokenSourceTest, FixedTokenWithoutFile) {
  TokenSource source("static", "", clock_);
  EXPECT_EQ(source.Get(), "static");
  EXPECT_EQ(source.Refresh("static"), std::nullopt);
  EXPECT_EQ(source.reads(), 0);
}

TEST_F(TokenSourceTest, UnchangedFileIsNeverReadAgain) {
  Overwrite("one\n");
  TokenSource source("", path_, clock_, seconds(10));
  EXPECT_EQ(source.reads(), 1);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(source.Get(), "one");
    clock_.Advance(seconds(3));
  }
  EXPECT_EQ(source.reads(), 1);
}

TEST_F(TokenSourceTest, ChangedFileIsReadAtTheNextCheckOnly) {
  Overwrite("one");
  TokenSource source("one", path_, clock_, seconds(10));
  Replace("two");
  clock_.Advance(seconds(9));
  EXPECT_EQ(source.Get(), "one") << "not checked before the interval";
  clock_.Advance(seconds(1));
  EXPECT_EQ(source.Get(), "two");
  EXPECT_EQ(source.reads(), 2);
  Overwrite("three-is-longer");
  clock_.Advance(seconds(10));
  EXPECT_EQ(source.Get(), "three-is-longer");
  EXPECT_EQ(source.reads(), 3);
}

TEST_F(TokenSourceTest, RefreshAfterA401ReadsARewrittenFileAtOnce) {
  Overwrite("old");
  TokenSource source("old", path_, clock_, seconds(10));
  Replace("new");
  EXPECT_EQ(source.Get(), "old");
  EXPECT_EQ(source.Refresh("old"), "new");
  EXPECT_EQ(source.Get(), "new");
  // A request that was in flight with the old token just retries with the current one.
  EXPECT_EQ(source.Refresh("old"), "new");
  EXPECT_EQ(source.reads(), 2);
}

TEST_F(TokenSourceTest, RefreshOfAnUnchangedFileReadsAtMostOnceASecond) {
  Overwrite("bad");
  TokenSource source("", path_, clock_, seconds(10));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(source.Refresh("bad"), std::nullopt);
  EXPECT_EQ(source.reads(), 2);  // the start, then one forced read
  clock_.Advance(seconds(1));
  EXPECT_EQ(source.Refresh("bad"), std::nullopt);
  EXPECT_EQ(source.reads(), 3);
}

TEST_F(TokenSourceTest, UnreadableOrEmptyFileKeepsThePreviousToken) {
  Overwrite("good");
  TokenSource source("", path_, clock_, milliseconds(0));
  Overwrite("  \n");
  EXPECT_EQ(source.Get(), "good");
  std::remove(path_.c_str());
  EXPECT_EQ(source.Get(), "good");
  Replace("back");
  EXPECT_EQ(source.Get(), "back");
}

TEST_F(TokenSourceTest, NewTokenIsLoggedWithoutTheToken) {
  Overwrite("first-secret-value");
  TokenSource source("", path_, clock_, milliseconds(0));
  Replace("second-secret-value");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(source.Get(), "second-secret-value");
  const std::string logged = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(logged.find(path_), std::string::npos) << logged;
  EXPECT_EQ(logged.find("secret-value"), std::string::npos) << logged;
}

}  // namespace
}  // namespace coderun::kube
