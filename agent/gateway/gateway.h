// `warden gateway`: the egress gateway. Takes its state from the control plane over Sync (role
// gateway), admits flows only from node forwarders (mutual TLS with node certificates, the pod
// checked to run on that node), authorizes each request or TLS flow, connects upstream, logs
// every request, and serves Prometheus /metrics and /ready.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/common/http_server.h"
#include "agent/egress/gateway_config.h"
#include "agent/gateway/access_log.h"
#include "agent/gateway/flow_session.h"
#include "agent/gateway/gateway_sync.h"
#include "agent/gateway/metrics.h"
#include "agent/gateway/state.h"
#include "agent/gateway/tls.h"
#include "agent/nodestate/sync_stream.h"

namespace warden::gateway {

struct GatewayProcessOptions {
  nodestate::SyncStreamOptions control;  // address, node, cert/key/ca (also the listener's)
  // More CAs forwarders' certificates may come from (the cluster's CA: kubelet certificates).
  std::vector<std::string> client_cas;
  std::string listen = "0.0.0.0:15443";  // the mutual-TLS port forwarders connect to
  std::string metrics;                   // HOST:PORT for /metrics and /ready ("" = none)
  std::string access_log = "-";
  std::string upstream_ca;  // the CA bundle upstream servers are verified with ("" = system's)
  // Threads, each with its own connections and upstream pool; 0 = one per CPU the process may
  // run on (its affinity: a container's cpuset).
  int workers = 1;
  // On stop: how long requests under way may take to finish (idle connections close at once,
  // nothing new is accepted); then whatever is left is cut.
  std::chrono::milliseconds drain{5000};
  // A directory where the state in force is kept (gateway.state): a restart decides on it until
  // the control plane answers. "" = none.
  std::string state_dir;
  egress::GatewayOptions gateway;
  ProxyLimits limits;
  UpstreamTimeouts upstream;
};

class Gateway {
 public:
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(GatewayProcessOptions o);
  ~Gateway();
  uint16_t port() const { return port_; }
  uint16_t metrics_port() const { return admin_ ? admin_->port() : 0; }
  // A state in force, and not stopping (a draining gateway leaves the Service's endpoints).
  bool ready() const { return !draining_ && state_.Get() != nullptr; }
  // Takes a state without the control plane (tests, and `--state` files).
  void SetState(std::shared_ptr<const CompiledGateway> s) { state_.Set(std::move(s)); }

 private:
  struct Worker;
  explicit Gateway(GatewayProcessOptions o);
  absl::Status Listen();

  GatewayProcessOptions o_;
  StateHolder state_;
  Metrics metrics_;
  std::unique_ptr<AccessLog> log_;
  std::unique_ptr<ListenerTls> listener_tls_;
  std::unique_ptr<UpstreamContexts> upstream_tls_;
  Services services_;
  std::vector<std::unique_ptr<Worker>> workers_;
  uint16_t port_ = 0;
  int listen_fd_ = -1;
  std::atomic<bool> draining_{false};
  std::unique_ptr<GatewaySync> sync_;
  std::unique_ptr<common::HttpServer> admin_;
};

}  // namespace warden::gateway
