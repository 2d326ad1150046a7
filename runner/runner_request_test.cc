// The runner of a warm Pod (--await-request): its input is a request frame on its stdin.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "api/input_digest.h"
#include "api/request.h"
#include "runner/testing/runner_test_util.h"

namespace coderun::runner {
namespace {

using api::FormatRequest;
using api::Limit;
using api::Request;
using api::RequestDigest;
using testing::RunInput;
using testing::RunRunner;
using testing::TempDir;

// A fresh random nonce (32 hex digits, as the controller makes them).
std::string RandomNonce() {
  std::random_device random;
  std::string nonce;
  for (int i = 0; i < 32; ++i) nonce += "0123456789abcdef"[random() % 16];
  return nonce;
}

Request MakeRequest(std::string code, std::string stdin_data = "",
                    std::vector<std::string> args = {}) {
  return Request{.nonce = RandomNonce(),
                 .code = std::move(code),
                 .stdin_data = std::move(stdin_data),
                 .args = std::move(args)};
}

// A request run with a scratch directory as the only writable one.
RunInput OnStdin(std::string stream, const TempDir& scratch) {
  chmod(scratch.path().c_str(), 0777);
  return RunInput{.extra_flags = {"--writable-dir=" + scratch.path()},
                  .request_stream = std::move(stream)};
}

// A Python string literal of `text` (ASCII without quotes or backslashes).
std::string Py(const std::string& text) { return "'" + text + "'"; }

TEST(RunnerRequestTest, RequestOnStdinRunsAndTheReportNamesItsDigest) {
  TempDir scratch;
  const Request request =
      MakeRequest("import sys\nprint(sys.argv)\nprint(input().upper())\n"
                  "print(sys.stdin.read(), end='')\n",
                  "hello\nrest\n", {"a b", "", "\xC3\xBC", "\"q\"\\"});
  auto out = RunRunner(OnStdin(FormatRequest(request), scratch));
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->runner_error, "");
  EXPECT_EQ(out.report->stdout_text,
            "['-c', 'a b', '', '\xC3\xBC', '\"q\"\\\\']\nHELLO\nrest\n")
      << out.report->stderr_text;
  EXPECT_EQ(out.report->exit_code, 0);
  EXPECT_EQ(out.report->input_digest, RequestDigest(request));
  EXPECT_EQ(out.report->input_digest.size(), 64u);
  EXPECT_TRUE(WIFEXITED(out.wait_status) && WEXITSTATUS(out.wait_status) == 0);
}

TEST(RunnerRequestTest, TornRequestIsRefusedAndTheProgramNeverRuns) {
  TempDir scratch;
  const std::string marker = scratch.path() + "/ran";
  const std::string frame =
      FormatRequest(MakeRequest("open(" + Py(marker) + ", 'w').close()\nprint('ran')\n"));
  for (const size_t cut : {size_t{0}, size_t{10}, frame.size() / 2, frame.size() - 1}) {
    auto out = RunRunner(OnStdin(frame.substr(0, cut), scratch));
    ASSERT_TRUE(out.report) << cut << ": " << out.parse_error << "\n" << out.log;
    EXPECT_TRUE(out.report->runner_error.starts_with("request refused: "))
        << cut << ": " << out.report->runner_error;
    EXPECT_EQ(out.report->input_digest, "") << cut;
    EXPECT_EQ(out.report->stdout_text, "") << cut;
    EXPECT_NE(access(marker.c_str(), F_OK), 0) << cut << ": the program ran";
    EXPECT_TRUE(WIFEXITED(out.wait_status) && WEXITSTATUS(out.wait_status) == 2) << cut;
  }
  auto out = RunRunner(OnStdin(frame.substr(0, frame.size() / 2), scratch));
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_TRUE(out.report->runner_error.starts_with("request refused: request cut short"))
      << out.report->runner_error;
  out = RunRunner(OnStdin("", scratch));
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->runner_error, "request refused: empty: no request");
  // The whole frame does run it (the marker can be made).
  out = RunRunner(OnStdin(frame, scratch));
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, "ran\n") << out.report->stderr_text;
  EXPECT_EQ(access(marker.c_str(), F_OK), 0);
}

TEST(RunnerRequestTest, GarbageAndOversizedRequestsAreRefusedWithoutWaitingForEof) {
  TempDir scratch;
  for (const auto& [stream, reason] : std::vector<std::pair<std::string, std::string>>{
           {"GET / HTTP/1.1\r\n\r\n", "request header missing"},
           {std::string(api::kRequestHeader) + "4194305\n{", "request too large"},
           {std::string(api::kRequestHeader) + "012", "request header has a malformed length"},
           {std::string(api::kRequestHeader) + "99999999999",
            "request header has a malformed length"}}) {
    RunInput in = OnStdin(stream, scratch);
    in.keep_stdin_open = true;  // a runner that waited for EOF would hang until killed
    auto out = RunRunner(in);
    ASSERT_TRUE(out.report) << reason << ": " << out.parse_error << "\n" << out.log;
    EXPECT_EQ(out.report->runner_error, "request refused: " + reason);
    EXPECT_LT(out.seconds, 20) << reason;  // far below RunRunner's deadline
  }
}

TEST(RunnerRequestTest, RequestRunsWithoutWaitingForEof) {
  TempDir scratch;
  RunInput in = OnStdin(FormatRequest(MakeRequest("print(input())\n", "line\n")), scratch);
  in.keep_stdin_open = true;
  auto out = RunRunner(in);
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->runner_error, "");
  EXPECT_EQ(out.report->stdout_text, "line\n");
  EXPECT_LT(out.seconds, 20);
}

// The runner stops reading at the first frame's trailer: what follows (a second request
// glued on by someone else, say) is never read, and never reaches the program.
TEST(RunnerRequestTest, BytesAfterTheRequestAreNeverReadAndNeverReachTheProgram) {
  TempDir scratch;
  const Request first = MakeRequest(
      "import sys\nprint('first', repr(sys.stdin.buffer.read()))\n", "first stdin\n");
  const Request second = MakeRequest("print('second')\n", "second stdin\n");
  const std::string stream = FormatRequest(first) + FormatRequest(second) + "tail\n";
  for (const bool keep_open : {false, true}) {
    RunInput in = OnStdin(stream, scratch);
    in.keep_stdin_open = keep_open;
    auto out = RunRunner(in);
    ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
    EXPECT_EQ(out.report->runner_error, "");
    EXPECT_EQ(out.report->stdout_text, "first b'first stdin\\n'\n") << out.report->stderr_text;
    EXPECT_EQ(out.report->input_digest, RequestDigest(first));
  }
}

TEST(RunnerRequestTest, LimitsHoldAsForASecretFedRun) {
  TempDir scratch;
  RunInput in = OnStdin(FormatRequest(MakeRequest("print('x' * 1000)\n")), scratch);
  in.output_bytes = 100;
  auto out = RunRunner(in);
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->stdout_text, std::string(100, 'x'));
  EXPECT_TRUE(out.report->stdout_truncated);
  EXPECT_EQ(out.report->stdout_bytes, 1001u);

  in = OnStdin(FormatRequest(MakeRequest("import time\nprint('start')\ntime.sleep(60)\n")),
               scratch);
  in.timeout_seconds = 1;
  out = RunRunner(in);
  ASSERT_TRUE(out.report) << out.parse_error;
  EXPECT_EQ(out.report->limit, Limit::kTime);
  EXPECT_EQ(out.report->stdout_text, "start\n");

  // Outside the writable directories nothing can be written (where Landlock exists).
  TempDir outside;
  chmod(outside.path().c_str(), 0777);
  in = OnStdin(FormatRequest(MakeRequest("try:\n"
                                         "    open(" + Py(outside.path() + "/f") + ", 'w')\n"
                                         "    print('written')\n"
                                         "except OSError:\n"
                                         "    print('refused')\n")),
               scratch);
  out = RunRunner(in);
  ASSERT_TRUE(out.report) << out.parse_error;
  if (out.report->landlock_abi > 0) {
    EXPECT_EQ(out.report->stdout_text, "refused\n") << out.report->stderr_text;
  }
}

// The nonce makes the digest one only the controller can produce; the program must not
// learn it. It searches everything it can read for it (and, to show the search works, for
// a canary the request put in its stdin and args).
TEST(RunnerRequestTest, TheProgramCannotFindTheNonce) {
  TempDir scratch;
  const std::string canary = "canary-" + RandomNonce();
  Request request = MakeRequest("", "stdin holds the " + canary + "\n", {"--" + canary});
  std::string nonce_reversed(request.nonce.rbegin(), request.nonce.rend());
  std::string canary_reversed(canary.rbegin(), canary.rend());
  request.code = R"PY(import os, stat, sys
needles = {'nonce': )PY" + Py(nonce_reversed) +
                 R"PY([::-1].encode(), 'canary': )PY" + Py(canary_reversed) +
                 R"PY([::-1].encode()}
found = {name: set() for name in needles}
def check(where, data):
    for name, needle in needles.items():
        if needle in data:
            found[name].add(where)
def read(path):
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return b''
        with open(path, 'rb') as f:
            return f.read(1 << 22)
    except OSError:
        return b''
check('argv', '\0'.join(sys.argv).encode())
check('environ', b'\0'.join(k + b'=' + v for k, v in os.environb.items()))
check('stdin', sys.stdin.buffer.read())
for fd in os.listdir('/proc/self/fd'):
    path = '/proc/self/fd/' + fd
    try:
        check(path, os.readlink(path).encode())
    except OSError:
        pass
    check(path, read(path))
files = 0
for top, depth in ((')PY" + scratch.path() +
                 R"PY(', 9), ('/dev/shm', 9), ('/tmp', 0)):
    for root, dirs, names in os.walk(top):
        if root.count('/') - top.count('/') >= depth:
            dirs[:] = []
        for name in names[:200]:
            files += 1
            check(os.path.join(root, name), read(os.path.join(root, name)))
skip = {'mem', 'pagemap', 'clear_refs', 'kpagecount', 'kpageflags'}
for proc in ('/proc/self', '/proc/%d' % os.getppid(), '/proc/1'):
    try:
        names = os.listdir(proc)
    except OSError:
        continue
    for name in names:
        if name not in skip:
            files += 1
            check(proc + '/' + name, read(proc + '/' + name))
print('nonce', sorted(found['nonce']))
print('canary', sorted(found['canary']))
print('files', files > 20)
)PY";
  auto out = RunRunner(OnStdin(FormatRequest(request), scratch));
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  ASSERT_EQ(out.report->runner_error, "");
  EXPECT_EQ(out.report->input_digest, RequestDigest(request));
  std::istringstream lines(out.report->stdout_text);
  std::string nonce_line, canary_line, files_line;
  std::getline(lines, nonce_line);
  std::getline(lines, canary_line);
  std::getline(lines, files_line);
  EXPECT_EQ(nonce_line, "nonce []") << out.report->stderr_text;
  // The search does find what the program was given.
  EXPECT_NE(canary_line.find("'argv'"), std::string::npos) << canary_line;
  EXPECT_NE(canary_line.find("'stdin'"), std::string::npos) << canary_line;
  EXPECT_NE(canary_line.find("'/proc/self/cmdline'"), std::string::npos) << canary_line;
  EXPECT_NE(canary_line.find("'/proc/self/fd/0'"), std::string::npos) << canary_line;
  EXPECT_EQ(files_line, "files True");
}

// Deleting a waiting warm Pod: the kubelet's SIGTERM ends the wait at once.
TEST(RunnerRequestTest, SigtermWhileWaitingEndsTheRunnerAsTerminated) {
  TempDir scratch;
  RunInput in = OnStdin("", scratch);
  in.keep_stdin_open = true;
  in.on_start = [](pid_t runner) {
    // Signalled once it blocks SIGTERM for its signalfd (before, SIGTERM would kill it).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < until) {
      std::ifstream status("/proc/" + std::to_string(runner) + "/status");
      std::string line;
      unsigned long long blocked = 0;
      while (std::getline(status, line)) {
        if (line.starts_with("SigBlk:")) blocked = std::stoull(line.substr(7), nullptr, 16);
      }
      if (blocked & (1ull << (SIGTERM - 1))) break;
      usleep(5000);  // polling interval
    }
    kill(runner, SIGTERM);
  };
  auto out = RunRunner(in);
  ASSERT_TRUE(out.report) << out.parse_error << "\n" << out.log;
  EXPECT_EQ(out.report->runner_error, "stopped while waiting for a request");
  EXPECT_EQ(out.report->limit, Limit::kTerminated);
  EXPECT_EQ(out.report->input_digest, "");
  EXPECT_LT(out.seconds, 20);
}

}  // namespace
}  // namespace coderun::runner
