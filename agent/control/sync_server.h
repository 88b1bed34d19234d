// The Sync gRPC service over mutual TLS: each client proves its node name with its certificate
// (a DNS name in the subject alternative names) and may subscribe to that node's state only.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/control/control_plane.h"

namespace grpc {
class Server;
}

namespace warden::control {

struct TlsFiles {
  std::string cert, key, ca;  // PEM files
  // More CAs whose certificates clients may present (the cluster's CA, for kubelet certificates).
  std::vector<std::string> more_cas;
  // How often the files are looked at: a renewed certificate is served without a restart.
  std::chrono::seconds refresh{30};
};

class ServerTls;

struct SyncStats {
  std::atomic<int64_t> connected{0};
  std::atomic<uint64_t> pushed{0}, acked{0}, nacked{0}, refused{0};
  // Push latency (state change -> ACK), histogram buckets in ms, Prometheus style.
  static constexpr double kBucketsMs[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000};
  std::atomic<uint64_t> latency_buckets[sizeof(kBucketsMs) / sizeof(double) + 1] = {};
  std::atomic<uint64_t> latency_sum_us{0}, latency_count{0};
  void ObserveLatency(double ms);
};

class SyncServer {
 public:
  // Listens on `address` ("host:port"; port 0 picks one).
  static absl::StatusOr<std::unique_ptr<SyncServer>> Start(ControlPlane* cp,
                                                           const std::string& address,
                                                           const TlsFiles& tls,
                                                           int heartbeat_ms = 1000);
  ~SyncServer();
  int port() const { return port_; }
  const SyncStats& stats() const { return *stats_; }
  std::string RenderMetrics() const;

 private:
  class Service;
  SyncServer() = default;
  std::unique_ptr<Service> service_;
  std::unique_ptr<ServerTls> tls_;  // before server_: outlives it
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<SyncStats> stats_;
  ControlPlane* cp_ = nullptr;
  int port_ = 0;
};

}  // namespace warden::control
