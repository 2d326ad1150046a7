// What each `kubectl coderun` command does, against a kube::Client: run a file and wait for
// its verdict, list runs, print a finished run's output, wait for one, delete some.
//
//   Session session(client, {.ns = "team-a", .server = config.server}, io, interrupted);
//   return session.Execute(invocation);   // the process's exit status
//
// Everything the user sees goes through Io, so tests drive a Session with string streams
// and a fake client. Errors are one line on Io::err, as kubectl prints them.
#pragma once

#include <functional>
#include <istream>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "common/context.h"
#include "kube/client.h"
#include "plugin/options.h"

namespace coderun::plugin {

using json = nlohmann::json;

struct Io {
  std::ostream& out;
  std::ostream& err;
  std::istream& in;
  bool err_is_tty = false;   // progress lines ("Pending: Queued (position 3)") only then
  bool in_is_tty = true;     // our stdin becomes the program's only when it is not a terminal
  // Called once, just before a CodeRun is created: from then on an interrupt must not end
  // the process before the run is cleaned up (main.cc exits at once before this).
  std::function<void()> on_commit;
};

struct Target {
  std::string ns;      // the namespace commands act in (ignored by get -A)
  std::string server;  // the API server's URL, for "cannot reach" messages
};

class Session {
 public:
  // `interrupted` is cancelled on Ctrl-C (SIGINT, SIGTERM, SIGHUP).
  Session(kube::Client& client, Target target, Io io, Context interrupted);

  // Runs the command; returns the exit status (outcome.h for run and wait; 0 or 1 for the
  // others, as kubectl).
  int Execute(const Invocation& invocation);

  // One line saying what went wrong with an API call, in the user's terms: the CodeRun API
  // is not installed, the namespace does not exist, no permission (and which role gives it),
  // the server cannot be reached.
  std::string Describe(const absl::Status& status) const;

 private:
  int Run(const Invocation& inv);
  int Get(const Invocation& inv);
  int Logs(const Invocation& inv);
  int Wait(const Invocation& inv);
  int Delete(const Invocation& inv);

  // The CodeRun `run` creates: code, stdin, args and the limits given.
  absl::StatusOr<json> BuildCodeRun(const RunSpec& spec);
  // Follows `run` (as read) with a watch until it is finished; re-reads it whenever the
  // watch ends. NotFound when it is deleted first; ctx's error when ctx ends.
  absl::StatusOr<json> WaitFinished(json run, const Context& ctx);
  // The program's stdout and stderr to ours, then a "coderun: ..." line for truncation and
  // for endings the program did not choose.
  void PrintOutput(const json& run);
  void PrintObject(const json& object, OutputFormat format);
  void Progress(const json& run);
  void ClearProgress();
  // Prints "error: <Describe(status)>"; returns `exit_code`.
  int Fail(const absl::Status& status, int exit_code);

  kube::Client& client_;
  const Target target_;
  Io io_;
  const Context interrupted_;
  bool progress_shown_ = false;
};

// A name prefix from a file name: "Hello_World.py" -> "hello-world-" (DNS-1123, at most 40
// characters before the dash; "run-" when nothing is left).
std::string GenerateNameFor(const std::string& file);

// JSON as YAML, the way kubectl -o yaml prints objects (strings that would read back as
// something else are quoted; multi-line strings as literal blocks).
std::string ToYaml(const json& value);

}  // namespace coderun::plugin
