// The node forwarder (docs/forwarder.md): listens on the node-local address the BPF programs
// redirect pods' world-bound connects to; for each connection takes its record (the original
// destination and the pod's cgroup, written before the pod's SYN left), names the pod from the
// node's state, connects to an egress gateway over mutual TLS (TLS 1.3, ALPN warden-flow/1, the
// node's certificate; the gateway's must name the gateway pod's node), writes the flow header
// and relays bytes both ways until both sides are done (each side's end of data passed on as a
// half-close). A connection without a record, of an unknown pod, or with no gateway reachable is
// reset at once: there is never a direct path.
//
// One thread runs an asio io_context; each flow is a coroutine. TLS is OpenSSL on the
// non-blocking socket, driven by the socket's readiness (so that one side's close_notify can be
// sent while the other side still reads).
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/common/log.h"
#include "agent/forwarder/node_view.h"
#include "agent/forwarder/records.h"
#include "agent/forwarder/tls_client.h"

namespace warden::forwarder {

struct ForwarderOptions {
  std::string listen;  // IPV4:PORT the programs redirect to
  TlsFiles tls;
  std::string node;  // this node's name (logs)
  // A gateway that does not accept the TCP connection and complete the TLS handshake in this
  // time is taken as down (the next one is tried).
  std::chrono::milliseconds connect_timeout{1000};
  // How long a gateway that failed is tried after the others.
  std::chrono::milliseconds down_for{5000};
  // One JSON line per flow, as the verdict log's (the agent's --log).
  std::function<void(const std::string&)> log_line;
};

// Counters for /metrics.
struct GatewayStats {
  uint64_t connects = 0, connect_failures = 0, flows = 0, resumed = 0;
};

class Forwarder {
 public:
  // Binds and listens (so that redirected connects queue even before Start).
  static absl::StatusOr<std::unique_ptr<Forwarder>> Create(ForwarderOptions opts,
                                                           std::shared_ptr<NodeView> view,
                                                           std::unique_ptr<FlowRecords> records);
  ~Forwarder();

  // Serves on a thread of its own until Stop or destruction.
  void Start();
  void Stop();

  uint16_t port() const { return port_; }
  void AppendMetrics(const std::string& node_label, std::string* out) const;

  // What happened to accepted connections, by outcome (metrics label values).
  enum Outcome { kForwarded, kNoRecord, kUnknownPod, kNoGateway, kRecordError, kOutcomes };
  static const char* OutcomeName(int o);
  uint64_t outcome(Outcome o) const { return outcomes_[o].load(); }
  GatewayStats gateway_stats(const std::string& pod) const;

  struct Impl;

 private:
  Forwarder() = default;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::atomic<uint64_t> outcomes_[kOutcomes] = {};
  friend struct Impl;
};

}  // namespace warden::forwarder
