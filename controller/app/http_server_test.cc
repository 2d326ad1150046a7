#include "app/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace coderun::app {
namespace {

using Clock = std::chrono::steady_clock;

// A connected client socket, closed on destruction.
class Conn {
 public:
  // Connects to `host` (an IPv4 or IPv6 literal) at `port`; check ok().
  Conn(const std::string& host, int port) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    int family = AF_INET;
    if (host.find(':') != std::string::npos) {
      family = AF_INET6;
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, host.c_str(), &a->sin_addr);
      len = sizeof *a;
    }
    fd_ = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      close(fd_);
      fd_ = -1;
    }
  }
  ~Conn() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }

  bool Send(const std::string& data) {
    return write(fd_, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  }
  // Reads until the peer closes, `want` bytes of a complete reply arrived (a whole reply
  // when `want` is empty: headers plus Content-Length), or the deadline passes.
  std::string Receive(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    std::string got;
    while (!Complete(got)) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) break;
      pollfd pfd{fd_, POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      ssize_t n = read(fd_, buf, sizeof buf);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  }
  bool closed() const { return closed_; }

 private:
  static bool Complete(const std::string& got) {
    auto end = got.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    auto cl = got.find("Content-Length: ");
    if (cl == std::string::npos || cl > end) return true;
    return got.size() >= end + 4 + std::stoul(got.substr(cl + 16));
  }

  int fd_ = -1;
  bool closed_ = false;
};

std::string Get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
}

std::string Body(const std::string& reply) {
  auto end = reply.find("\r\n\r\n");
  return end == std::string::npos ? "" : reply.substr(end + 4);
}

bool Ipv6LoopbackAvailable() {
  int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  close(fd);
  return ok;
}

void AddProbes(HttpServer& server) {
  server.Handle("/healthz", [] { return HttpReply{200, "text/plain", "ok\n"}; });
  server.Handle("/metrics", [] { return HttpReply{200, "text/plain; version=0.0.4", "m 1\n"}; });
}

TEST(HttpServerTest, ServesHandlersAnd404ForUnknownPaths) {
  HttpServer server("127.0.0.1:0");
  AddProbes(server);
  ASSERT_TRUE(server.Start().ok());
  {
    Conn c("127.0.0.1", server.port());
    ASSERT_TRUE(c.ok() && c.Send(Get("/healthz?verbose=1")));
    std::string reply = c.Receive(std::chrono::seconds(5));
    EXPECT_EQ(reply.rfind("HTTP/1.1 200 ", 0), 0u) << reply;
    EXPECT_NE(reply.find("Content-Type: text/plain\r\n"), std::string::npos) << reply;
    EXPECT_EQ(Body(reply), "ok\n");
  }
  {
    Conn c("127.0.0.1", server.port());
    ASSERT_TRUE(c.ok() && c.Send(Get("/nope")));
    std::string reply = c.Receive(std::chrono::seconds(5));
    EXPECT_EQ(reply.rfind("HTTP/1.1 404 ", 0), 0u) << reply;
  }
  {
    Conn c("127.0.0.1", server.port());
    ASSERT_TRUE(c.ok() && c.Send("POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
    EXPECT_EQ(c.Receive(std::chrono::seconds(5)).rfind("HTTP/1.1 405 ", 0), 0u);
  }
}

TEST(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  HttpServer server("127.0.0.1:0");
  AddProbes(server);
  ASSERT_TRUE(server.Start().ok());
  Conn c("127.0.0.1", server.port());
  ASSERT_TRUE(c.ok());
  for (const char* path : {"/healthz", "/metrics"}) {
    ASSERT_TRUE(c.Send(std::string("GET ") + path + " HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::string reply = c.Receive(std::chrono::seconds(5));
    EXPECT_EQ(reply.rfind("HTTP/1.1 200 ", 0), 0u) << path << ": " << reply;
  }
}

TEST(HttpServerTest, TenIdleConnectionsDoNotDelayHealthz) {
  HttpServer server("127.0.0.1:0");
  AddProbes(server);
  ASSERT_TRUE(server.Start().ok());
  std::vector<std::unique_ptr<Conn>> idle;
  for (int i = 0; i < 10; ++i) {
    idle.push_back(std::make_unique<Conn>("127.0.0.1", server.port()));
    ASSERT_TRUE(idle.back()->ok());
    if (i % 2) {
      ASSERT_TRUE(idle.back()->Send("GET /healthz HTTP/1.1\r\n"));  // never finished
    }
  }
  const auto start = Clock::now();
  Conn probe("127.0.0.1", server.port());
  ASSERT_TRUE(probe.ok() && probe.Send(Get("/healthz")));
  const std::string reply = probe.Receive(std::chrono::seconds(2));
  const auto waited = Clock::now() - start;
  EXPECT_EQ(Body(reply), "ok\n") << "no answer within 2 s while 10 connections sat idle";
  EXPECT_LT(waited, std::chrono::seconds(2));
}

TEST(HttpServerTest, ServesIpv6Loopback) {
  if (!Ipv6LoopbackAvailable()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  HttpServer server("[::1]:0");
  AddProbes(server);
  auto started = server.Start();
  ASSERT_TRUE(started.ok()) << started;
  Conn c("::1", server.port());
  ASSERT_TRUE(c.ok() && c.Send(Get("/healthz")));
  EXPECT_EQ(Body(c.Receive(std::chrono::seconds(5))), "ok\n");
}

TEST(HttpServerTest, AllIpv4AddressesForm) {
  for (const char* address : {"0.0.0.0:0", ":0", "*:0"}) {
    HttpServer server(address);
    AddProbes(server);
    auto started = server.Start();
    ASSERT_TRUE(started.ok()) << address << ": " << started;
    Conn c("127.0.0.1", server.port());
    ASSERT_TRUE(c.ok() && c.Send(Get("/healthz"))) << address;
    EXPECT_EQ(Body(c.Receive(std::chrono::seconds(5))), "ok\n") << address;
  }
}

TEST(HttpServerTest, RefusesMalformedAddresses) {
  for (const char* address :
       {"8080", "::1:8080", "[::1]8080", "[::1:8080", "127.0.0.1:http", "127.0.0.1:65536",
        "127.0.0.1:-1", "localhost:8080", "300.0.0.1:80", "[nope]:80"}) {
    HttpServer server(address);
    EXPECT_TRUE(absl::IsInvalidArgument(server.Start())) << address;
  }
}

TEST(HttpServerTest, AnAddressInUseIsUnavailable) {
  HttpServer first("127.0.0.1:0");
  ASSERT_TRUE(first.Start().ok());
  HttpServer second("127.0.0.1:" + std::to_string(first.port()));
  EXPECT_TRUE(absl::IsUnavailable(second.Start()));
}

TEST(HttpServerTest, ConnectionsBeyondTheLimitAreClosed) {
  HttpServerOptions options;
  options.max_connections = 2;
  HttpServer server("127.0.0.1:0", options);
  AddProbes(server);
  ASSERT_TRUE(server.Start().ok());
  Conn a("127.0.0.1", server.port()), b("127.0.0.1", server.port());
  ASSERT_TRUE(a.ok() && b.ok());
  Conn c("127.0.0.1", server.port());
  ASSERT_TRUE(c.ok());
  c.Send(Get("/healthz"));
  EXPECT_EQ(Body(c.Receive(std::chrono::seconds(5))), "");
  EXPECT_TRUE(c.closed());
  // A slot freed is a slot reused.
  ASSERT_TRUE(a.Send(Get("/healthz")));
  EXPECT_EQ(Body(a.Receive(std::chrono::seconds(5))), "ok\n");
  for (const auto deadline = Clock::now() + std::chrono::seconds(5); Clock::now() < deadline;) {
    Conn d("127.0.0.1", server.port());
    if (d.ok() && d.Send(Get("/healthz")) && Body(d.Receive(std::chrono::seconds(5))) == "ok\n") {
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "the freed slot was never reused";
}

TEST(HttpServerTest, IdleConnectionsAreClosedAfterTheTimeout) {
  HttpServerOptions options;
  options.io_timeout = std::chrono::milliseconds(200);
  HttpServer server("127.0.0.1:0", options);
  ASSERT_TRUE(server.Start().ok());
  Conn c("127.0.0.1", server.port());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c.Receive(std::chrono::seconds(5)), "");
  EXPECT_TRUE(c.closed()) << "still open after 5 s";
}

TEST(HttpServerTest, StopClosesConnectionsAndReturnsPromptly) {
  HttpServer server("127.0.0.1:0");
  AddProbes(server);
  ASSERT_TRUE(server.Start().ok());
  const int port = server.port();
  Conn idle("127.0.0.1", port);
  ASSERT_TRUE(idle.ok());
  {
    Conn c("127.0.0.1", port);  // the server is up: the idle one has been accepted or queued
    ASSERT_TRUE(c.ok() && c.Send(Get("/healthz")));
    ASSERT_EQ(Body(c.Receive(std::chrono::seconds(5))), "ok\n");
  }
  const auto start = Clock::now();
  server.Stop();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  EXPECT_EQ(idle.Receive(std::chrono::seconds(2)), "");
  EXPECT_TRUE(idle.closed()) << "the idle connection outlived Stop";
  EXPECT_FALSE(Conn("127.0.0.1", port).ok()) << "still accepting after Stop";
  server.Stop();  // idempotent
}

}  // namespace
}  // namespace coderun::app
