// Test-only: an HTTPS server on 127.0.0.1 that answers pods/attach WebSocket upgrades as the
// apiserver does, for exercising the real transport's Upgrade (TLS, client certificate,
// headers, subprotocol choice, frames, closing handshakes). Built on Boost.Beast's server side;
// each connection is served on its own thread. Header-only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <chrono>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "kube/testing/loopback_listener.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "boost/beast/ssl.hpp"
#include "boost/beast/websocket.hpp"
#include "boost/beast/websocket/ssl.hpp"
#include "kube/attach.h"
#include "kube/testing/fake_websocket.h"
#include "kube/testing/test_certs.h"

namespace coderun::kube::testing {

class AttachServer {
 public:
  struct Options {
    // Served subprotocols; the first one the client offers wins, as in apimachinery's wsstream.
    std::vector<std::string> protocols = {kStreamProtocolV5, kStreamProtocolV4};
    // Selected whatever the client offers (a misbehaving server).
    std::string force_protocol;
    // Not 0: every upgrade is refused with this status and body.
    int refuse_status = 0;
    std::string refuse_body;
    // After the upgrade, never read nor write again (a hung session).
    bool hang = false;
    // Sent on the error channel after v5's CLOSE signal for stdin; then the server closes.
    std::string status = kSuccessStatus;
  };

  // What one session showed the server.
  struct Session {
    std::string target;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string client_cn;                       // of the verified client certificate, if any
    std::string protocol;                        // the one selected
    std::string stdin_data;
    size_t messages = 0;
    size_t largest_message = 0;
    bool stdin_closed = false;   // v5's CLOSE signal arrived
    bool client_closed = false;  // the client started the closing handshake
  };

  // Serves with `server` (cert + key); clients must present a certificate signed by
  // `client_ca_pem` when it is set.
  AttachServer(const KeyPair& server, const std::string& client_ca_pem, Options options)
      : options_(std::move(options)), tls_(boost::asio::ssl::context::tls_server) {
    signal(SIGPIPE, SIG_IGN);  // a client that went away fails a write, not the test binary
    tls_.use_certificate_chain(boost::asio::buffer(server.cert_pem));
    tls_.use_private_key(boost::asio::buffer(server.key_pem), boost::asio::ssl::context::pem);
    if (!client_ca_pem.empty()) {
      tls_.add_certificate_authority(boost::asio::buffer(client_ca_pem));
      tls_.set_verify_mode(boost::asio::ssl::verify_peer |
                           boost::asio::ssl::verify_fail_if_no_peer_cert);
    }
    listener_ = ListenOnLoopback("AttachServer", 16, &port_);
    acceptor_ = std::thread([this] { Accept(); });
  }

  ~AttachServer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);  // ends blocked reads
    }
    stopped_.notify_all();
    acceptor_.join();
    for (std::thread& t : workers_) t.join();
    close(listener_);
  }
  AttachServer(const AttachServer&) = delete;
  AttachServer& operator=(const AttachServer&) = delete;

  std::string url() const { return absl::StrCat("https://127.0.0.1:", port_); }
  // The sessions ended so far (the server may end one just after the client returns).
  std::vector<Session> sessions() const {
    std::lock_guard lock(mu_);
    return sessions_;
  }
  // Waits up to `timeout` for `n` ended sessions; the sessions then.
  std::vector<Session> WaitForSessions(size_t n,
                                       std::chrono::seconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    recorded_.wait_for(lock, timeout, [&] { return sessions_.size() >= n; });
    return sessions_;
  }

 private:
  using tcp = boost::asio::ip::tcp;

  void Accept() {
    while (true) {
      {
        std::lock_guard lock(mu_);
        if (stop_) return;
      }
      pollfd p{listener_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int fd = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::lock_guard lock(mu_);
      fds_.push_back(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    namespace websocket = beast::websocket;
    boost::asio::io_context ioc;
    tcp::socket socket(ioc);
    socket.assign(tcp::v4(), fd);  // closes fd when done
    beast::ssl_stream<tcp::socket> stream(std::move(socket), tls_);
    // Destroyed before the stream closes fd: the destructor never shuts down a reused number.
    struct Forget {
      AttachServer* server;
      int fd;
      ~Forget() {
        std::lock_guard lock(server->mu_);
        std::erase(server->fds_, fd);
      }
    } forget{this, fd};
    beast::error_code ec;
    stream.handshake(boost::asio::ssl::stream_base::server, ec);
    if (ec) return;
    Session session;
    if (X509* peer = SSL_get1_peer_certificate(stream.native_handle())) {
      char cn[256] = {};
      X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
      session.client_cn = cn;
      X509_free(peer);
    }
    beast::flat_buffer buffer;
    http::request<http::string_body> request;
    http::read(stream, buffer, request, ec);
    if (ec) return;
    session.target = std::string(request.target());
    for (const auto& field : request) {
      session.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
          std::string(field.value());
    }
    if (options_.refuse_status != 0) {
      http::response<http::string_body> refusal{static_cast<http::status>(options_.refuse_status),
                                                11};
      refusal.set(http::field::content_type, "application/json");
      refusal.body() = options_.refuse_body;
      refusal.prepare_payload();
      http::write(stream, refusal, ec);
      Record(session);
      return;
    }
    session.protocol = Choose(session.headers["sec-websocket-protocol"]);
    websocket::stream<beast::ssl_stream<tcp::socket>&> ws(stream);
    ws.set_option(websocket::stream_base::decorator(
        [protocol = session.protocol](websocket::response_type& response) {
          if (!protocol.empty()) response.set(http::field::sec_websocket_protocol, protocol);
        }));
    ws.accept(request, ec);
    if (ec) return;
    if (options_.hang) {
      Record(session);
      std::unique_lock lock(mu_);
      stopped_.wait(lock, [this] { return stop_; });
      return;
    }
    ws.binary(true);
    ws.write(boost::asio::buffer(std::string(1, kErrorChannel)), ec);  // "the session is open"
    while (!ec) {
      beast::flat_buffer in;
      ws.read(in, ec);
      if (ec == websocket::error::closed) session.client_closed = true;
      if (ec) break;
      const std::string message = beast::buffers_to_string(in.data());
      ++session.messages;
      session.largest_message = std::max(session.largest_message, message.size());
      if (session.protocol == kStreamProtocolV5 && message == CloseStdinMessage()) {
        session.stdin_closed = true;
        ws.write(boost::asio::buffer(std::string(1, kErrorChannel) + options_.status), ec);
        if (!ec) ws.close(websocket::close_code::normal, ec);
        break;
      }
      if (!message.empty() && message[0] == kStdinChannel) {
        session.stdin_data.append(message, 1);
      }
    }
    Record(session);
  }

  // The first offered protocol that is served.
  std::string Choose(const std::string& offered) const {
    if (!options_.force_protocol.empty()) return options_.force_protocol;
    for (absl::string_view p : absl::StrSplit(offered, ',')) {
      const std::string name(absl::StripAsciiWhitespace(p));
      if (std::find(options_.protocols.begin(), options_.protocols.end(), name) !=
          options_.protocols.end()) {
        return name;
      }
    }
    return "";
  }

  void Record(const Session& session) {
    {
      std::lock_guard lock(mu_);
      sessions_.push_back(session);
    }
    recorded_.notify_all();
  }

  const Options options_;
  boost::asio::ssl::context tls_;
  int listener_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::condition_variable stopped_;    // with mu_: stop_ became true
  std::condition_variable recorded_;   // with mu_: a session was added
  bool stop_ = false;                  // guarded by mu_
  std::vector<int> fds_;               // guarded by mu_: connections being served
  std::vector<std::thread> workers_;   // guarded by mu_ (joined after the acceptor)
  std::vector<Session> sessions_;      // guarded by mu_
};

}  // namespace coderun::kube::testing
