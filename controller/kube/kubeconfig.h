// Where the API server is and how to authenticate to it: from a kubeconfig file or from the
// service account of the Pod the controller runs in. TLS is always verified.
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace coderun::kube {

struct RestConfig {
  std::string server;           // "https://host:port" (optionally with a path prefix)
  std::string ca_pem;           // trusted CAs; empty = the system's CAs
  std::string client_cert_pem;  // client certificate (chain), with client_key_pem
  std::string client_key_pem;
  std::string bearer_token;     // static token (used when token_file is empty)
  std::string token_file;       // re-read periodically: service account tokens rotate
  std::string namespace_;       // the context's namespace, "default" when unset
  // Never true: configurations asking for insecure-skip-tls-verify are refused.
  bool insecure = false;
};

// Loads `path` (kubeconfig YAML) for `context`, or its current-context when empty.
// Certificate and token file paths are relative to the kubeconfig's directory. Certificates
// and keys are read and parsed now, so a bad file fails here. Every error is
// InvalidArgument (NotFound when `path` does not exist) with a one-line message naming the
// file and what is wrong, e.g. `kubeconfig /x/y: context "foo" not found`.
absl::StatusOr<RestConfig> LoadKubeconfig(const std::string& path, const std::string& context = "");

// The Pod's service account: KUBERNETES_SERVICE_HOST/PORT and
// /var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}. FailedPrecondition
// when not running in a cluster; token_file is kept so the token is re-read on rotation.
// An IPv6 service host becomes https://kubernetes.default.svc:<port> (see kubeconfig.cc).
absl::StatusOr<RestConfig> InClusterConfig();

// InClusterConfig with the environment and the directory given (for tests).
absl::StatusOr<RestConfig> InClusterConfigFrom(const std::string& host, const std::string& port,
                                               const std::string& serviceaccount_dir);

// Reads a whole file; the error message is "<path>: <strerror>".
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace coderun::kube
