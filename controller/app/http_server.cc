#include "app/http_server.h"

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace coderun::app {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr size_t kHeaderLimit = 8 * 1024;
constexpr size_t kBodyLimit = 4 * 1024;

absl::StatusOr<tcp::endpoint> ParseAddress(const std::string& address) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("--http-address ", address, ": ", why));
  };
  std::string host, port;
  if (!address.empty() && address.front() == '[') {
    auto close = address.find("]:");
    if (close == std::string::npos) return bad("want [IPv6]:port");
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string::npos) return bad("want host:port");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host.find(':') != std::string::npos) return bad("write an IPv6 host in brackets");
    if (host.empty() || host == "*") host = "0.0.0.0";
  }
  int port_number = 0;
  if (!absl::SimpleAtoi(port, &port_number) || port_number < 0 || port_number > 65535) {
    return bad("bad port");
  }
  boost::system::error_code ec;
  asio::ip::address ip = asio::ip::make_address(host, ec);
  if (ec) return bad("host must be an IPv4 or [IPv6] address");
  return tcp::endpoint(ip, static_cast<unsigned short>(port_number));
}

// One connection: read a request, answer it, and read the next while the client keeps the
// connection alive. Owned by its pending operation.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const std::map<std::string, HttpServer::Handler>& handlers,
          std::chrono::milliseconds timeout, std::shared_ptr<std::atomic<size_t>> open)
      : stream_(std::move(socket)), handlers_(handlers), timeout_(timeout), open_(std::move(open)) {}
  ~Session() { open_->fetch_sub(1); }

  void Read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(timeout_);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRead(ec);
                     });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec) {  // closed, timed out or malformed: nothing more to say
      stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      return;
    }
    const auto& request = parser_->get();
    HttpReply reply{404, "text/plain; charset=utf-8", "not found\n"};
    if (request.method() != http::verb::get) {
      reply = {405, "text/plain; charset=utf-8", "method not allowed\n"};
    } else {
      const std::string target(request.target());
      if (auto it = handlers_.find(target.substr(0, target.find('?'))); it != handlers_.end()) {
        reply = it->second();
      }
    }
    response_.emplace(static_cast<http::status>(reply.status), request.version());
    response_->set(http::field::content_type, reply.content_type);
    response_->body() = std::move(reply.body);
    response_->keep_alive(request.keep_alive());
    response_->prepare_payload();
    stream_.expires_after(timeout_);
    http::async_write(stream_, *response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        self->OnWrite(ec);
                      });
  }

  void OnWrite(beast::error_code ec) {
    const bool again = !ec && response_->keep_alive();
    response_.reset();
    if (again) {
      Read();
      return;
    }
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::string_body>> response_;
  const std::map<std::string, HttpServer::Handler>& handlers_;
  const std::chrono::milliseconds timeout_;
  const std::shared_ptr<std::atomic<size_t>> open_;
};

}  // namespace

struct HttpServer::Impl {
  Impl(const std::map<std::string, Handler>& h, const HttpServerOptions& o)
      : handlers(h), options(o), acceptor(asio::make_strand(io)) {}

  void Accept() {
    acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        if (open->fetch_add(1) >= options.max_connections) {
          open->fetch_sub(1);
          socket.close(ec);  // over the limit: refuse rather than queue
        } else {
          std::make_shared<Session>(std::move(socket), handlers, options.io_timeout, open)->Read();
        }
      }
      Accept();
    });
  }

  const std::map<std::string, Handler>& handlers;
  const HttpServerOptions options;
  std::shared_ptr<std::atomic<size_t>> open = std::make_shared<std::atomic<size_t>>(0);
  asio::io_context io;  // destroyed before `open`'s last owner: sessions count down into it
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
};

HttpServer::HttpServer(std::string address, HttpServerOptions options)
    : address_(std::move(address)), options_(options) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Handle(const std::string& path, Handler handler) {
  handlers_[path] = std::move(handler);
}

absl::Status HttpServer::Start() {
  auto endpoint = ParseAddress(address_);
  if (!endpoint.ok()) return endpoint.status();
  auto impl = std::make_unique<Impl>(handlers_, options_);
  beast::error_code ec;
  auto failed = [&](const char* what) {
    return absl::UnavailableError(absl::StrCat("--http-address ", address_, ": ", what, ": ",
                                               ec.message()));
  };
  impl->acceptor.open(endpoint->protocol(), ec);
  if (ec) return failed("socket");
  impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return failed("setsockopt");
  impl->acceptor.bind(*endpoint, ec);
  if (ec) return failed("bind");
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return failed("listen");
  port_ = impl->acceptor.local_endpoint().port();
  impl->Accept();
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    impl->threads.emplace_back([io = &impl->io] { io->run(); });
  }
  impl_ = std::move(impl);
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (!impl_) return;
  impl_->io.stop();
  for (auto& t : impl_->threads) t.join();
  // Destroying the io_context destroys the pending operations and with them every session,
  // closing its connection.
  impl_.reset();
}

}  // namespace coderun::app
