// Test-only: a hung apiserver. It listens on 127.0.0.1, accepts every connection and never
// reads or writes a byte, until destroyed. A client with no deadline of its own waits on it
// forever (TLS handshake never completes).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kube/client.h"
#include "kube/config_client.h"
#include "kube/http_client.h"
#include "kube/testing/loopback_listener.h"
#include "kube/testing/test_certs.h"

namespace coderun::kube::testing {

class SilentServer {
 public:
  SilentServer() {
    listener_ = ListenOnLoopback("SilentServer", 64, &port_);
    thread_ = std::thread([this] { Accept(); });
  }
  ~SilentServer() {
    stop_ = true;
    thread_.join();
    close(listener_);
    std::lock_guard lock(mu_);
    for (int fd : accepted_) close(fd);
  }
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;

  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  int accepted() const {
    std::lock_guard lock(mu_);
    return static_cast<int>(accepted_.size());
  }

 private:
  void Accept() {
    while (!stop_) {
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      accepted_.push_back(fd);  // held open, never answered
    }
  }

  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<int> accepted_;  // guarded by mu_
};

// The production client stack (HTTP client, token, cpprestsdk) pointed at `server`.
inline std::unique_ptr<Client> NewClientFor(const SilentServer& server) {
  RestConfig config;
  config.server = server.url();
  config.ca_pem = MakeCert("ca", nullptr, /*is_ca=*/true).cert_pem;
  config.bearer_token = "tok";
  absl::StatusOr<std::unique_ptr<Transport>> transport = NewTransportForConfig(config);
  if (!transport.ok()) throw std::runtime_error(std::string(transport.status().message()));
  return NewClient(*std::move(transport));
}

}  // namespace coderun::kube::testing
