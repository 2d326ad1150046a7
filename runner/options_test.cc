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
  EXPECT_EQ(options->input_digest, "");
  EXPECT_EQ(options->writable_dirs, (std::vector<std::string>{"/tmp", "/dev/shm"}));
  EXPECT_EQ(options->termination_log, "/dev/termination-log");
  EXPECT_TRUE(options->landlock);
}

TEST(OptionsTest, JudgeModeFlags) {
  std::string error;
  auto plain = ParseOptions(kControllerArgs, &error);
  ASSERT_TRUE(plain) << error;
  EXPECT_FALSE(plain->tests);
  EXPECT_FALSE(plain->stop_on_failure);
  EXPECT_EQ(plain->case_stdout_bytes, 65536);  // --output-bytes

  auto args = kControllerArgs;
  args.insert(args.end(), {"--tests", "--case-stdout-bytes=1000", "--stop-on-failure"});
  auto judge = ParseOptions(args, &error);
  ASSERT_TRUE(judge) << error;
  EXPECT_TRUE(judge->tests);
  EXPECT_TRUE(judge->stop_on_failure);
  EXPECT_EQ(judge->case_stdout_bytes, 1000);

  // Judge flags without --tests mean a confused caller.
  args = kControllerArgs;
  args.push_back("--stop-on-failure");
  EXPECT_FALSE(ParseOptions(args, &error));
  EXPECT_EQ(error, "--case-stdout-bytes, --stop-on-failure and --first-case need --tests");
  args = kControllerArgs;
  args.insert(args.end(), {"--tests", "--case-stdout-bytes=-1"});
  EXPECT_FALSE(ParseOptions(args, &error));
}

TEST(OptionsTest, FirstCaseIsAJudgeModeFlag) {
  std::string error;
  auto plain = ParseOptions(kControllerArgs, &error);
  ASSERT_TRUE(plain) << error;
  EXPECT_EQ(plain->first_case, 0);

  auto args = kControllerArgs;
  args.insert(args.end(), {"--tests", "--first-case=3"});
  auto judge = ParseOptions(args, &error);
  ASSERT_TRUE(judge) << error;
  EXPECT_EQ(judge->first_case, 3);

  // Even 0, without --tests, means a confused caller.
  for (const char* flag : {"--first-case=0", "--first-case=3"}) {
    args = kControllerArgs;
    args.push_back(flag);
    EXPECT_FALSE(ParseOptions(args, &error)) << flag;
    EXPECT_EQ(error, "--case-stdout-bytes, --stop-on-failure and --first-case need --tests");
  }
  for (const char* bad : {"--first-case=-1", "--first-case=", "--first-case=1x", "--first-case"}) {
    args = kControllerArgs;
    args.insert(args.end(), {"--tests", bad});
    EXPECT_FALSE(ParseOptions(args, &error)) << bad;
  }
}

TEST(OptionsTest, ParsesTheWallsAndTheInputDigest) {
  auto args = kControllerArgs;
  const std::string digest(64, 'a');
  for (const std::string& flag : {"--input-digest=" + digest, std::string("--writable-dir=/w1"),
                           std::string("--writable-dir=/w2"), std::string("--termination-log="),
                           std::string("--landlock=off")}) {
    args.push_back(flag);
  }
  std::string error;
  auto options = ParseOptions(args, &error);
  ASSERT_TRUE(options) << error;
  EXPECT_EQ(options->input_digest, digest);
  EXPECT_EQ(options->writable_dirs, (std::vector<std::string>{"/w1", "/w2"}));
  EXPECT_EQ(options->termination_log, "");
  EXPECT_FALSE(options->landlock);
  for (const std::string& bad :
       {"--input-digest=" + std::string(63, 'a'), "--input-digest=" + std::string(64, 'A'),
        std::string("--writable-dir=relative"), std::string("--landlock=on"),
        std::string("--termination-log=relative")}) {
    auto with = kControllerArgs;
    with.push_back(bad);
    EXPECT_FALSE(ParseOptions(with, &error)) << bad;
  }
}

TEST(OptionsTest, AwaitRequestTakesThePlaceOfTheInputDir) {
  const std::vector<std::string> warm = {"--await-request", "--timeout-seconds=10", "--pids=50",
                                         "--output-bytes=65536"};
  std::string error;
  auto options = ParseOptions(warm, &error);
  ASSERT_TRUE(options) << error;
  EXPECT_TRUE(options->await_request);
  EXPECT_EQ(options->input_dir, "");
  auto plain = ParseOptions(kControllerArgs, &error);
  ASSERT_TRUE(plain) << error;
  EXPECT_FALSE(plain->await_request);

  for (const std::string& other : {std::string("--input-dir=/coderun/input"),
                                   "--input-digest=" + std::string(64, 'a'),
                                   std::string("--tests")}) {
    auto args = warm;
    args.push_back(other);
    EXPECT_FALSE(ParseOptions(args, &error)) << other;
    EXPECT_EQ(error, "--await-request excludes --input-dir, --input-digest and --tests") << other;
  }
  EXPECT_FALSE(ParseOptions({"--await-request=1", "--timeout-seconds=10", "--pids=50",
                             "--output-bytes=65536"},
                            &error));
  EXPECT_FALSE(ParseOptions({"--await-request", "--pids=50", "--output-bytes=65536"}, &error));
  EXPECT_NE(error.find("required"), std::string::npos);
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
