// Test-only: a tiny HTTPS/1.1 server on 127.0.0.1 built on OpenSSL, for exercising the real
// transport (TLS verification, client certificates, chunked streaming). Each connection is
// served on its own thread; requests on a connection are handled in order.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kube/testing/test_certs.h"

namespace coderun::kube::testing {

struct ServedRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string client_cn;  // CN of the verified client certificate, if any
};

class ServerConn {
 public:
  explicit ServerConn(SSL* ssl) : ssl_(ssl) {}
  // False once the peer has gone.
  bool Write(std::string_view data) {
    return data.empty() || SSL_write(ssl_, data.data(), static_cast<int>(data.size())) > 0;
  }
  bool Respond(int status, std::string_view body,
               std::string_view content_type = "application/json") {
    return Write(absl::StrCat("HTTP/1.1 ", status, " X\r\nContent-Type: ",
                              std::string(content_type), "\r\nContent-Length: ", body.size(),
                              "\r\n\r\n") +
                 std::string(body));
  }
  bool StartChunked() {
    return Write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
  }
  bool Chunk(std::string_view data) {
    char size[32];
    snprintf(size, sizeof(size), "%zx\r\n", data.size());
    return Write(size + std::string(data) + "\r\n");
  }
  bool EndChunked() { return Write("0\r\n\r\n"); }
  // Closes the connection once the handler returns.
  void Close() { close_ = true; }
  bool closing() const { return close_; }

 private:
  SSL* ssl_;
  bool close_ = false;
};

class TlsTestServer {
 public:
  using Handler = std::function<void(const ServedRequest&, ServerConn&)>;

  // Serves with `server` (cert + key). When `client_ca_pem` is set, clients must present a
  // certificate signed by it.
  TlsTestServer(const KeyPair& server, const std::string& client_ca_pem, Handler handler)
      : handler_(std::move(handler)) {
    // Writes to a client that went away must fail, not kill the test binary.
    signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* cb = BIO_new_mem_buf(server.cert_pem.data(), static_cast<int>(server.cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO_free(cb);
    BIO* kb = BIO_new_mem_buf(server.key_pem.data(), static_cast<int>(server.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    SSL_CTX_use_certificate(ctx_, cert);
    SSL_CTX_use_PrivateKey(ctx_, key);
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!client_ca_pem.empty()) {
      BIO* ab = BIO_new_mem_buf(client_ca_pem.data(), static_cast<int>(client_ca_pem.size()));
      X509* ca = PEM_read_bio_X509(ab, nullptr, nullptr, nullptr);
      BIO_free(ab);
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca);
      X509_free(ca);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(listen_fd_, 16);
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~TlsTestServer() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : conn_fds_) shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : workers_) t.join();
    close(listen_fd_);
    SSL_CTX_free(ctx_);
  }

  int port() const { return port_; }
  std::string url() const { return absl::StrCat("https://127.0.0.1:", port_); }
  std::vector<ServedRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  int handshake_failures() const { return handshake_failures_.load(); }
  // Connections accepted so far.
  int connections() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(conn_fds_.size());
  }

 private:
  void AcceptLoop() {
    while (!stopping_) {
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) break;
      std::lock_guard<std::mutex> lock(mu_);
      conn_fds_.push_back(fd);
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    SSL* ssl = SSL_new(ctx_);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) <= 0) {
      ++handshake_failures_;
    } else {
      std::string client_cn;
      if (X509* peer = SSL_get1_peer_certificate(ssl)) {
        char cn[256] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof(cn));
        client_cn = cn;
        X509_free(peer);
      }
      std::string buffer;
      ServedRequest request;
      while (ReadRequest(ssl, buffer, request)) {
        request.client_cn = client_cn;
        {
          std::lock_guard<std::mutex> lock(mu_);
          requests_.push_back(request);
        }
        ServerConn conn(ssl);
        handler_(request, conn);
        if (conn.closing()) break;
      }
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
  }

  static bool ReadRequest(SSL* ssl, std::string& buffer, ServedRequest& out) {
    out = ServedRequest();
    size_t end;
    while ((end = buffer.find("\r\n\r\n")) == std::string::npos) {
      if (!ReadMore(ssl, buffer)) return false;
    }
    std::vector<std::string> lines = absl::StrSplit(buffer.substr(0, end), "\r\n");
    buffer.erase(0, end + 4);
    std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
    if (first.size() < 2) return false;
    out.method = first[0];
    out.target = first[1];
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      out.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    size_t length = 0;
    if (out.headers.count("content-length")) {
      (void)absl::SimpleAtoi(out.headers["content-length"], &length);
    }
    while (buffer.size() < length) {
      if (!ReadMore(ssl, buffer)) return false;
    }
    out.body = buffer.substr(0, length);
    buffer.erase(0, length);
    return true;
  }

  static bool ReadMore(SSL* ssl, std::string& buffer) {
    char chunk[4096];
    int n = SSL_read(ssl, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  }

  Handler handler_;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> handshake_failures_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<int> conn_fds_;            // guarded by mu_
  std::vector<std::thread> workers_;     // guarded by mu_
  std::vector<ServedRequest> requests_;  // guarded by mu_
};

}  // namespace coderun::kube::testing
