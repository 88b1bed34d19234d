// A TLS server standing in for an egress gateway in the forwarder's tests: TLS 1.3, ALPN
// warden-flow/1, the certificate of its node `node` from a lab PKI, the client's certificate
// required (the same CA); it reads the flow header with DecodeFlowHeader, records it, and
// echoes every byte after it until the forwarder's close_notify, then closes its side too.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/nodestate/flow_header.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace warden::testlib {

// What a test gateway saw of one flow.
struct Seen {
  nodestate::Flow flow;
  bool client_is_node_a = false;  // the client certificate named node-a
  bool resumed = false;           // the TLS session was resumed
};

class TestGateway {
 public:
  // Listens on ip:port in network namespace `netns` ("" for this one; port 0: any).
  TestGateway(std::string netns, std::string ip, uint16_t port, std::string node,
              const std::string& pki);
  ~TestGateway();
  TestGateway(const TestGateway&) = delete;
  TestGateway& operator=(const TestGateway&) = delete;

  uint16_t port() const { return port_; }
  // Gone: the port refuses connections, flows in progress are cut.
  void Kill();
  std::vector<Seen> seen();
  int handshakes_failed() const { return handshakes_failed_.load(); }

 private:
  void AcceptLoop();
  void Serve(int fd);

  std::string netns_, ip_, node_;
  uint16_t port_ = 0;
  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  std::thread acceptor_;
  std::mutex mu_;
  bool killed_ = false;
  std::vector<std::thread> conns_;
  std::vector<int> open_fds_;
  std::vector<Seen> seen_;
  std::atomic<int> handshakes_failed_{0};
};

}  // namespace warden::testlib
