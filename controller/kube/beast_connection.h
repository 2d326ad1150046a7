// The parts of the Beast transport that its HTTP requests (beast_transport.cc) and its
// WebSockets (beast_websocket.cc) share: where the server is, one TLS connection with its own
// event loop, and what bounds one call on it. Internal to those two files.
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/ssl.hpp"
#include "common/context.h"
#include "kube/beast_transport.h"

namespace coderun::kube::beast_internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;

// Where "https://host[:port][/prefix]" points.
struct Endpoint {
  std::string host;    // without brackets for an IPv6 literal
  std::string port;    // "443" when the URL has none
  std::string host_header;
  std::string prefix;  // "" or "/prefix" (no trailing slash)
  bool is_ip = false;
};

// InvalidArgument for anything but an https:// URL with a host.
absl::StatusOr<Endpoint> ParseServer(const std::string& server);

// One TLS connection with its own event loop, used by one thread at a time: the calling
// thread runs the loop for the length of each operation.
class Connection {
 public:
  explicit Connection(ssl::context& tls) : stream_(ioc_, tls) {}

  beast::ssl_stream<beast::tcp_stream>& stream() { return stream_; }
  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }
  beast::flat_buffer& buffer() { return buffer_; }

  // Starts an asynchronous operation with `start(handler)` and runs the loop until it has
  // completed; its error.
  template <typename Start>
  beast::error_code Await(Start&& start) {
    beast::error_code result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  // Safe from any thread: fails the operation in progress (or the next one to start) with
  // operation_aborted. The connection must not be reused afterwards.
  void Cancel() {
    cancelled_ = true;
    asio::post(ioc_, [this] { tcp().cancel(); });
  }
  bool cancelled() const { return cancelled_; }

  // An idle connection the server has closed (or sent something on) is readable.
  bool StillIdle();

 private:
  asio::io_context ioc_{1};  // declared first: outlives the stream and pending handlers
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::atomic<bool> cancelled_{false};
};

// What one call is allowed: the context's deadline (or the idle timeout, renewed before each
// wait), and its cancellation, which aborts whatever the connection is waiting for.
class CallBound {
 public:
  CallBound(const Context& ctx, Connection& conn);
  // Arms the connection's timer for the next wait.
  void Arm(Connection& conn) const;
  // Why an operation failed with `ec`: our deadline, our cancellation, or the network.
  absl::Status Failure(const std::string& what, const std::string& step,
                       beast::error_code ec) const;
  void set_ssl(SSL* ssl) { ssl_ = ssl; }

 private:
  const Context& ctx_;
  CancelRegistration registration_;
  SSL* ssl_ = nullptr;
};

// Connects `conn` to `endpoint` and completes the TLS handshake, checking the server's name
// or address (and sending it as SNI when it is a name).
absl::Status Open(const Endpoint& endpoint, CallBound& bound, Connection& conn,
                  const std::string& what);

}  // namespace coderun::kube::beast_internal
