#include "api/report.h"

#include <nlohmann/json.hpp>

#include "api/frame.h"
#include "api/utf8.h"

namespace coderun::api {
namespace {

using nlohmann::json;

bool Fail(std::string* error, std::string message) {
  if (error != nullptr) *error = std::move(message);
  return false;
}

// Reads the member `key` of `doc` into *out; false (with *error set) if it is missing or
// of another type or out of range.
bool GetUint(const json& doc, const char* key, uint64_t* out, std::string* error) {
  auto it = doc.find(key);
  if (it == doc.end()) return Fail(error, std::string("missing member ") + key);
  if (!it->is_number_unsigned()) {
    return Fail(error, std::string("member ") + key + " is not a non-negative integer");
  }
  *out = it->get<uint64_t>();
  return true;
}

bool GetInt(const json& doc, const char* key, int lo, int hi, int* out, std::string* error) {
  auto it = doc.find(key);
  if (it == doc.end()) return Fail(error, std::string("missing member ") + key);
  if (!it->is_number_integer()) {
    return Fail(error, std::string("member ") + key + " is not an integer");
  }
  const bool in_range = it->is_number_unsigned()
                            ? it->get<uint64_t>() <= static_cast<uint64_t>(hi)
                            : it->get<int64_t>() >= lo && it->get<int64_t>() <= hi;
  if (!in_range) return Fail(error, std::string("member ") + key + " is out of range");
  *out = static_cast<int>(it->get<int64_t>());
  return true;
}

bool GetBool(const json& doc, const char* key, bool* out, std::string* error) {
  auto it = doc.find(key);
  if (it == doc.end()) return Fail(error, std::string("missing member ") + key);
  if (!it->is_boolean()) return Fail(error, std::string("member ") + key + " is not a boolean");
  *out = it->get<bool>();
  return true;
}

bool GetString(const json& doc, const char* key, std::string* out, std::string* error) {
  auto it = doc.find(key);
  if (it == doc.end()) return Fail(error, std::string("missing member ") + key);
  if (!it->is_string()) return Fail(error, std::string("member ") + key + " is not a string");
  *out = it->get<std::string>();
  return true;
}

bool ParseLimit(std::string_view name, Limit* out) {
  for (Limit l : {Limit::kNone, Limit::kTime, Limit::kMemory, Limit::kTerminated}) {
    if (LimitName(l) == name) {
      *out = l;
      return true;
    }
  }
  return false;
}

// The members a whole run and one case have in common (exitCode .. limit).
bool FillOutcome(const json& doc, Outcome* r, std::string* error) {
  std::string limit;
  if (!GetInt(doc, "exitCode", -1, 255, &r->exit_code, error) ||
      !GetInt(doc, "signal", 0, 128, &r->signal, error) ||
      !GetUint(doc, "wallMillis", &r->wall_millis, error) ||
      !GetUint(doc, "cpuMillis", &r->cpu_millis, error) ||
      !GetUint(doc, "maxRSSBytes", &r->max_rss_bytes, error) ||
      !GetString(doc, "stdout", &r->stdout_text, error) ||
      !GetString(doc, "stderr", &r->stderr_text, error) ||
      !GetBool(doc, "stdoutTruncated", &r->stdout_truncated, error) ||
      !GetBool(doc, "stderrTruncated", &r->stderr_truncated, error) ||
      !GetUint(doc, "stdoutBytes", &r->stdout_bytes, error) ||
      !GetUint(doc, "stderrBytes", &r->stderr_bytes, error) ||
      !GetString(doc, "limit", &limit, error)) {
    return false;
  }
  if (!ParseLimit(limit, &r->limit)) return Fail(error, "member limit has an unknown value");
  return true;
}

// One case object: name and the members exitCode .. limit.
bool FillCase(const json& doc, CaseReport* c, std::string* error) {
  if (!doc.is_object()) return Fail(error, "case is not a JSON object");
  return GetString(doc, "name", &c->name, error) && FillOutcome(doc, c, error);
}

bool FillReport(const json& doc, Report* r, std::string* error) {
  if (!doc.is_object()) return Fail(error, "report is not a JSON object");
  if (!FillOutcome(doc, r, error) ||
      !GetString(doc, "runnerMessage", &r->runner_message, error) ||
      !GetString(doc, "runnerError", &r->runner_error, error)) {
    return false;
  }
  if (auto tests = doc.find("tests"); tests != doc.end()) {
    if (!tests->is_array()) return Fail(error, "member tests is not an array");
    if (tests->size() > kMaxTestCases) return Fail(error, "member tests has too many cases");
    for (const json& item : *tests) {
      CaseReport c;
      if (!item.is_object()) return Fail(error, "a member of tests is not an object");
      if (!FillCase(item, &c, error)) {
        return Fail(error, "tests[" + std::to_string(r->tests.size()) + "]: " +
                               (error != nullptr ? *error : std::string()));
      }
      r->tests.push_back(std::move(c));
    }
  }
  // Optional: runners before it did not write it, and used no Landlock.
  if (doc.contains("landlockAbi") &&
      !GetInt(doc, "landlockAbi", 0, 1000, &r->landlock_abi, error)) {
    return false;
  }
  // Optional: absent when the runner checked no digest (and from older runners).
  if (doc.contains("inputDigest") && !GetString(doc, "inputDigest", &r->input_digest, error)) {
    return false;
  }
  return true;
}

constexpr frame::Format kCaseFormat = {kCaseHeader, kCaseTrailer, kMaxReportJsonBytes, "log"};
constexpr frame::Format kReportFormat = {kReportHeader, kReportTrailer, kMaxReportJsonBytes,
                                         "log"};

// The case frame at the start of `log`, case `index` (0-based) of the log, and its size in
// bytes in *size.
std::optional<CaseReport> ReadCase(std::string_view log, size_t index, size_t* size,
                                   std::string* error) {
  const std::string what = "case frame " + std::to_string(index);
  const std::optional<frame::Frame> framed = frame::Read(log, kCaseFormat, what, error);
  if (!framed) return std::nullopt;
  // 1 for the object; 2 leaves room for a member a newer runner may add.
  const std::optional<json> doc = frame::ParseJson(framed->body, 2, what, error);
  if (!doc) return std::nullopt;
  CaseReport c;
  if (!FillCase(*doc, &c, error)) {
    return Fail(error, what + ": " + (error != nullptr ? *error : std::string())), std::nullopt;
  }
  *size = framed->size;
  return c;
}

}  // namespace

std::string_view LimitName(Limit limit) {
  switch (limit) {
    case Limit::kNone:
      return "";
    case Limit::kTime:
      return "time";
    case Limit::kMemory:
      return "memory";
    case Limit::kTerminated:
      return "terminated";
  }
  return "";
}

namespace {

nlohmann::ordered_json OutcomeJson(const Outcome& r) {
  return {
      {"exitCode", r.exit_code},
      {"signal", r.signal},
      {"wallMillis", r.wall_millis},
      {"cpuMillis", r.cpu_millis},
      {"maxRSSBytes", r.max_rss_bytes},
      {"stdout", SanitizeUtf8(r.stdout_text)},
      {"stderr", SanitizeUtf8(r.stderr_text)},
      {"stdoutTruncated", r.stdout_truncated},
      {"stderrTruncated", r.stderr_truncated},
      {"stdoutBytes", r.stdout_bytes},
      {"stderrBytes", r.stderr_bytes},
      {"limit", std::string(LimitName(r.limit))},
  };
}

std::string Dump(const nlohmann::ordered_json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string FormatCase(const CaseReport& c) {
  nlohmann::ordered_json doc = {{"name", SanitizeUtf8(c.name)}};
  doc.update(OutcomeJson(c));
  return frame::Make(kCaseHeader, Dump(doc), kCaseTrailer);
}

std::string FormatReport(const Report& r) {
  std::string log;
  for (const CaseReport& c : r.tests) log += FormatCase(c);
  nlohmann::ordered_json doc = OutcomeJson(r);
  doc["runnerMessage"] = CutToEncodedSize(r.runner_message, kMaxMessageBytes).text;
  doc["runnerError"] = CutToEncodedSize(r.runner_error, kMaxMessageBytes).text;
  doc["landlockAbi"] = r.landlock_abi;
  if (!r.input_digest.empty()) doc["inputDigest"] = SanitizeUtf8(r.input_digest);
  log += frame::Make(kReportHeader, Dump(doc), kReportTrailer);
  return log;
}

std::optional<Report> ParseReport(std::string_view log, std::string* error) {
  if (log.empty()) return Fail(error, "empty log: no report"), std::nullopt;
  std::vector<CaseReport> cases;
  while (log.starts_with(kCaseHeader)) {
    if (cases.size() == kMaxTestCases) {
      return Fail(error, "more than " + std::to_string(kMaxTestCases) + " case frames"),
             std::nullopt;
    }
    size_t size = 0;
    std::optional<CaseReport> c = ReadCase(log, cases.size(), &size, error);
    if (!c) return std::nullopt;
    cases.push_back(std::move(*c));
    log.remove_prefix(size);
  }
  if (!log.starts_with(kReportHeader)) {
    const std::string after = std::to_string(cases.size()) + " case frames";
    return Fail(error, cases.empty() ? "log does not start with a report header"
                       : log.empty() ? "log ends after " + after + ", without a report"
                                     : "neither a case frame nor the report after " + after),
           std::nullopt;
  }
  const std::optional<frame::Frame> framed = frame::Read(log, kReportFormat, "report", error);
  if (!framed) return std::nullopt;
  if (framed->size < log.size()) {
    return Fail(error, log.substr(framed->size).starts_with(kCaseHeader)
                           ? "a case frame after the report"
                           : "extra data after the report"),
           std::nullopt;
  }
  // 1 for the document; 3 for an older runner's tests array of case objects.
  const std::optional<json> doc = frame::ParseJson(framed->body, 3, "report", error);
  if (!doc) return std::nullopt;
  Report report;
  if (!FillReport(*doc, &report, error)) return std::nullopt;
  if (!cases.empty()) {
    if (doc->contains("tests")) {
      return Fail(error, "report has a tests member after case frames"), std::nullopt;
    }
    report.tests = std::move(cases);
  }
  return report;
}

std::vector<CaseReport> ParseCases(std::string_view log) {
  std::vector<CaseReport> cases;
  while (cases.size() < kMaxTestCases && log.starts_with(kCaseHeader)) {
    size_t size = 0;
    std::optional<CaseReport> c = ReadCase(log, cases.size(), &size, nullptr);
    if (!c) break;
    cases.push_back(std::move(*c));
    log.remove_prefix(size);
  }
  return cases;
}

}  // namespace coderun::api
