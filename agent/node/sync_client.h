// The node agent's side of Sync: subscribes to its node's state over mutual TLS, checks and
// applies each update, ACKs or NACKs it, and reconnects with jittered backoff when the stream
// breaks or goes silent. While disconnected nothing changes: the agent keeps enforcing the last
// state it applied.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/common/log.h"
#include "agent/nodestate/node_state.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc
namespace warden::v1 {
class Update;
}

namespace warden::node {

struct SyncClientOptions {
  std::string address;  // host:port of warden control
  std::string node;
  std::string cert, key, ca;  // PEM files: this node's certificate and key, the CA of the server
  std::string server_name;    // TLS name to expect from the server ("" = the host of `address`)
  int silence_ms = 5000;      // no message for this long: reconnect
};

struct SyncClientStats {
  std::atomic<uint64_t> connects{0}, updates{0}, acks{0}, nacks{0};
  std::atomic<bool> connected{false};
  std::atomic<uint64_t> version{0};
};

class SyncClient {
 public:
  // `apply` enforces a state; its status decides ACK or NACK.
  using ApplyFn = std::function<absl::Status(const nodestate::NodeState&)>;
  SyncClient(SyncClientOptions opts, nodestate::NodeState held, ApplyFn apply);
  ~SyncClient();
  void Start();
  void Stop();
  const SyncClientStats& stats() const { return stats_; }

 private:
  void Loop();
  absl::Status RunStream();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel() const;
  // Applies `u` to the state held and has it enforced; the status is the ACK or the NACK.
  absl::Status Take(const v1::Update& u);

  SyncClientOptions opts_;
  common::Logger log_;
  nodestate::NodeState held_;
  ApplyFn apply_;
  SyncClientStats stats_;
  std::atomic<bool> stop_{false};
  std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;
  std::thread thread_;
};

}  // namespace warden::node
