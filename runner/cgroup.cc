#include "runner/cgroup.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string_view>

namespace coderun::runner {

std::optional<std::string> ReadSmallFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  std::string data;
  char buf[4096];
  while (data.size() < (64 << 10)) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return data;
}

std::optional<uint64_t> ParseUint(std::string_view text) {
  const auto space = " \t\n\r";
  const size_t begin = text.find_first_not_of(space);
  if (begin == std::string_view::npos) return std::nullopt;
  text = text.substr(begin, text.find_last_not_of(space) - begin + 1);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<uint64_t> KeyedValue(std::string_view file, std::string_view key) {
  while (!file.empty()) {
    const size_t eol = file.find('\n');
    const std::string_view line = file.substr(0, eol);
    file = eol == std::string_view::npos ? std::string_view() : file.substr(eol + 1);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ') {
      return ParseUint(line.substr(key.size() + 1));
    }
  }
  return std::nullopt;
}

namespace {

std::optional<uint64_t> ReadUint(const std::string& path) {
  const auto text = ReadSmallFile(path);
  return text ? ParseUint(*text) : std::nullopt;
}

std::optional<uint64_t> ReadKeyed(const std::string& path, std::string_view key) {
  const auto text = ReadSmallFile(path);
  return text ? KeyedValue(*text, key) : std::nullopt;
}

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

}  // namespace

CgroupMemory ReadCgroupMemory(const std::string& root) {
  CgroupMemory memory;
  if (Exists(root + "/memory.events") || Exists(root + "/memory.peak")) {
    memory.peak_bytes = ReadUint(root + "/memory.peak");
    memory.oom_kills = ReadKeyed(root + "/memory.events", "oom_kill");
    return memory;
  }
  const std::string v1 = root + "/memory";
  memory.peak_bytes = ReadUint(v1 + "/memory.max_usage_in_bytes");
  memory.oom_kills = ReadKeyed(v1 + "/memory.oom_control", "oom_kill");
  memory.failcnt = ReadUint(v1 + "/memory.failcnt");
  return memory;
}

std::optional<uint64_t> ReadCgroupCpuNanos(const std::string& root) {
  const auto v2 = [](const std::string& dir) -> std::optional<uint64_t> {
    const auto usec = ReadKeyed(dir + "/cpu.stat", "usage_usec");
    if (!usec || *usec > UINT64_MAX / 1000) return std::nullopt;
    return *usec * 1000;
  };
  if (Exists(root + "/cpu.stat")) return v2(root);
  for (const char* dir : {"/cpu,cpuacct", "/cpuacct"}) {
    if (auto nanos = ReadUint(root + dir + "/cpuacct.usage")) return nanos;
  }
  return v2(root + "/unified");
}

bool OomKillBetween(const CgroupMemory& before, const CgroupMemory& after) {
  if (before.oom_kills && after.oom_kills) return *after.oom_kills > *before.oom_kills;
  if (!before.oom_kills && !after.oom_kills && before.failcnt && after.failcnt) {
    return *after.failcnt > *before.failcnt;
  }
  return false;
}

}  // namespace coderun::runner
