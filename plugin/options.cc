#include "plugin/options.h"

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"

namespace coderun::plugin {
namespace {

constexpr char kDescription[] =
    "kubectl coderun: run a Python file on the cluster as a CodeRun (coderun.dev/v1alpha1), as "
    "`python FILE.py` would run it here.\n\n"
    "Exit status of run and wait: the program's own (0-123); 124 time limit exceeded; 125 the "
    "run could not be run (platform failure such as PodFailed or QueueTimeout, the API "
    "unreachable, no permission, bad flags); 126 invalid spec; 128+N killed by signal N "
    "(137: memory limit exceeded); 130 interrupted (Ctrl-C). With --tests: 0 when every case "
    "is Accepted, 1 when not.";

// --kubeconfig, --context, -n (and -A, -o where they mean something) on each subcommand, as
// kubectl takes them.
void AddConnectionFlags(CLI::App* app, Invocation& inv, std::string* output,
                        bool all_namespaces = false) {
  Connection& c = inv.connection;
  app->add_option("--kubeconfig", c.kubeconfig, "kubeconfig file (default $KUBECONFIG, ~/.kube/config)");
  app->add_option("--context", c.context, "kubeconfig context (default: the current one)");
  app->add_option("-n,--namespace", c.ns, "namespace (default: the context's)");
  if (all_namespaces) app->add_flag("-A,--all-namespaces", c.all_namespaces, "every namespace");
  if (output != nullptr) {
    app->add_option("-o,--output", *output, "json or yaml: print the CodeRun instead")
        ->check(CLI::IsMember({"json", "yaml"}));
  }
}

}  // namespace

absl::StatusOr<Invocation> ParseArgs(int argc, const char* const* argv) {
  Invocation inv;
  std::string output;
  RunSpec& r = inv.run;

  CLI::App app{kDescription, "kubectl coderun"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "help for every command");

  CLI::App* run = app.add_subcommand(
      "run", "run FILE.py; its stdout and stderr become ours, its exit status ours");
  run->add_option("file", r.file, "the Python program")->required()->check(CLI::ExistingFile);
  run->add_option("args", r.args, "the program's arguments, after --");
  run->add_option("--stdin", r.stdin_file,
                  "the program's stdin: FILE or - (default: ours when it is not a terminal)");
  run->add_option("--timeout", r.timeout_seconds, "wall-clock limit in seconds (default 10)")
      ->check(CLI::PositiveNumber);
  run->add_option("--cpu", r.cpu, "cpu limit, e.g. 1 or 500m (default 1)");
  run->add_option("--memory", r.memory, "memory limit, e.g. 256Mi (default 256Mi)");
  run->add_option("--pids", r.pids, "process limit (default 50)")->check(CLI::PositiveNumber);
  run->add_option("--output-bytes", r.output_bytes,
                  "bytes of stdout and of stderr kept (default 65536)")
      ->check(CLI::NonNegativeNumber);
  CLI::Option* name = run->add_option("--name", r.name, "the CodeRun's name");
  run->add_option("--generate-name", r.generate_name,
                  "name prefix (default: the file's name and a dash)")
      ->excludes(name);
  run->add_flag("--keep", r.keep, "keep the CodeRun when done or interrupted (default: delete it)");
  run->add_option("--tests", r.tests_file,
                  "judge mode: a YAML file of test cases (a list, or tests:, compare:, "
                  "stopOnFirstFailure:); prints a verdict per case")
      ->check(CLI::ExistingFile)
      ->excludes("--stdin");
  AddConnectionFlags(run, inv, &output);

  CLI::App* get = app.add_subcommand("get", "list CodeRuns, or show one");
  get->add_option("name", inv.names, "CodeRun names");
  AddConnectionFlags(get, inv, &output, /*all_namespaces=*/true);

  CLI::App* logs = app.add_subcommand("logs", "print a finished run's stdout and stderr");
  logs->add_option("name", inv.names, "CodeRun name")->required()->expected(1);
  AddConnectionFlags(logs, inv, nullptr);

  CLI::App* wait = app.add_subcommand(
      "wait", "wait until a run finishes; exit with its status (as run does)");
  wait->add_option("name", inv.names, "CodeRun name")->required()->expected(1);
  wait->add_option("--timeout", inv.wait_timeout_seconds,
                   "give up after this many seconds (exit 125); default: wait as long as it takes")
      ->check(CLI::PositiveNumber);
  AddConnectionFlags(wait, inv, &output);

  CLI::App* del = app.add_subcommand("delete", "delete CodeRuns (their Pods go with them)");
  del->add_option("name", inv.names, "CodeRun names")->required();
  AddConnectionFlags(del, inv, nullptr);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    CLI::App* which = &app;
    for (CLI::App* sub : app.get_subcommands()) which = sub;
    return absl::CancelledError(which->help());
  } catch (const CLI::CallForAllHelp&) {
    return absl::CancelledError(app.help("", CLI::AppFormatMode::All));
  } catch (const CLI::ParseError& e) {
    return absl::InvalidArgumentError(e.what());
  }

  if (run->parsed()) inv.command = Command::kRun;
  if (get->parsed()) inv.command = Command::kGet;
  if (logs->parsed()) inv.command = Command::kLogs;
  if (wait->parsed()) inv.command = Command::kWait;
  if (del->parsed()) inv.command = Command::kDelete;
  if (output == "json") inv.output = OutputFormat::kJson;
  if (output == "yaml") inv.output = OutputFormat::kYaml;
  if (inv.connection.all_namespaces && !inv.names.empty()) {
    return absl::InvalidArgumentError("get: a NAME and --all-namespaces do not go together");
  }
  return inv;
}

}  // namespace coderun::plugin
