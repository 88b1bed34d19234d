// A Sync subscriber (proto/warden/v1/sync.proto), whatever its role: subscribes over mutual TLS,
// hands each state-carrying message to its owner, ACKs or NACKs it with the owner's answer, and
// reconnects with jittered backoff when the stream breaks or goes silent. While disconnected
// nothing changes: the owner keeps the last state it took. The node agent and the egress gateway
// are its two owners.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/common/log.h"
#include "agent/common/tls_files.h"
#include "agent/common/watched_files.h"
#include "warden/v1/sync.pb.h"

namespace grpc {
class Channel;
class ClientContext;
}  // namespace grpc

namespace warden::nodestate {

struct SyncStreamOptions {
  std::string address;  // host:port of warden control
  std::string node;
  std::string cert, key, ca;  // PEM files: this node's certificate and key, the CA of the server
  std::string server_name;    // TLS name to expect from the server ("" = the host of `address`)
  int silence_ms = 5000;      // no message for this long: reconnect
  // How often the TLS files are looked at for a change (Kubernetes replaces a Secret's files in
  // place): new files that load are used from the next connection, and a stream in progress is
  // reconnected with them, so it moves to a new certificate before the old one expires.
  int tls_check_ms = 30000;
};

struct SyncStreamStats {
  std::atomic<uint64_t> connects{0}, updates{0}, acks{0}, nacks{0};
  std::atomic<bool> connected{false};
  std::atomic<uint64_t> version{0};
};

class SyncStream {
 public:
  // Takes one message that carries state (an Update or a GatewayUpdate) and says which version
  // it was; the status is the ACK (ok) or the NACK (its message is sent). FailedPrecondition
  // also resubscribes: the owner is out of step (a delta on a base it does not hold).
  using TakeFn = std::function<absl::Status(const v1::SyncResponse& r)>;
  // The version the owner holds, sent when subscribing so that nothing already held is resent.
  using VersionFn = std::function<uint64_t()>;

  SyncStream(SyncStreamOptions opts, v1::Role role, common::Logger log, TakeFn take,
             VersionFn held_version);
  ~SyncStream();
  void Start();
  void Stop();
  const SyncStreamStats& stats() const { return stats_; }
  SyncStreamStats& mutable_stats() { return stats_; }

 private:
  void Loop();
  absl::Status RunStream();
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel();
  // Whether the TLS files changed and the new ones load (then they are used from the next
  // connection on). New files that do not load are logged, naming the file, and the ones in use
  // are kept. `now`: look even if the check interval has not passed.
  bool TookNewTlsFiles(bool now);

  SyncStreamOptions opts_;
  v1::Role role_;
  common::Logger log_;
  TakeFn take_;
  VersionFn held_version_;
  SyncStreamStats stats_;
  common::WatchedFiles tls_files_;
  std::mutex tls_mu_;
  std::optional<common::TlsPem> tls_;  // the files last loaded
  std::atomic<bool> stop_{false};
  std::mutex ctx_mu_;
  grpc::ClientContext* ctx_ = nullptr;
  std::thread thread_;
};

// The version a state-carrying message holds (0 for a heartbeat).
uint64_t VersionOf(const v1::SyncResponse& r);

}  // namespace warden::nodestate
