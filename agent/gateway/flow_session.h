// One flow a node's forwarder hands the gateway: the mutual-TLS handshake (the node's
// certificate), the flow header (which pod, where it was going), the check that the pod runs on
// that node, then the flow itself: HTTP/1.1 requests proxied one by one (http_proxy.h), or a TLS
// connection passed through by its server name (passthrough.h). Anything refused is logged.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "agent/gateway/access_log.h"
#include "agent/gateway/metrics.h"
#include "agent/gateway/ring.h"
#include "agent/gateway/state.h"
#include "agent/gateway/task.h"
#include "agent/gateway/tls.h"
#include "agent/gateway/upstream.h"

namespace warden::gateway {

struct ProxyLimits {
  size_t header_bytes = 60 * 1024;  // Envoy's default max_request_headers_kb
  size_t header_count = 100;        // Envoy's default max_headers_count
  std::chrono::milliseconds handshake{10000};
  std::chrono::milliseconds idle{60000};               // between requests on a connection
  std::chrono::milliseconds request_headers{30000};    // from the first byte to the last header
  std::chrono::milliseconds upstream_response{15000};  // Envoy's default route timeout
  std::chrono::milliseconds body_idle{60000};          // no body byte for this long
};

// What every flow of every worker shares.
struct Services {
  StateHolder* state = nullptr;
  AccessLog* log = nullptr;
  Metrics* metrics = nullptr;
  ListenerTls* listener_tls = nullptr;
  std::string trust_domain = "cluster.local";
  ProxyLimits limits;
};

// Serves one accepted connection (`fd`, owned from here) to the end. Never throws.
Task<void> ServeFlow(Ring* ring, int fd, UpstreamPool* pool, const Services* g);

}  // namespace warden::gateway
