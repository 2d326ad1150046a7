#include "metrics/process.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <functional>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>


namespace coderun::metrics {
namespace {

// Fields of /proc/self/stat after the command name (field 3 first).
std::vector<std::string> StatFields() {
  std::ifstream f("/proc/self/stat");
  std::string line((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::string> fields;
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 1));
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

// Field n (1-based, as proc(5) numbers them) of /proc/self/stat, or 0.
double StatField(const std::vector<std::string>& fields, size_t n) {
  return n >= 3 && n - 3 < fields.size() ? std::stod(fields[n - 3]) : 0;
}

double BootTime() {
  std::ifstream f("/proc/stat");
  for (std::string key; f >> key;) {
    if (key == "btime") {
      double btime = 0;
      f >> btime;
      return btime;
    }
    f.ignore(1 << 20, '\n');
  }
  return 0;
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;  // the directory stream's own descriptor
}

std::vector<Sample> One(double value) { return {{{}, value}}; }

}  // namespace

absl::Status RegisterProcessMetrics(Registry& registry) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  // Field 22 is the start time in ticks after boot: fixed for the process, read once.
  const double start = BootTime() + StatField(StatFields(), 22) / ticks;
  const struct {
    Type type;
    const char* name;
    const char* help;
    std::function<std::vector<Sample>()> read;
  } families[] = {
      {Type::kCounter, "process_cpu_seconds_total",
       "Total user and system CPU time spent in seconds.",
       [ticks] {
         const std::vector<std::string> f = StatFields();
         return One((StatField(f, 14) + StatField(f, 15)) / ticks);
       }},
      {Type::kGauge, "process_resident_memory_bytes", "Resident memory size in bytes.",
       [page] { return One(StatField(StatFields(), 24) * page); }},
      {Type::kGauge, "process_virtual_memory_bytes", "Virtual memory size in bytes.",
       [] { return One(StatField(StatFields(), 23)); }},
      {Type::kGauge, "process_open_fds", "Number of open file descriptors.",
       [] { return One(OpenFds()); }},
      {Type::kGauge, "process_start_time_seconds",
       "Start time of the process since unix epoch in seconds.", [start] { return One(start); }},
  };
  for (const auto& f : families) {
    if (absl::Status st = registry.AddCallback(f.type, f.name, f.help, {}, f.read); !st.ok()) {
      return st;
    }
  }
  return absl::OkStatus();
}

}  // namespace coderun::metrics
