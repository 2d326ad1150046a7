#include "plugin/options.h"

#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace coderun::plugin {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A file that exists (the program argument is checked for existence).
class OptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = ::testing::TempDir() + "/hello.py";
    std::FILE* f = std::fopen(file_.c_str(), "w");
    std::fputs("print('hi')\n", f);
    std::fclose(f);
  }
  absl::StatusOr<Invocation> Parse(std::vector<std::string> args) {
    args.insert(args.begin(), "kubectl-coderun");
    std::vector<const char*> argv;
    for (const std::string& a : args) argv.push_back(a.c_str());
    return ParseArgs(static_cast<int>(argv.size()), argv.data());
  }
  std::string file_;
};

TEST_F(OptionsTest, RunTakesTheFileLimitsAndTheProgramsArguments) {
  absl::StatusOr<Invocation> inv =
      Parse({"run", file_, "--timeout", "5", "--memory", "64Mi", "--cpu", "500m", "--pids", "8",
             "--output-bytes", "100", "-n", "team-a", "--keep", "--", "-x", "--flag", "y"});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_EQ(inv->command, Command::kRun);
  EXPECT_EQ(inv->run.file, file_);
  EXPECT_EQ(inv->run.timeout_seconds, 5);
  EXPECT_EQ(inv->run.memory, "64Mi");
  EXPECT_EQ(inv->run.cpu, "500m");
  EXPECT_EQ(inv->run.pids, 8);
  EXPECT_EQ(inv->run.output_bytes, 100);
  EXPECT_TRUE(inv->run.keep);
  EXPECT_EQ(inv->connection.ns, "team-a");
  // After --, everything is the program's, flags included.
  EXPECT_THAT(inv->run.args, ElementsAre("-x", "--flag", "y"));
}

TEST_F(OptionsTest, UnsetLimitsStayUnsetForTheCrdDefaults) {
  absl::StatusOr<Invocation> inv = Parse({"run", file_});
  ASSERT_TRUE(inv.ok()) << inv.status();
  EXPECT_FALSE(inv->run.timeout_seconds.has_value());
  EXPECT_FALSE(inv->run.memory.has_value());
  EXPECT_FALSE(inv->run.stdin_file.has_value());
  EXPECT_FALSE(inv->run.keep);
  EXPECT_EQ(inv->output, OutputFormat::kText);
}

TEST_F(OptionsTest, BadInputIsOneClearError) {
  EXPECT_THAT(Parse({"run", "/nonexistent/x.py"}).status().message(), HasSubstr("x.py"));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"run", file_, "--timeout", "0"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"run", file_, "-o", "table"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"run", file_, "--name", "a", "--generate-name", "b-"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"logs"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"logs", "a", "b"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"frobnicate"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({}).status()));
  // -A is get's alone, and not with a name.
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"logs", "a", "-A"}).status()));
  EXPECT_TRUE(absl::IsInvalidArgument(Parse({"get", "a", "-A"}).status()));
}

TEST_F(OptionsTest, HelpIsCancelledWithTheText) {
  absl::Status help = Parse({"run", "--help"}).status();
  EXPECT_TRUE(absl::IsCancelled(help));
  EXPECT_THAT(help.message(), HasSubstr("--timeout"));
  EXPECT_THAT(Parse({"--help"}).status().message(), HasSubstr("124"));
}

TEST_F(OptionsTest, OtherCommands) {
  absl::StatusOr<Invocation> get = Parse({"get", "-A", "-o", "yaml"});
  ASSERT_TRUE(get.ok()) << get.status();
  EXPECT_EQ(get->command, Command::kGet);
  EXPECT_TRUE(get->connection.all_namespaces);
  EXPECT_EQ(get->output, OutputFormat::kYaml);

  absl::StatusOr<Invocation> wait = Parse({"wait", "r1", "--timeout", "2.5", "--context", "c"});
  ASSERT_TRUE(wait.ok()) << wait.status();
  EXPECT_EQ(wait->command, Command::kWait);
  EXPECT_EQ(wait->wait_timeout_seconds, 2.5);
  EXPECT_EQ(wait->connection.context, "c");
  EXPECT_THAT(wait->names, ElementsAre("r1"));

  absl::StatusOr<Invocation> del = Parse({"delete", "a", "b", "--kubeconfig", "/k"});
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(del->command, Command::kDelete);
  EXPECT_THAT(del->names, ElementsAre("a", "b"));
  EXPECT_EQ(del->connection.kubeconfig, "/k");
}

}  // namespace
}  // namespace coderun::plugin
