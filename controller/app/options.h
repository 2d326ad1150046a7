// Command-line flags of coderun-controller.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/log.h"
#include "kube/config_client.h"
#include "reconcile/settings.h"

namespace coderun::app {

struct Options {
  std::string kubeconfig;               // empty: $KUBECONFIG, then in-cluster config
  std::vector<std::string> namespaces;  // empty: all namespaces
  int workers = 4;
  double qps = 50;                      // client-side limiter; 0 = off
  int burst = 100;
  std::string http_address = "127.0.0.1:8080";
  kube::HttpLibrary http_client = kube::HttpLibrary::kBeast;
  int watch_timeout_seconds = 300;
  // Leader election on a Lease: only the leader reconciles and allocates run UIDs.
  bool leader_elect = false;
  std::string leader_election_namespace = "coderun-system";
  std::string leader_election_id = "coderun-controller";
  int lease_duration_seconds = 15;
  int renew_deadline_seconds = 10;
  int retry_period_seconds = 2;
  log::Format log_format = log::Format::kText;
  log::Level log_level = log::Level::kInfo;
  reconcile::Settings settings;
};

// Parses argv. On --help returns a Status with code kCancelled carrying the help text; on a
// bad flag, InvalidArgument with one line saying which and why.
absl::StatusOr<Options> ParseOptions(int argc, const char* const* argv);

}  // namespace coderun::app
