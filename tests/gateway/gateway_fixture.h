// A gateway under test, with everything around it real: a PKI (lab CA, node certificates, a
// foreign CA), nginx serving HTTPS for the "internet" names on loopback, the gateway in-process on
// loopback with its access log in a file, and forwarder-like clients that speak the flow protocol
// (mutual TLS with a node certificate, the flow header, then the pod's bytes).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "agent/gateway/gateway.h"
#include "agent/nodestate/flow_header.h"
#include "tests/lib/scratch_dir.h"

namespace warden::gateway_test {

// A pod's connection as its node's forwarder carries it to the gateway.
class FlowClient {
 public:
  using Tls = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;
  // Connects to 127.0.0.1:`port` presenting `cert`/`key` ("" = no certificate), verifying the
  // gateway's certificate with `ca`. The handshake's outcome is in handshake_error().
  FlowClient(uint16_t port, const std::string& cert, const std::string& key, const std::string& ca);
  const std::string& handshake_error() const { return handshake_error_; }

  void SendHeader(const nodestate::Flow& f);
  void Send(const std::string& bytes);
  // The next HTTP response (empty result 0 when the gateway closed the connection instead).
  // The next response (status 0 when none came); `head`: the answer to a HEAD (no body follows).
  boost::beast::http::response<boost::beast::http::string_body> Read(bool head = false);
  // Whether the gateway closed the connection (EOF, or an error) within `ms`.
  bool ClosedWithin(int ms);
  bool ReadableWithin(int ms);
  Tls& stream() { return *s_; }
  boost::beast::flat_buffer& buffer() { return buf_; }

 private:
  boost::asio::io_context io_;
  boost::asio::ssl::context ctx_;
  std::unique_ptr<Tls> s_;
  boost::beast::flat_buffer buf_;
  std::string handshake_error_;
};

class GatewayFixture {
 public:
  // Brings up the PKI, nginx and the gateway with the state the manifests `yaml` make ({{NGINX}}
  // in them is replaced by nginx's port). Throws on failure.
  explicit GatewayFixture(const std::string& yaml);
  ~GatewayFixture();

  // Replaces the gateway's state (as a control-plane update would).
  void SetManifests(const std::string& yaml);
  uint16_t nginx_port() const { return nginx_port_; }
  uint16_t port() const { return gw_->port(); }
  uint16_t metrics_port() const { return gw_->metrics_port(); }
  const std::string& dir() const { return dir_.path(); }
  std::string ca() const;
  std::string cert(const std::string& name) const;
  std::string key(const std::string& name) const;
  std::string foreign_cert() const;  // "default-1" issued by another CA
  std::string foreign_key() const;

  // A flow of pod `ns/pod` from node `node` (its certificate) to original 127.0.0.1:`port`.
  std::unique_ptr<FlowClient> Open(const std::string& node, const std::string& ns,
                                   const std::string& pod, uint16_t port,
                                   const std::string& sa = "default");
  // The same on the gateway listening on `gateway_port` (one of StartAnother's).
  std::unique_ptr<FlowClient> OpenAt(uint16_t gateway_port, const std::string& node,
                                     const std::string& ns, const std::string& pod, uint16_t port,
                                     const std::string& sa = "default");
  // Another gateway with the same options and state in force, `workers` threads, its own port.
  std::unique_ptr<gateway::Gateway> StartAnother(int workers,
                                                 std::vector<std::string> client_cas = {});
  // The access log's lines so far (waits for the writer's flush), and nginx's.
  std::vector<std::string> AccessLog(size_t at_least = 0) const;
  // nginx's access log: connection, its request count, SNI, method, path, status, length and
  // x-request-id. nginx writes a line after the response is sent, so a test that has just read
  // an answer waits for its line with NginxLogOf(request id).
  std::vector<std::string> NginxLog() const;
  std::vector<std::string> NginxLogOf(const std::string& request_id) const;

  std::string Expand(const std::string& yaml) const;  // {{NGINX}} -> nginx's port

 private:
  testlib::ScratchDir dir_;
  uint16_t nginx_port_ = 0;
  pid_t nginx_ = -1;
  std::unique_ptr<gateway::Gateway> gw_;
  egress::GatewayOptions gopts_;
  gateway::GatewayProcessOptions options_;
  std::shared_ptr<const gateway::CompiledGateway> state_;
};

}  // namespace warden::gateway_test
