// The command line of kubectl-coderun: `kubectl coderun run|get|logs|wait|delete ...`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace coderun::plugin {

enum class Command { kRun, kGet, kLogs, kWait, kDelete };
enum class OutputFormat { kText, kJson, kYaml };

// Where the cluster is: kubectl's own flags, with kubectl's defaults ($KUBECONFIG, then
// ~/.kube/config; the context's namespace).
struct Connection {
  std::string kubeconfig;  // --kubeconfig; empty: $KUBECONFIG, then ~/.kube/config
  std::string context;     // --context; empty: the current context
  std::string ns;          // -n/--namespace; empty: the context's namespace
  bool all_namespaces = false;  // -A (get only)
};

// `run FILE.py [-- ARGS...]`: what the new CodeRun says. Limits left unset get the CRD's
// defaults.
struct RunSpec {
  std::string file;                        // the program; "-" is not allowed (stdin is input)
  std::vector<std::string> args;           // sys.argv[1:]
  // --stdin FILE, or "-" for this process's stdin. Unset: this process's stdin when it is
  // not a terminal, else none.
  std::optional<std::string> stdin_file;
  std::optional<std::int64_t> timeout_seconds;
  std::optional<std::string> cpu;
  std::optional<std::string> memory;
  std::optional<std::int64_t> pids;
  std::optional<std::int64_t> output_bytes;
  std::string name;           // --name; else generateName
  std::string generate_name;  // --generate-name; default "<file's stem>-"
  bool keep = false;          // --keep: leave the CodeRun when done or interrupted
  // --tests FILE.yaml: judge mode (docs/judge-mode.md); the cases carry their own stdin.
  std::string tests_file;
};

struct Invocation {
  Command command = Command::kRun;
  Connection connection;
  OutputFormat output = OutputFormat::kText;  // -o json|yaml
  RunSpec run;
  std::vector<std::string> names;             // get [NAME], logs/wait NAME, delete NAME...
  std::optional<double> wait_timeout_seconds;  // wait --timeout; none: as long as it takes
};

// Parses argv (argv[0] is the program). --help (anywhere) gives Cancelled whose message is
// the help text to print; anything wrong gives InvalidArgument with one line.
absl::StatusOr<Invocation> ParseArgs(int argc, const char* const* argv);

}  // namespace coderun::plugin
