// The run's input directory (the Secret's volume), opened once.
//
//   code       Python source (required)
//   stdin      the program's standard input (optional: empty)
//   args.json  a JSON array of strings without NUL bytes, sys.argv[1:] (optional: [])
//   nonce      the controller's random value for the input digest (optional: empty)
//   tests.json judge mode only (required then): [{"name", "stdin", "args",
//              "timeoutSeconds"}], at most api::kMaxTestCases cases
//
// Every file is opened once and what the program gets is read through those same open
// files, so the input checked against the digest is the input that runs even if the
// volume's contents are swapped meanwhile.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace coderun::runner {

class RunnerInput {
 public:
  RunnerInput() = default;
  RunnerInput(const RunnerInput&) = delete;
  RunnerInput& operator=(const RunnerInput&) = delete;
  ~RunnerInput();

  // Opens and reads the input under `dir`. When `expected_digest` is not empty, computes
  // InputDigest (input_digest.h) of nonce, code, stdin and args.json and compares. Returns
  // "" on success, else what is wrong (a file unreadable or larger than kMaxFileBytes,
  // args.json malformed, the digest different).
  std::string Open(const std::string& dir, const std::string& expected_digest,
                   bool tests = false);

  // Valid after a successful Open(); close-on-exec, at offset 0, owned by this object
  // until released.
  int code_fd() const { return code_fd_; }
  int stdin_fd() const { return stdin_fd_; }  // the stdin file, or /dev/null
  const std::vector<std::string>& args() const { return args_; }

  // Judge mode: the cases of tests.json, in order.
  struct TestCase {
    std::string name;
    std::string stdin_data;
    std::vector<std::string> args;
    int64_t timeout_seconds = 0;
  };
  const std::vector<TestCase>& tests() const { return tests_; }

  // Largest input file read; a Secret holds at most 1 MiB in all.
  static constexpr size_t kMaxFileBytes = 4 << 20;

 private:
  int code_fd_ = -1;
  int stdin_fd_ = -1;
  std::vector<std::string> args_;
  std::vector<TestCase> tests_;
};

// The runnerError of a run refused because its input does not hash to --input-digest.
inline constexpr char kInputDigestMismatch[] =
    "the run's input does not match the digest its Pod was created with (the Secret was "
    "replaced)";

}  // namespace coderun::runner
