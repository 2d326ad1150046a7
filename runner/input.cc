#include "runner/input.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "api/input_digest.h"
#include "api/report.h"
#include "runner/scratch.h"
#include "runner/sys_error.h"

namespace coderun::runner {
namespace {

// Reads all of `fd` from offset 0 with pread (the offset stays where it is) into *out, at
// most RunnerInput::kMaxFileBytes. Returns "" or what is wrong.
std::string ReadAll(int fd, const std::string& path, std::string* out) {
  out->clear();
  char buf[65536];
  for (;;) {
    const ssize_t n = pread(fd, buf, sizeof(buf), static_cast<off_t>(out->size()));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("read " + path);
    if (n == 0) return "";
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > RunnerInput::kMaxFileBytes) {
      return path + ": larger than " + std::to_string(RunnerInput::kMaxFileBytes >> 20) + " MiB";
    }
  }
}

// Opens `path` read-only (close-on-exec) into *fd; an absent file is not an error when
// `optional` (*fd stays -1). Returns "" or what is wrong.
std::string OpenFile(const std::string& path, bool optional, int* fd) {
  *fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (*fd < 0 && optional && errno == ENOENT) return "";
  if (*fd < 0) return Errno((optional ? "open " : "no readable code file ") + path);
  struct stat st;
  if (fstat(*fd, &st) != 0) return Errno("stat " + path);
  if (!S_ISREG(st.st_mode)) return path + ": not a regular file";
  return "";
}

std::string ParseArgs(const std::string& path, const std::string& text,
                      std::vector<std::string>* args) {
  const auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_array()) return path + ": not a JSON array";
  for (const auto& arg : doc) {
    if (!arg.is_string()) return path + ": not an array of strings";
    const std::string& s = arg.get_ref<const std::string&>();
    if (s.find('\0') != std::string::npos) return path + ": an argument holds a NUL byte";
    args->push_back(s);
  }
  return "";
}

std::string ParseTests(const std::string& path, const std::string& text,
                       std::vector<RunnerInput::TestCase>* tests) {
  const auto doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_array()) return path + ": not a JSON array";
  if (doc.empty()) return path + ": no test cases";
  if (doc.size() > api::kMaxTestCases) {
    return path + ": more than " + std::to_string(api::kMaxTestCases) + " test cases";
  }
  for (const auto& item : doc) {
    const std::string where = path + ": case " + std::to_string(tests->size());
    if (!item.is_object()) return where + " is not an object";
    RunnerInput::TestCase c;
    const auto name = item.find("name"), in = item.find("stdin"), args = item.find("args"),
               timeout = item.find("timeoutSeconds");
    if (name == item.end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
      return where + ": name is not a non-empty string";
    }
    if (in == item.end() || !in->is_string()) return where + ": stdin is not a string";
    if (timeout == item.end() || !timeout->is_number_integer() || timeout->get<int64_t>() < 1 ||
        timeout->get<int64_t>() > 86400) {
      return where + ": timeoutSeconds is not an integer in [1, 86400]";
    }
    if (args == item.end()) return where + ": args is missing";
    if (std::string error = ParseArgs(where + ": args", args->dump(), &c.args); !error.empty()) {
      return error;
    }
    c.name = name->get<std::string>();
    c.stdin_data = in->get<std::string>();
    c.timeout_seconds = timeout->get<int64_t>();
    tests->push_back(std::move(c));
  }
  return "";
}

}  // namespace

RunnerInput::~RunnerInput() {
  if (code_fd_ >= 0) close(code_fd_);
  if (stdin_fd_ >= 0) close(stdin_fd_);
}

std::string RunnerInput::Open(const std::string& dir, const std::string& expected_digest,
                              bool tests) {
  const std::string code_path = dir + "/code", stdin_path = dir + "/stdin",
                    args_path = dir + "/args.json", nonce_path = dir + "/nonce",
                    tests_path = dir + "/tests.json";
  std::string error = OpenFile(code_path, /*optional=*/false, &code_fd_);
  if (error.empty()) error = OpenFile(stdin_path, /*optional=*/true, &stdin_fd_);
  int args_fd = -1, nonce_fd = -1, tests_fd = -1;
  if (error.empty()) error = OpenFile(args_path, /*optional=*/true, &args_fd);
  if (error.empty() && !expected_digest.empty()) {
    error = OpenFile(nonce_path, /*optional=*/true, &nonce_fd);
  }
  if (error.empty() && tests) error = OpenFile(tests_path, /*optional=*/false, &tests_fd);
  std::string args_json, code, stdin_data, nonce, tests_json;
  if (error.empty() && args_fd >= 0) error = ReadAll(args_fd, args_path, &args_json);
  if (error.empty() && nonce_fd >= 0) error = ReadAll(nonce_fd, nonce_path, &nonce);
  if (error.empty() && tests_fd >= 0) error = ReadAll(tests_fd, tests_path, &tests_json);
  if (args_fd >= 0) close(args_fd);
  if (nonce_fd >= 0) close(nonce_fd);
  if (tests_fd >= 0) close(tests_fd);
  if (!error.empty()) return error;
  if (!expected_digest.empty()) {
    error = ReadAll(code_fd_, code_path, &code);
    if (error.empty() && stdin_fd_ >= 0) error = ReadAll(stdin_fd_, stdin_path, &stdin_data);
    if (!error.empty()) return error;
    if (api::InputDigest(nonce, code, stdin_data, args_json, tests_json) != expected_digest) {
      return kInputDigestMismatch;
    }
  }
  if (tests) {
    error = ParseTests(tests_path, tests_json, &tests_);
    if (!error.empty()) return error;
  }
  if (args_fd >= 0) {
    error = ParseArgs(args_path, args_json, &args_);
    if (!error.empty()) return error;
  }
  if (stdin_fd_ < 0) {
    stdin_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (stdin_fd_ < 0) return Errno("open /dev/null");
  }
  return "";
}

std::string RunnerInput::FromRequest(const api::Request& request) {
  code_fd_ = SealedMemoryFile(request.code, "coderun-code");
  if (code_fd_ < 0) return Errno("memfd for the code");
  stdin_fd_ = SealedMemoryFile(request.stdin_data, "coderun-stdin");
  if (stdin_fd_ < 0) return Errno("memfd for the stdin");
  args_ = request.args;
  return "";
}

RequestBytes ReadRequestBytes(int fd, int signal_fd, const std::function<bool()>& stop) {
  RequestBytes got;
  for (size_t want; (want = api::RequestBytesToRead(got.data)) > 0;) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {signal_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      got.error = Errno("poll");
      return got;
    }
    if (fds[1].revents != 0 && stop()) {
      got.stopped = true;
      return got;
    }
    if (fds[0].revents == 0) continue;
    char buf[64 << 10];
    const ssize_t n = read(fd, buf, std::min(want, sizeof(buf)));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) {
      got.error = Errno("reading stdin");
      return got;
    }
    if (n == 0) break;  // EOF: the frame is whole or never will be
    got.data.append(buf, static_cast<size_t>(n));
  }
  return got;
}

}  // namespace coderun::runner
