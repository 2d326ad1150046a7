#include "runner/options.h"

#include <gtest/gtest.h>

namespace coderun::runner {
namespace {

const std::vector<std::string> kControllerArgs = {
    "--input-dir=/coderun/input", "--timeout-seconds=10", "--pids=50", "--output-bytes=65536"};

TEST(OptionsTest, ParsesTheControllersCommandLine) {
  std::string error;
  auto options = ParseOptions(kControllerArgs, &error);
  ASSERT_TRUE(options) << error;
  EXPECT_EQ(options->input_dir, "/coderun/input");
  EXPECT_EQ(options->timeout_seconds, 10);
  EXPECT_EQ(options->pids, 50);
  EXPECT_EQ(options->output_bytes, 65536);
  EXPECT_EQ(options->python, "python3");
  EXPECT_EQ(options->cgroup_root, "/sys/fs/cgroup");
  EXPECT_EQ(options->open_files, 64);
  EXPECT_EQ(options->file_bytes, 64 << 20);
}

TEST(OptionsTest, RejectsBadInput) {
  std::string error;
  auto with = [](std::string extra) {
    auto args = kControllerArgs;
    args.push_back(std::move(extra));
    return args;
  };
  EXPECT_FALSE(ParseOptions(with("--pids=0"), &error));
  EXPECT_NE(error.find("--pids"), std::string::npos);
  EXPECT_FALSE(ParseOptions(with("--timeout-seconds=1x"), &error));
  EXPECT_FALSE(ParseOptions(with("--timeout-seconds="), &error));
  EXPECT_FALSE(ParseOptions(with("--output-bytes=-1"), &error));
  EXPECT_FALSE(ParseOptions(with("--verbose"), &error));
  EXPECT_FALSE(ParseOptions(with("--nope=1"), &error));
  EXPECT_FALSE(ParseOptions({"--input-dir=/x", "--pids=5", "--output-bytes=5"}, &error));
  EXPECT_NE(error.find("required"), std::string::npos);
}

}  // namespace
}  // namespace coderun::runner
