#include "plugin/session.h"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <iterator>
#include <sstream>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "api/coderun.h"
#include "common/status_macros.h"
#include "common/time.h"
#include "kube/errors.h"
#include "kube/kubeconfig.h"
#include "plugin/outcome.h"
#include "plugin/tests_file.h"
#include "yaml-cpp/yaml.h"

namespace coderun::plugin {
namespace {

using namespace std::chrono_literals;

constexpr char kKindName[] = "coderun.coderun.dev";  // how kubectl names the kind in output
constexpr int kWatchSeconds = 60;       // a watch is renewed this often (and on any drop)
constexpr auto kRetryPause = 1s;        // between re-reads after a failed watch or read
constexpr int kListPage = 500;
// Cleanup (deleting the run after an interrupt) must not itself be interrupted.
constexpr auto kCleanupTimeout = 30s;

std::string AgeOf(const json& object) {
  const std::optional<std::int64_t> created =
      ParseRfc3339Seconds(StringAt(object, "/metadata/creationTimestamp"));
  if (!created) return "<unknown>";
  const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  const std::int64_t s = std::max<std::int64_t>(0, now - *created);
  // kubectl's shape: 45s, 3m12s, 25m, 5h, 3d.
  if (s < 120) return absl::StrCat(s, "s");
  if (s < 600) return absl::StrCat(s / 60, "m", s % 60 ? absl::StrCat(s % 60, "s") : "");
  if (s < 3 * 3600) return absl::StrCat(s / 60, "m");
  if (s < 48 * 3600) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

std::string ExitColumn(const json& run) {
  if (!run.contains(json::json_pointer("/status/exitCode"))) return "";
  return std::to_string(IntAt(run, "/status/exitCode"));
}

// What kubectl prints: no managedFields.
json ForPrinting(json object) {
  if (auto meta = object.find("metadata"); meta != object.end() && meta->is_object()) {
    meta->erase("managedFields");
  }
  return object;
}

bool NeedsQuotes(const std::string& s) {
  if (s.empty()) return true;
  // Anything YAML would read back as another type (numbers, booleans, null, dates).
  try {
    const YAML::Node node = YAML::Load(s);
    if (!node.IsScalar() || node.Scalar() != s) return true;
    if (node.Tag() == "!") return false;
    int i;
    double d;
    bool b;
    if (YAML::convert<int>::decode(node, i) || YAML::convert<double>::decode(node, d) ||
        YAML::convert<bool>::decode(node, b)) {
      return true;
    }
    static const char* const kSpecial[] = {"~", "null", "Null", "NULL"};
    return std::find(std::begin(kSpecial), std::end(kSpecial), s) != std::end(kSpecial);
  } catch (const YAML::Exception&) {
    return true;
  }
}

void EmitYaml(YAML::Emitter& out, const json& v) {
  if (v.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, value] : v.items()) {
      out << YAML::Key << key << YAML::Value;
      EmitYaml(out, value);
    }
    out << YAML::EndMap;
  } else if (v.is_array()) {
    out << YAML::BeginSeq;
    for (const json& item : v) EmitYaml(out, item);
    out << YAML::EndSeq;
  } else if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s.find('\n') != std::string::npos) {
      out << YAML::Literal << s;
    } else if (NeedsQuotes(s)) {
      out << YAML::DoubleQuoted << s;
    } else {
      out << s;
    }
  } else if (v.is_boolean()) {
    out << (v.get<bool>() ? "true" : "false");
  } else if (v.is_null()) {
    out << YAML::Null;
  } else {
    out << v.dump();  // numbers exactly as JSON writes them
  }
}

}  // namespace

std::string GenerateNameFor(const std::string& file) {
  std::string stem = file.substr(file.find_last_of('/') + 1);
  if (const size_t dot = stem.find_last_of('.'); dot != std::string::npos && dot > 0) {
    stem.resize(dot);
  }
  std::string name;
  for (char c : absl::AsciiStrToLower(stem)) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (ok) {
      name += c;
    } else if (!name.empty() && name.back() != '-') {
      name += '-';
    }
  }
  if (name.size() > 40) name.resize(40);
  while (!name.empty() && name.back() == '-') name.pop_back();
  return (name.empty() ? std::string("run") : name) + "-";
}

std::string ToYaml(const json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  EmitYaml(out, value);
  return std::string(out.c_str()) + "\n";
}

Session::Session(kube::Client& client, Target target, Io io, Context interrupted)
    : client_(client), target_(std::move(target)), io_(std::move(io)),
      interrupted_(std::move(interrupted)) {}

int Session::Execute(const Invocation& inv) {
  switch (inv.command) {
    case Command::kRun: return Run(inv);
    case Command::kGet: return Get(inv);
    case Command::kLogs: return Logs(inv);
    case Command::kWait: return Wait(inv);
    case Command::kDelete: return Delete(inv);
  }
  return 1;
}

std::string Session::Describe(const absl::Status& status) const {
  if (absl::IsCancelled(status)) return "interrupted";
  const std::optional<kube::ApiErrorInfo> info = kube::ApiErrorOf(status);
  if (!info) {
    if (absl::IsDeadlineExceeded(status)) {
      return absl::StrCat("the API server at ", target_.server, " did not answer in time: ",
                          status.message());
    }
    return absl::StrCat("cannot reach the API server at ", target_.server, ": ",
                        status.message());
  }
  switch (info->http_code) {
    case 401:
      return absl::StrCat("the API server at ", target_.server,
                          " refused your credentials (401 Unauthorized): ", info->message);
    case 403:
      if (kube::IsQuotaExceeded(status)) return info->message;
      return absl::StrCat(info->message, " (CodeRuns need the coderun-edit role, or edit, in the namespace)");
    case 404:
      if (info->details_kind.empty()) {
        return "the CodeRun API (coderun.dev/v1alpha1) is not installed on this cluster; "
               "install coderun first (see its README)";
      }
      if (info->details_kind == "namespaces") {
        return absl::StrCat("namespace \"", info->details_name, "\" not found");
      }
      return absl::StrCat(kKindName, " \"", info->details_name, "\" not found in namespace \"",
                          target_.ns, "\"");
    case 422:
      return absl::StrCat("the API server refused the CodeRun: ", info->message);
    default:
      return info->message.empty() ? std::string(status.message()) : info->message;
  }
}

int Session::Fail(const absl::Status& status, int exit_code) {
  ClearProgress();
  io_.err << "error: " << Describe(status) << "\n";
  return exit_code;
}

absl::StatusOr<json> Session::BuildCodeRun(const RunSpec& spec) {
  absl::StatusOr<std::string> code = kube::ReadFileToString(spec.file);
  if (!code.ok()) return code.status();
  std::string input;
  std::optional<json> judge;
  if (!spec.tests_file.empty()) {
    absl::StatusOr<json> read = ReadTestsFile(spec.tests_file);
    if (!read.ok()) return read.status();
    judge = *std::move(read);
  }
  // A judge run's cases carry their own stdin; ours is never read then.
  const bool from_ours =
      !judge && (spec.stdin_file ? *spec.stdin_file == "-" : !io_.in_is_tty);
  if (from_ours) {
    input.assign(std::istreambuf_iterator<char>(io_.in), std::istreambuf_iterator<char>());
  } else if (spec.stdin_file) {
    absl::StatusOr<std::string> read = kube::ReadFileToString(*spec.stdin_file);
    if (!read.ok()) return read.status();
    input = *std::move(read);
  }
  json run = {{"apiVersion", "coderun.dev/v1alpha1"},
              {"kind", "CodeRun"},
              {"metadata", json::object()},
              {"spec", {{"code", *std::move(code)}}}};
  if (!spec.name.empty()) {
    run["metadata"]["name"] = spec.name;
  } else {
    run["metadata"]["generateName"] =
        spec.generate_name.empty() ? GenerateNameFor(spec.file) : spec.generate_name;
  }
  json& s = run["spec"];
  if (!input.empty()) s["stdin"] = std::move(input);
  if (!spec.args.empty()) s["args"] = spec.args;
  json limits = json::object();
  if (spec.timeout_seconds) limits["timeoutSeconds"] = *spec.timeout_seconds;
  if (spec.cpu) limits["cpu"] = *spec.cpu;
  if (spec.memory) limits["memory"] = *spec.memory;
  if (spec.pids) limits["pids"] = *spec.pids;
  if (spec.output_bytes) limits["outputBytes"] = *spec.output_bytes;
  if (!limits.empty()) s["limits"] = std::move(limits);
  if (judge) s.update(*judge);
  return run;
}

int Session::Run(const Invocation& inv) {
  absl::StatusOr<json> built = BuildCodeRun(inv.run);
  if (!built.ok()) {
    io_.err << "error: " << built.status().message() << "\n";
    return kExitCouldNotRun;
  }
  if (interrupted_.cancelled()) return kExitInterrupted;
  if (io_.on_commit) io_.on_commit();
  // Not interruptible: once the request is out, only its answer says what to clean up.
  absl::StatusOr<json> created = client_.Create(Context().WithTimeout(kube::kRequestTimeout),
                                                kube::kCodeRuns, target_.ns, *built);
  if (!created.ok()) {
    return Fail(created.status(), kube::IsInvalid(created.status()) ? kExitInvalidSpec
                                                                    : kExitCouldNotRun);
  }
  const std::string name = StringAt(*created, "/metadata/name");
  auto cleanup = [&] {
    if (inv.run.keep) return;
    const absl::Status deleted = client_.Delete(Context().WithTimeout(kCleanupTimeout),
                                                kube::kCodeRuns, target_.ns, name);
    if (!deleted.ok() && !kube::IsNotFound(deleted)) {
      io_.err << "coderun: could not delete CodeRun " << name << ": " << Describe(deleted) << "\n";
    }
  };

  absl::StatusOr<json> finished = WaitFinished(*std::move(created), interrupted_);
  if (!finished.ok()) {
    ClearProgress();
    if (absl::IsCancelled(finished.status())) {
      cleanup();
      io_.err << "coderun: interrupted; CodeRun " << name << (inv.run.keep ? " kept" : " deleted")
              << "\n";
      return kExitInterrupted;
    }
    const int code = Fail(finished.status(), kExitCouldNotRun);
    if (!kube::IsNotFound(finished.status())) cleanup();
    return code;
  }
  if (inv.output == OutputFormat::kText) {
    PrintOutput(*finished);
  } else {
    PrintObject(*finished, inv.output);
  }
  cleanup();
  return ExitCodeFor(*finished);
}

absl::StatusOr<json> Session::WaitFinished(json run, const Context& ctx) {
  const std::string name = StringAt(run, "/metadata/name");
  while (true) {
    if (IsFinished(run)) {
      ClearProgress();
      return run;
    }
    Progress(run);
    kube::WatchOptions options;
    options.field_selector = "metadata.name=" + name;
    options.resource_version = StringAt(run, "/metadata/resourceVersion");
    options.timeout_seconds = kWatchSeconds;
    bool deleted = false;
    absl::Status watch_error;
    const absl::Status watched = client_.Watch(
        ctx, kube::kCodeRuns, target_.ns, options, [&](kube::WatchEvent&& event) {
          if (event.type == "ERROR") {
            watch_error = kube::ApiError(static_cast<int>(event.object.value("code", 500)),
                                         event.object.dump());
            return false;
          }
          if (event.type == "BOOKMARK" || StringAt(event.object, "/metadata/name") != name) {
            return true;
          }
          if (event.type == "DELETED") {
            deleted = true;
            return false;
          }
          run = std::move(event.object);
          if (IsFinished(run)) return false;
          Progress(run);
          return true;
        });
    if (IsFinished(run)) continue;
    if (deleted) {
      return absl::NotFoundError(absl::StrCat("CodeRun ", name, " was deleted before it finished"));
    }
    RETURN_IF_ERROR(ctx.Err());
    absl::Status failure = watched.ok() ? watch_error : watched;
    // Not allowed, or not there: waiting longer does not help.
    if (!failure.ok() && (kube::IsForbidden(failure) || kube::IsNotFound(failure))) {
      return failure;
    }
    if (!failure.ok() && !ctx.SleepFor(kRetryPause)) RETURN_IF_ERROR(ctx.Err());
    // Whatever ended the watch (its timeout, 410 Gone, a dropped connection), the object as
    // it is now is the next starting point.
    absl::StatusOr<json> now = client_.Get(ctx, kube::kCodeRuns, target_.ns, name);
    if (now.ok()) {
      run = *std::move(now);
    } else if (kube::IsNotFound(now.status())) {
      return absl::NotFoundError(absl::StrCat("CodeRun ", name, " was deleted before it finished"));
    } else if (!kube::IsTransient(now.status())) {
      return now.status();
    } else if (!ctx.SleepFor(kRetryPause)) {
      RETURN_IF_ERROR(ctx.Err());
    }
  }
}

void Session::PrintOutput(const json& run) {
  if (run.contains(json::json_pointer("/status/testsTotal"))) {
    io_.out << VerdictTable(run);
    io_.out.flush();
    if (const std::string note = EndingNote(run); !note.empty()) {
      io_.err << "coderun: " << note << "\n";
    }
    return;
  }
  io_.out << StringAt(run, "/status/stdout");
  io_.out.flush();
  io_.err << StringAt(run, "/status/stderr");
  const long long kept = IntAt(run, "/spec/limits/outputBytes", api::kDefaultOutputBytes);
  if (BoolAt(run, "/status/stdoutTruncated")) {
    io_.err << "\ncoderun: stdout was cut at " << kept << " bytes (--output-bytes)\n";
  }
  if (BoolAt(run, "/status/stderrTruncated")) {
    io_.err << "\ncoderun: stderr was cut at " << kept << " bytes (--output-bytes)\n";
  }
  if (const std::string note = EndingNote(run); !note.empty()) {
    io_.err << "coderun: " << note << "\n";
  }
  io_.err.flush();
}

void Session::PrintObject(const json& object, OutputFormat format) {
  if (format == OutputFormat::kYaml) {
    io_.out << ToYaml(ForPrinting(object));
  } else {
    io_.out << ForPrinting(object).dump(4, ' ', false, json::error_handler_t::replace) << "\n";
  }
  io_.out.flush();
}

void Session::Progress(const json& run) {
  if (!io_.err_is_tty) return;
  std::string line = ProgressLine(run);
  if (line.empty()) line = "created";
  io_.err << "\r\033[K" << "coderun: " << StringAt(run, "/metadata/name") << ": " << line;
  io_.err.flush();
  progress_shown_ = true;
}

void Session::ClearProgress() {
  if (!progress_shown_) return;
  io_.err << "\r\033[K";
  io_.err.flush();
  progress_shown_ = false;
}

int Session::Get(const Invocation& inv) {
  const Context ctx = interrupted_;
  const std::string ns = inv.connection.all_namespaces ? "" : target_.ns;
  std::vector<json> runs;
  int failed = 0;
  if (!inv.names.empty()) {
    for (const std::string& name : inv.names) {
      absl::StatusOr<json> run = client_.Get(ctx, kube::kCodeRuns, ns, name);
      if (!run.ok()) {
        Fail(run.status(), 1);
        ++failed;
        continue;
      }
      runs.push_back(*std::move(run));
    }
  } else {
    kube::ListOptions options;
    options.limit = kListPage;
    do {
      absl::StatusOr<json> page = client_.List(ctx, kube::kCodeRuns, ns, options);
      if (!page.ok()) return Fail(page.status(), 1);
      for (json& item : (*page)["items"]) runs.push_back(std::move(item));
      options.continue_token = StringAt(*page, "/metadata/continue");
    } while (!options.continue_token.empty());
  }
  if (inv.output != OutputFormat::kText) {
    if (inv.names.size() == 1) {
      if (!runs.empty()) PrintObject(runs.front(), inv.output);
    } else {
      json list = {{"apiVersion", "v1"}, {"kind", "List"}, {"items", json::array()}};
      for (json& run : runs) {
        run["apiVersion"] = "coderun.dev/v1alpha1";
        run["kind"] = "CodeRun";
        list["items"].push_back(ForPrinting(std::move(run)));
      }
      PrintObject(list, inv.output);
    }
    return failed ? 1 : 0;
  }
  if (runs.empty()) {
    if (inv.names.empty()) {
      io_.err << (inv.connection.all_namespaces
                      ? std::string("No CodeRuns found.")
                      : absl::StrCat("No CodeRuns found in namespace ", target_.ns, "."))
              << "\n";
    }
    return failed ? 1 : 0;
  }
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"NAME", "PHASE", "REASON", "EXIT", "AGE"};
  if (inv.connection.all_namespaces) header.insert(header.begin(), "NAMESPACE");
  rows.push_back(std::move(header));
  for (const json& run : runs) {
    std::vector<std::string> row = {StringAt(run, "/metadata/name"),
                                    StringAt(run, "/status/phase"),
                                    StringAt(run, "/status/reason"), ExitColumn(run), AgeOf(run)};
    if (inv.connection.all_namespaces) {
      row.insert(row.begin(), StringAt(run, "/metadata/namespace"));
    }
    rows.push_back(std::move(row));
  }
  io_.out << FormatTable(rows);
  return failed ? 1 : 0;
}

int Session::Logs(const Invocation& inv) {
  const std::string& name = inv.names.front();
  absl::StatusOr<json> run = client_.Get(interrupted_, kube::kCodeRuns, target_.ns, name);
  if (!run.ok()) return Fail(run.status(), 1);
  if (!IsFinished(*run)) {
    const std::string phase = StringAt(*run, "/status/phase");
    io_.err << "error: CodeRun " << name << " has not finished ("
            << (phase.empty() ? "not started" : phase)
            << "); `kubectl coderun wait " << name << "` waits for it\n";
    return 1;
  }
  PrintOutput(*run);
  return 0;
}

int Session::Wait(const Invocation& inv) {
  const std::string& name = inv.names.front();
  Context ctx = interrupted_;
  if (inv.wait_timeout_seconds) {
    ctx = ctx.WithTimeout(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(*inv.wait_timeout_seconds)));
  }
  absl::StatusOr<json> run = client_.Get(ctx, kube::kCodeRuns, target_.ns, name);
  if (run.ok()) run = WaitFinished(*std::move(run), ctx);
  if (!run.ok()) {
    if (absl::IsCancelled(run.status())) return kExitInterrupted;
    if (ctx.Err().code() == absl::StatusCode::kDeadlineExceeded) {
      ClearProgress();
      io_.err << "error: timed out waiting for CodeRun " << name << " to finish\n";
      return kExitCouldNotRun;
    }
    return Fail(run.status(), kExitCouldNotRun);
  }
  if (inv.output != OutputFormat::kText) {
    PrintObject(*run, inv.output);
  } else {
    const std::string reason = StringAt(*run, "/status/reason");
    io_.out << kKindName << "/" << name << " " << StringAt(*run, "/status/phase") << " ("
            << reason;
    if (run->contains(json::json_pointer("/status/exitCode"))) {
      io_.out << ", exit " << IntAt(*run, "/status/exitCode");
    }
    io_.out << ")\n";
    if (const std::string note = EndingNote(*run); !note.empty()) {
      io_.err << "coderun: " << note << "\n";
    }
  }
  return ExitCodeFor(*run);
}

int Session::Delete(const Invocation& inv) {
  int failed = 0;
  for (const std::string& name : inv.names) {
    const absl::Status deleted = client_.Delete(interrupted_, kube::kCodeRuns, target_.ns, name);
    if (!deleted.ok()) {
      Fail(deleted, 1);
      ++failed;
      continue;
    }
    io_.out << kKindName << " \"" << name << "\" deleted\n";
  }
  return failed ? 1 : 0;
}

}  // namespace coderun::plugin
