// Structured logs to stderr: one line per record, text (`ts level msg key=value ...`) or
// JSON (`{"ts":...,"level":...,"msg":...,"key":"value"}`). Thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace coderun::log {

enum class Level { kDebug, kInfo, kWarn, kError };
enum class Format { kText, kJson };

using Field = std::pair<std::string_view, std::string>;

// Call once at start-up, before other threads log.
void Configure(Format format, Level min_level);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void Debug(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kDebug, msg, f); }
inline void Info(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kInfo, msg, f); }
inline void Warn(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kWarn, msg, f); }
inline void Error(std::string_view msg, std::initializer_list<Field> f = {}) { Write(Level::kError, msg, f); }

// Formats one record without writing it (exposed for tests). `ts` is RFC 3339.
std::string FormatRecord(enum Format format, Level level, std::string_view ts, std::string_view msg,
                   std::initializer_list<Field> fields);

}  // namespace coderun::log
