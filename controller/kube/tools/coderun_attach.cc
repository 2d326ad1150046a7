// coderun-attach: a test tool. Writes its stdin to a container's stdin through
// kube::Client::AttachStdin (pods/attach over a WebSocket) and exits 0, or prints the one-line
// error and exits 1. tests/e2e/test_attach.py drives it against the real cluster.
//
//   coderun-attach --kubeconfig=FILE NAMESPACE POD CONTAINER < data
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <string>

#include "CLI/CLI.hpp"
#include "kube/client.h"
#include "kube/config_client.h"
#include "kube/http_client.h"
#include "kube/kubeconfig.h"

namespace {

using namespace coderun;

int Fail(const absl::Status& status) {
  std::cerr << "coderun-attach: " << status.message() << "\n";
  return 1;
}

int Main(int argc, char** argv) {
  std::string kubeconfig, context, ns, pod, container;
  int timeout_seconds = 30;
  CLI::App app{"Writes stdin to a container's stdin through pods/attach, then closes it.",
               "coderun-attach"};
  app.add_option("--kubeconfig", kubeconfig, "kubeconfig file (default $KUBECONFIG)");
  app.add_option("--context", context, "kubeconfig context (default: the current one)");
  app.add_option("--timeout", timeout_seconds, "seconds for the whole attach (at most 30)")
      ->check(CLI::PositiveNumber);
  app.add_option("namespace", ns)->required();
  app.add_option("pod", pod)->required();
  app.add_option("container", container)->required();
  CLI11_PARSE(app, argc, argv);

  signal(SIGPIPE, SIG_IGN);  // a connection the server dropped is an error, not a death
  if (kubeconfig.empty()) {
    const char* env = std::getenv("KUBECONFIG");
    if (env == nullptr || *env == '\0') {
      return Fail(absl::InvalidArgumentError("no kubeconfig: pass --kubeconfig or set KUBECONFIG"));
    }
    kubeconfig = env;
  }
  absl::StatusOr<kube::RestConfig> config = kube::LoadKubeconfig(kubeconfig, context);
  if (!config.ok()) return Fail(config.status());
  absl::StatusOr<std::unique_ptr<kube::Transport>> transport = kube::NewTransportForConfig(*config);
  if (!transport.ok()) return Fail(transport.status());
  std::unique_ptr<kube::Client> client = kube::NewClient(*std::move(transport));

  std::string data(std::istreambuf_iterator<char>(std::cin), {});
  if (std::cin.bad()) return Fail(absl::DataLossError("reading stdin failed"));
  const Context ctx = Context().WithTimeout(std::chrono::seconds(timeout_seconds));
  absl::Status attached = client->AttachStdin(ctx, ns, pod, container, data);
  return attached.ok() ? 0 : Fail(attached);
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  return Main(argc, argv);
}
