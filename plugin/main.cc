// kubectl-coderun: `kubectl coderun run hello.py` runs a Python file as a CodeRun and
// behaves like `python hello.py` (its stdout, stderr and exit status); docs/kubectl-plugin.md.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "absl/strings/str_split.h"
#include "common/log.h"
#include "kube/config_client.h"
#include "kube/http_client.h"
#include "kube/kubeconfig.h"
#include "plugin/options.h"
#include "plugin/outcome.h"
#include "plugin/session.h"

namespace {

using namespace coderun;

constexpr char kName[] = "kubectl-coderun";

// kubectl's order: --kubeconfig; else each file in $KUBECONFIG (the first that exists);
// else ~/.kube/config; else the Pod's service account.
absl::StatusOr<kube::RestConfig> LoadConfig(const plugin::Connection& c) {
  if (!c.kubeconfig.empty()) return kube::LoadKubeconfig(c.kubeconfig, c.context);
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    absl::Status first;
    for (absl::string_view path : absl::StrSplit(env, ':', absl::SkipEmpty())) {
      absl::StatusOr<kube::RestConfig> config = kube::LoadKubeconfig(std::string(path), c.context);
      if (config.ok() || !absl::IsNotFound(config.status())) return config;
      if (first.ok()) first = config.status();
    }
    return first.ok() ? absl::NotFoundError("$KUBECONFIG names no file") : first;
  }
  if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    absl::StatusOr<kube::RestConfig> config =
        kube::LoadKubeconfig(std::string(home) + "/.kube/config", c.context);
    if (!absl::IsNotFound(config.status())) return config;
  }
  absl::StatusOr<kube::RestConfig> in_cluster = kube::InClusterConfig();
  if (!in_cluster.ok()) {
    return absl::NotFoundError(
        "no kubeconfig: pass --kubeconfig, set $KUBECONFIG or write ~/.kube/config");
  }
  return in_cluster;
}

int Main(int argc, char** argv) {
  // Signals go to one thread, which cancels what the session is doing: a run in flight is
  // deleted before the process exits. Blocked before any other thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Writing to a closed pipe (`... | head`) is an error on the stream, not a death.
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<plugin::Invocation> invocation = plugin::ParseArgs(argc, argv);
  if (!invocation.ok()) {
    if (absl::IsCancelled(invocation.status())) {
      std::cout << invocation.status().message();
      return 0;
    }
    std::cerr << "error: " << invocation.status().message() << "\n";
    return plugin::kExitCouldNotRun;
  }
  const bool runs = invocation->command == plugin::Command::kRun ||
                    invocation->command == plugin::Command::kWait;
  const int failed = runs ? plugin::kExitCouldNotRun : 1;
  log::Configure(log::Format::kText, log::Level::kError);

  absl::StatusOr<kube::RestConfig> config = LoadConfig(invocation->connection);
  if (!config.ok()) {
    std::cerr << "error: " << config.status().message() << "\n";
    return failed;
  }
  absl::StatusOr<std::unique_ptr<kube::Transport>> transport = kube::NewTransportForConfig(*config);
  if (!transport.ok()) {
    std::cerr << "error: " << transport.status().message() << "\n";
    return failed;
  }
  kube::ClientOptions client_options;
  client_options.qps = 0;  // one user's few requests
  client_options.field_manager = kName;
  client_options.user_agent = kName;
  std::unique_ptr<kube::Client> client =
      kube::NewClient(std::shared_ptr<kube::Transport>(*std::move(transport)), client_options);

  CancelSource interrupt;
  static std::atomic<bool> committed{false};
  std::thread([signals, &interrupt] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    // Before a CodeRun exists there is nothing to clean up (we may be blocked reading stdin).
    if (!committed.load()) _exit(plugin::kExitInterrupted);
    interrupt.Cancel();
    sigwait(&signals, &signal_number);  // a second one: leave now
    _exit(plugin::kExitInterrupted);
  }).detach();

  plugin::Target target;
  target.ns = invocation->connection.ns.empty() ? config->namespace_ : invocation->connection.ns;
  target.server = config->server;
  plugin::Io io{std::cout, std::cerr, std::cin};
  io.err_is_tty = isatty(STDERR_FILENO) == 1;
  io.in_is_tty = isatty(STDIN_FILENO) == 1;
  io.on_commit = [] { committed.store(true); };
  if (invocation->command != plugin::Command::kRun) committed.store(true);
  plugin::Session session(*client, target, io, interrupt.context());
  const int code = session.Execute(*invocation);
  std::cout.flush();
  std::cerr.flush();
  // The signal thread may still wait; leave without unwinding the objects it points to.
  _exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  return Main(argc, argv);
}
