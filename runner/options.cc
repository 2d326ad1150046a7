#include "runner/options.h"

#include <charconv>
#include <string_view>

namespace coderun::runner {
namespace {

bool ParseInt(std::string_view text, int64_t lo, int64_t hi, int64_t* out) {
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi) {
    return false;
  }
  *out = value;
  return true;
}

}  // namespace

std::optional<Options> ParseOptions(const std::vector<std::string>& args, std::string* error) {
  Options options;
  bool have_input = false, have_timeout = false, have_pids = false, have_output = false;
  struct IntFlag {
    std::string_view name;
    int64_t lo, hi;
    int64_t* value;
    bool* seen;
  };
  bool unused = false;
  bool writable_dir_seen = false;
  bool first_case_seen = false;
  const IntFlag int_flags[] = {
      {"--timeout-seconds", 1, 86400, &options.timeout_seconds, &have_timeout},
      {"--pids", 1, 1 << 20, &options.pids, &have_pids},
      {"--output-bytes", 0, 16 << 20, &options.output_bytes, &have_output},
      {"--file-bytes", 0, int64_t{1} << 40, &options.file_bytes, &unused},
      {"--open-files", 8, 1 << 20, &options.open_files, &unused},
      {"--drain-millis", 0, 600000, &options.drain_millis, &unused},
      {"--case-stdout-bytes", 0, 16 << 20, &options.case_stdout_bytes, &unused},
      // Checked against the number of cases once tests.json is read.
      {"--first-case", 0, 1 << 20, &options.first_case, &first_case_seen},
  };
  for (const std::string& arg : args) {
    if (arg == "--tests" || arg == "--stop-on-failure") {
      (arg == "--tests" ? options.tests : options.stop_on_failure) = true;
      continue;
    }
    if (arg == "--await-request") {
      options.await_request = true;
      continue;
    }
    const size_t eq = arg.find('=');
    if (eq == std::string::npos) {
      *error = "flag without value: " + arg;
      return std::nullopt;
    }
    const std::string_view name = std::string_view(arg).substr(0, eq);
    const std::string value = arg.substr(eq + 1);
    bool known = false;
    for (const IntFlag& flag : int_flags) {
      if (name != flag.name) continue;
      known = true;
      if (!ParseInt(value, flag.lo, flag.hi, flag.value)) {
        *error = std::string(name) + ": want an integer in [" + std::to_string(flag.lo) + ", " +
                 std::to_string(flag.hi) + "], got \"" + value + "\"";
        return std::nullopt;
      }
      *flag.seen = true;
    }
    if (known) continue;
    if (name == "--input-dir" && !value.empty()) {
      options.input_dir = value;
      have_input = true;
    } else if (name == "--python" && !value.empty()) {
      options.python = value;
    } else if (name == "--cgroup-root" && !value.empty()) {
      options.cgroup_root = value;
    } else if (name == "--input-digest") {
      if (value.size() != 64 || value.find_first_not_of("0123456789abcdef") != std::string::npos) {
        *error = "--input-digest: want 64 lowercase hex digits, got \"" + value + "\"";
        return std::nullopt;
      }
      options.input_digest = value;
    } else if (name == "--writable-dir" && !value.empty() && value[0] == '/') {
      if (!writable_dir_seen) options.writable_dirs.clear();
      writable_dir_seen = true;
      options.writable_dirs.push_back(value);
    } else if (name == "--termination-log" && (value.empty() || value[0] == '/')) {
      options.termination_log = value;
    } else if (name == "--landlock" && (value == "auto" || value == "off")) {
      options.landlock = value == "auto";
    } else {
      *error = "unknown flag or bad value: " + arg;
      return std::nullopt;
    }
  }
  if (options.await_request &&
      (have_input || !options.input_digest.empty() || options.tests)) {
    // Its input comes from stdin, and a judge run's tests come from a Secret only.
    *error = "--await-request excludes --input-dir, --input-digest and --tests";
    return std::nullopt;
  }
  if (!(have_input || options.await_request) || !have_timeout || !have_pids || !have_output) {
    *error = "required: --input-dir (or --await-request), --timeout-seconds, --pids, "
             "--output-bytes";
    return std::nullopt;
  }
  if (!options.tests &&
      (options.case_stdout_bytes >= 0 || options.stop_on_failure || first_case_seen)) {
    *error = "--case-stdout-bytes, --stop-on-failure and --first-case need --tests";
    return std::nullopt;
  }
  if (options.case_stdout_bytes < 0) options.case_stdout_bytes = options.output_bytes;
  return options;
}

}  // namespace coderun::runner
