#include "plugin/session.h"

#include <atomic>
#include <cstdio>
#include <functional>
#include <sstream>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kube/errors.h"
#include "kube/testing/fake_client.h"
#include "plugin/outcome.h"

namespace coderun::plugin {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using informer::FakeClient;

// Plays the controller: finishes every CodeRun it sees without a status with what `finish`
// writes into it (the object as created; it fills in status).
class FakeController {
 public:
  FakeController(FakeClient& client, std::function<void(json&)> finish)
      : client_(client), finish_(std::move(finish)), thread_([this] { Loop(); }) {}
  ~FakeController() {
    stop_ = true;
    thread_.join();
  }
  // What the CodeRun looked like when the controller saw it.
  json seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void Loop() {
    while (!stop_) {
      absl::StatusOr<json> list = client_.List(Context(), kube::kCodeRuns, "", {});
      for (json& run : (*list)["items"]) {
        if (run.contains("status")) continue;
        {
          std::lock_guard lock(mu_);
          seen_ = run;
        }
        // A first status, as the controller writes while the Pod starts, then the verdict.
        run["status"] = {{"phase", "Pending"}, {"reason", "Queued"}, {"queuePosition", 1}};
        run = client_.Put(kube::kCodeRuns, run);
        finish_(run);
        client_.Put(kube::kCodeRuns, run);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  FakeClient& client_;
  std::function<void(json&)> finish_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  json seen_;
  std::thread thread_;
};

std::function<void(json&)> Ends(json status) {
  return [status](json& run) { run["status"] = status; };
}

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    program_ = ::testing::TempDir() + "/My_Program.py";
    Write(program_, "print(input())\n");
  }
  static void Write(const std::string& path, const std::string& text) {
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  int Execute(Invocation inv, Context interrupted = Context()) {
    Io io{out_, err_, in_};
    io.in_is_tty = in_is_tty_;
    io.err_is_tty = err_is_tty_;
    Session session(client_, {"team-a", "https://127.0.0.1:6443"}, io, interrupted);
    return session.Execute(inv);
  }
  Invocation RunOf(std::string file) {
    Invocation inv;
    inv.command = Command::kRun;
    inv.run.file = std::move(file);
    return inv;
  }
  size_t Stored() {
    return (*client_.List(Context(), kube::kCodeRuns, "", {}))["items"].size();
  }

  FakeClient client_;
  std::ostringstream out_;
  std::ostringstream err_;
  std::istringstream in_;
  bool in_is_tty_ = true;
  bool err_is_tty_ = false;
  std::string program_;
};

TEST_F(SessionTest, RunPrintsTheProgramsStreamsExitsWithItsCodeAndDeletesTheRun) {
  FakeController controller(client_, Ends({{"phase", "Failed"}, {"reason", "NonZeroExit"},
                                           {"exitCode", 3}, {"stdout", "out\n"},
                                           {"stderr", "Traceback\n"}}));
  in_.str("42\n");
  in_is_tty_ = false;  // a pipe: it becomes the program's stdin
  Invocation inv = RunOf(program_);
  inv.run.args = {"a", "b"};
  inv.run.timeout_seconds = 5;
  inv.run.memory = "64Mi";
  EXPECT_EQ(Execute(inv), 3);
  EXPECT_EQ(out_.str(), "out\n");
  EXPECT_EQ(err_.str(), "Traceback\n");  // no note: the program chose its ending
  EXPECT_EQ(Stored(), 0u);

  const json seen = controller.seen();
  EXPECT_EQ(seen["spec"]["code"], "print(input())\n");
  EXPECT_EQ(seen["spec"]["stdin"], "42\n");
  EXPECT_EQ(seen["spec"]["args"], json({"a", "b"}));
  EXPECT_EQ(seen["spec"]["limits"], json({{"timeoutSeconds", 5}, {"memory", "64Mi"}}));
  EXPECT_EQ(seen["metadata"]["generateName"], "my-program-");
  EXPECT_EQ(seen["metadata"]["namespace"], "team-a");
}

TEST_F(SessionTest, ATerminalIsNotReadAsStdinButAFileIs) {
  FakeController controller(client_, Ends({{"phase", "Succeeded"}, {"reason", "Completed"},
                                           {"exitCode", 0}}));
  in_.str("from the terminal");
  EXPECT_EQ(Execute(RunOf(program_)), 0);
  EXPECT_FALSE(controller.seen()["spec"].contains("stdin"));
  EXPECT_FALSE(controller.seen()["spec"].contains("limits"));  // the CRD's defaults

  const std::string input = ::testing::TempDir() + "/input.txt";
  Write(input, "7\n");
  Invocation inv = RunOf(program_);
  inv.run.stdin_file = input;
  EXPECT_EQ(Execute(inv), 0);
  EXPECT_EQ(controller.seen()["spec"]["stdin"], "7\n");
}

TEST_F(SessionTest, PlatformEndingsGetTheirCodeAndANote) {
  FakeController controller(client_, Ends({{"phase", "Failed"}, {"reason", "TimeLimitExceeded"},
                                           {"message", "killed after 1 s"}, {"stdout", "partial"},
                                           {"stdoutTruncated", true}}));
  EXPECT_EQ(Execute(RunOf(program_)), kExitTimeLimit);
  EXPECT_EQ(out_.str(), "partial");
  EXPECT_THAT(err_.str(), HasSubstr("stdout was cut at 65536 bytes"));
  EXPECT_THAT(err_.str(), HasSubstr("coderun: time limit exceeded: killed after 1 s"));
}

TEST_F(SessionTest, KeepLeavesTheRunAndOutputJsonPrintsTheObject) {
  FakeController controller(client_, Ends({{"phase", "Failed"}, {"reason", "MemoryLimitExceeded"}}));
  Invocation inv = RunOf(program_);
  inv.run.keep = true;
  inv.run.name = "mine";
  inv.output = OutputFormat::kJson;
  EXPECT_EQ(Execute(inv), kExitMemoryLimit);
  const json printed = json::parse(out_.str());
  EXPECT_EQ(printed["metadata"]["name"], "mine");
  EXPECT_EQ(printed["status"]["reason"], "MemoryLimitExceeded");
  EXPECT_TRUE(client_.Get(Context(), kube::kCodeRuns, "team-a", "mine").ok());
}

TEST_F(SessionTest, AnInterruptDeletesTheRunAndExits130) {
  // No controller: the run would wait forever.
  CancelSource interrupt;
  std::thread ctrl_c([&] {
    while (Stored() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    interrupt.Cancel();
  });
  EXPECT_EQ(Execute(RunOf(program_), interrupt.context()), kExitInterrupted);
  ctrl_c.join();
  EXPECT_EQ(Stored(), 0u);
  EXPECT_THAT(err_.str(), HasSubstr("interrupted; CodeRun my-program-"));
  EXPECT_THAT(err_.str(), HasSubstr("deleted"));
}

TEST_F(SessionTest, AnInterruptWithKeepKeepsTheRun) {
  CancelSource interrupt;
  std::thread ctrl_c([&] {
    while (Stored() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    interrupt.Cancel();
  });
  Invocation inv = RunOf(program_);
  inv.run.keep = true;
  EXPECT_EQ(Execute(inv, interrupt.context()), kExitInterrupted);
  ctrl_c.join();
  EXPECT_EQ(Stored(), 1u);
}

TEST_F(SessionTest, ARunDeletedWhileWaitingIsAnErrorNotAHang) {
  std::thread deleter([&] {
    while (Stored() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    json run = (*client_.List(Context(), kube::kCodeRuns, "", {}))["items"][0];
    client_.Erase(kube::kCodeRuns, "team-a", run["metadata"]["name"]);
  });
  EXPECT_EQ(Execute(RunOf(program_)), kExitCouldNotRun);
  deleter.join();
  EXPECT_THAT(err_.str(), HasSubstr("was deleted before it finished"));
}

TEST_F(SessionTest, AWatchThatBreaksIsResumedFromTheObject) {
  // The first watch is refused (410), the next one drops; the session re-reads and goes on.
  client_.InjectWatchFault(informer::WatchFault::kGoneStatus);
  client_.InjectWatchFault(informer::WatchFault::kDisconnect);
  FakeController controller(client_, Ends({{"phase", "Succeeded"}, {"reason", "Completed"},
                                           {"exitCode", 0}, {"stdout", "ok\n"}}));
  EXPECT_EQ(Execute(RunOf(program_)), 0);
  EXPECT_EQ(out_.str(), "ok\n");
}

TEST_F(SessionTest, ProgressIsShownOnlyOnATerminal) {
  FakeController controller(client_, [](json& run) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    run["status"] = {{"phase", "Succeeded"}, {"reason", "Completed"}, {"exitCode", 0}};
  });
  err_is_tty_ = true;
  EXPECT_EQ(Execute(RunOf(program_)), 0);
  EXPECT_THAT(err_.str(), HasSubstr("Queued (position 1)"));
  EXPECT_THAT(err_.str(), HasSubstr("\r\033[K"));
}

TEST_F(SessionTest, RefusedCreatesSayWhy) {
  client_.ExceedQuotaOnNextCreate(kube::kCodeRuns);
  EXPECT_EQ(Execute(RunOf(program_)), kExitCouldNotRun);
  EXPECT_THAT(err_.str(), HasSubstr("exceeded quota"));
  EXPECT_THAT(err_.str(), Not(HasSubstr("coderun-edit")));
}

TEST_F(SessionTest, DescribeSpeaksTheUsersLanguage) {
  Io io{out_, err_, in_};
  Session session(client_, {"team-a", "https://127.0.0.1:6443"}, io, Context());
  EXPECT_THAT(session.Describe(kube::ApiError(404, R"({"kind":"Status","code":404,
      "reason":"NotFound","message":"the server could not find the requested resource"})")),
              HasSubstr("CodeRun API (coderun.dev/v1alpha1) is not installed"));
  EXPECT_EQ(session.Describe(kube::ApiError(404, R"({"kind":"Status","code":404,
      "reason":"NotFound","message":"namespaces \"x\" not found",
      "details":{"name":"x","kind":"namespaces"}})")),
            "namespace \"x\" not found");
  EXPECT_THAT(session.Describe(kube::ApiError(403, R"({"kind":"Status","code":403,
      "reason":"Forbidden","message":"coderuns.coderun.dev is forbidden: User \"u\" cannot create"})")),
              HasSubstr("coderun-edit"));
  EXPECT_THAT(session.Describe(absl::UnavailableError("connection refused")),
              HasSubstr("cannot reach the API server at https://127.0.0.1:6443: connection refused"));
  EXPECT_THAT(session.Describe(kube::ApiError(401, R"({"kind":"Status","code":401,
      "reason":"Unauthorized","message":"Unauthorized"})")),
              HasSubstr("refused your credentials"));
}

TEST_F(SessionTest, GetListsRunsAsATable) {
  client_.Put(kube::kCodeRuns, {{"metadata", {{"name", "a"}, {"namespace", "team-a"},
                                              {"creationTimestamp", "2020-01-01T00:00:00Z"}}},
                                {"status", {{"phase", "Failed"}, {"reason", "NonZeroExit"},
                                            {"exitCode", 2}}}});
  client_.Put(kube::kCodeRuns, {{"metadata", {{"name", "b"}, {"namespace", "other"}}}});
  Invocation inv;
  inv.command = Command::kGet;
  EXPECT_EQ(Execute(inv), 0);
  EXPECT_THAT(out_.str(), HasSubstr("NAME   PHASE    REASON        EXIT   AGE\n"));
  EXPECT_THAT(out_.str(), HasSubstr("a      Failed   NonZeroExit   2      "));
  EXPECT_THAT(out_.str(), Not(HasSubstr("b ")));

  out_.str("");
  inv.connection.all_namespaces = true;
  EXPECT_EQ(Execute(inv), 0);
  EXPECT_THAT(out_.str(), HasSubstr("NAMESPACE"));
  EXPECT_THAT(out_.str(), HasSubstr("other"));

  out_.str("");
  inv.connection.all_namespaces = false;
  inv.names = {"missing"};
  EXPECT_EQ(Execute(inv), 1);
  EXPECT_THAT(err_.str(), HasSubstr("\"missing\" not found in namespace \"team-a\""));
}

TEST_F(SessionTest, GetSaysWhenThereIsNothing) {
  Invocation inv;
  inv.command = Command::kGet;
  EXPECT_EQ(Execute(inv), 0);
  EXPECT_THAT(out_.str(), IsEmpty());
  EXPECT_EQ(err_.str(), "No CodeRuns found in namespace team-a.\n");
}

TEST_F(SessionTest, GetYamlQuotesWhatWouldReadBackAsAnotherType) {
  client_.Put(kube::kCodeRuns, {{"metadata", {{"name", "a"}, {"namespace", "team-a"}}},
                                {"spec", {{"code", "print(1)\nprint(2)\n"}, {"args", {"1", "true", "x"}}}}});
  Invocation inv;
  inv.command = Command::kGet;
  inv.names = {"a"};
  inv.output = OutputFormat::kYaml;
  EXPECT_EQ(Execute(inv), 0);
  const std::string yaml = out_.str();
  EXPECT_THAT(yaml, HasSubstr("- \"1\""));
  EXPECT_THAT(yaml, HasSubstr("- \"true\""));
  EXPECT_THAT(yaml, HasSubstr("- x"));
  EXPECT_THAT(yaml, HasSubstr("code: |"));
}

TEST_F(SessionTest, LogsOnlyForFinishedRuns) {
  client_.Put(kube::kCodeRuns, {{"metadata", {{"name", "done"}, {"namespace", "team-a"}}},
                                {"status", {{"phase", "Succeeded"}, {"reason", "Completed"},
                                            {"stdout", "o"}, {"stderr", "e"}}}});
  client_.Put(kube::kCodeRuns, {{"metadata", {{"name", "busy"}, {"namespace", "team-a"}}},
                                {"status", {{"phase", "Running"}, {"reason", "Running"}}}});
  Invocation inv;
  inv.command = Command::kLogs;
  inv.names = {"done"};
  EXPECT_EQ(Execute(inv), 0);
  EXPECT_EQ(out_.str(), "o");
  EXPECT_EQ(err_.str(), "e");
  err_.str("");
  inv.names = {"busy"};
  EXPECT_EQ(Execute(inv), 1);
  EXPECT_THAT(err_.str(), HasSubstr("has not finished (Running)"));
}

TEST_F(SessionTest, WaitEndsWithTheRunsStatusOrItsTimeout) {
  client_.Put(kube::kCodeRuns, {{"metadata", {{"name", "w"}, {"namespace", "team-a"}}},
                                {"status", {{"phase", "Running"}, {"reason", "Running"}}}});
  Invocation inv;
  inv.command = Command::kWait;
  inv.names = {"w"};
  inv.wait_timeout_seconds = 0.2;
  EXPECT_EQ(Execute(inv), kExitCouldNotRun);
  EXPECT_THAT(err_.str(), HasSubstr("timed out waiting for CodeRun w"));

  std::thread finisher([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    client_.Put(kube::kCodeRuns, {{"metadata", {{"name", "w"}, {"namespace", "team-a"}}},
                                  {"status", {{"phase", "Failed"}, {"reason", "NonZeroExit"},
                                              {"exitCode", 4}}}});
  });
  inv.wait_timeout_seconds.reset();
  EXPECT_EQ(Execute(inv), 4);
  finisher.join();
  EXPECT_EQ(out_.str(), "coderun.coderun.dev/w Failed (NonZeroExit, exit 4)\n");
}

TEST_F(SessionTest, DeleteReportsEachName) {
  client_.Put(kube::kCodeRuns, {{"metadata", {{"name", "a"}, {"namespace", "team-a"}}}});
  Invocation inv;
  inv.command = Command::kDelete;
  inv.names = {"a", "gone"};
  EXPECT_EQ(Execute(inv), 1);
  EXPECT_EQ(out_.str(), "coderun.coderun.dev \"a\" deleted\n");
  EXPECT_THAT(err_.str(), HasSubstr("\"gone\" not found"));
  EXPECT_EQ(Stored(), 0u);
}

TEST_F(SessionTest, JudgeRunsPrintAVerdictPerCaseAndExit1UnlessAllAreAccepted) {
  const std::string tests = ::testing::TempDir() + "/cases.yaml";
  Write(tests, "- {name: one, stdin: \"1\\n\", expectedStdout: \"1\\n\"}\n"
               "- {name: two, stdin: \"2\\n\", expectedStdout: \"2\\n\"}\n");
  FakeController controller(client_, Ends(json::parse(R"({"phase": "Succeeded",
      "reason": "Completed", "exitCode": 0, "verdict": "WrongAnswer", "testsPassed": 1,
      "testsTotal": 2, "tests": [
        {"name": "one", "verdict": "Accepted", "usage": {"wallMillis": 5}},
        {"name": "two", "verdict": "WrongAnswer", "usage": {"wallMillis": 6},
         "message": "line 1: expected \"2\", got \"3\""}]})")));
  in_.str("never read");
  in_is_tty_ = false;
  Invocation inv = RunOf(program_);
  inv.run.tests_file = tests;
  EXPECT_EQ(Execute(inv), kExitTestsFailed);
  const json seen = controller.seen();
  EXPECT_EQ(seen["spec"]["tests"][1], json::parse(R"({"name": "two", "stdin": "2\n",
      "expectedStdout": "2\n"})"));
  EXPECT_FALSE(seen["spec"].contains("stdin"));
  EXPECT_THAT(out_.str(), HasSubstr("two    WrongAnswer   6 ms   line 1: expected \"2\", got \"3\"\n"));
  EXPECT_THAT(out_.str(), HasSubstr("1/2 passed: WrongAnswer\n"));
}

TEST(GenerateNameTest, FileNamesBecomeDnsLabels) {
  EXPECT_EQ(GenerateNameFor("/a/b/Hello_World.py"), "hello-world-");
  EXPECT_EQ(GenerateNameFor("solve.v2.py"), "solve-v2-");
  EXPECT_EQ(GenerateNameFor("__.py"), "run-");
  EXPECT_EQ(GenerateNameFor(".py"), "py-");
  EXPECT_EQ(GenerateNameFor(std::string(60, 'x') + ".py"), std::string(40, 'x') + "-");
}

}  // namespace
}  // namespace coderun::plugin
