// coderun-runner: runs one Python program under the limits of a CodeRun and writes the
// report (api/report.h) to its stdout; in judge mode, a case frame as each case ends, then
// the report frame. See runner/options.h for the command line.
//
// Exit status: 0 when the program ran (whatever it did), 2 when the report carries a
// runnerError, 3 when the report or a case frame could not be written (no case runs after
// such a frame, and no report frame follows it).
#include <errno.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "runner/options.h"
#include "api/report.h"
#include "runner/runner.h"

namespace {

bool WriteAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

#if defined(__SANITIZE_ADDRESS__)
// LeakSanitizer stops the world with ptrace, which a non-dumpable process refuses; the
// ASan build of the runner therefore skips the leak check.
extern "C" int __lsan_is_turned_off() { return 1; }
#endif

int main(int argc, char** argv) {
  using namespace coderun::runner;
  using coderun::api::CaseReport;
  using coderun::api::FormatCase;
  using coderun::api::FormatReport;
  using coderun::api::Report;
  // libcrypto (the input digest) reads no configuration file of the image.
  OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr);
  Report report;
  std::string error;
  const int signal_fd = PrepareProcess(&error);
  const auto options = ParseOptions(std::vector<std::string>(argv + 1, argv + argc), &error);
  if (signal_fd < 0 || !options) {
    report.runner_error = error;
  } else {
    bool written = true;
    report = RunProgram(*options, signal_fd, [&written](const CaseReport& test) {
      return written = WriteAll(1, FormatCase(test));
    });
    if (!written) return 3;
  }
  // No tests in `report`: its cases' frames are out already.
  if (!WriteAll(1, FormatReport(report))) return 3;
  return report.runner_error.empty() ? 0 : 2;
}
