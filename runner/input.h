// The run's input: the input directory (the Secret's volume), opened once, or a request
// read from stdin (--await-request, api/request.h).
//
// The input directory:
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
//
// A request's code and stdin are each put in a sealed memfd; its nonce stays in the
// runner's memory only (which the program cannot read: the runner is not dumpable).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "api/request.h"

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

  // --await-request, in place of Open(): the input of `request`, its code and stdin each in
  // a sealed memfd. Returns "" on success, else what is wrong.
  std::string FromRequest(const api::Request& request);

  // Valid after a successful Open() or FromRequest(); close-on-exec, at offset 0, owned by
  // this object until released.
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

// --await-request: what came on the runner's stdin for the request frame.
struct RequestBytes {
  std::string data;      // what was read, never a byte past the frame's trailer
  bool stopped = false;  // the caller's stop() said so before the data ended
  std::string error;     // reading failed ("" if not)
};

// Reads from `fd` until EOF, a read error, or api::RequestBytesToRead says enough: the
// frame is whole, or what came cannot begin one (at most api::kMaxRequestFrameBytes). Bytes
// after the frame stay unread. While waiting, `signal_fd` is polled too; when it is readable
// `stop()` is called (it must drain it), and a true result ends the wait.
RequestBytes ReadRequestBytes(int fd, int signal_fd, const std::function<bool()>& stop);

// The runnerError of a run refused because its input does not hash to --input-digest.
inline constexpr char kInputDigestMismatch[] =
    "the run's input does not match the digest its Pod was created with (the Secret was "
    "replaced)";

}  // namespace coderun::runner
