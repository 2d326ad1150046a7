#include "common/log.h"

#include <chrono>
#include <cstdio>
#include <mutex>

#include "common/time.h"
#include "nlohmann/json.hpp"

namespace coderun::log {
namespace {

std::mutex g_mu;  // guards writes to stderr so records never interleave
enum Format g_format = Format::kText;
Level g_min_level = Level::kInfo;

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) return true;
  }
  return false;
}

std::string Now() { return FormatRfc3339(std::chrono::system_clock::now(), 3); }

}  // namespace

void Configure(enum Format format, Level min_level) {
  std::lock_guard lock(g_mu);
  g_format = format;
  g_min_level = min_level;
}

std::string FormatRecord(enum Format format, Level level, std::string_view ts, std::string_view msg,
                   std::initializer_list<Field> fields) {
  using nlohmann::json;
  if (format == Format::kJson) {
    json record = {{"ts", ts}, {"level", LevelName(level)}, {"msg", msg}};
    for (const auto& [k, v] : fields) record[std::string(k)] = v;
    return record.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  std::string line;
  line.append(ts).append(" ").append(LevelName(level)).append(" ").append(msg);
  for (const auto& [k, v] : fields) {
    line.append(" ").append(k).append("=");
    if (NeedsQuotes(v)) {
      line.append(json(v).dump(-1, ' ', false, json::error_handler_t::replace));
    } else {
      line.append(v);
    }
  }
  return line;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  std::lock_guard lock(g_mu);
  if (level < g_min_level) return;
  std::string line = FormatRecord(g_format, level, Now(), msg, fields);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace coderun::log
