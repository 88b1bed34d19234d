// The node agent's side of Sync: checks and applies each update of its node's state (the stream
// itself, with its ACKs and reconnects, is nodestate::SyncStream). While disconnected nothing
// changes: the agent keeps enforcing the last state it applied.
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/common/log.h"
#include "agent/nodestate/node_state.h"
#include "agent/nodestate/sync_stream.h"

namespace warden::v1 {
class Update;
}

namespace warden::node {

using SyncClientOptions = nodestate::SyncStreamOptions;
using SyncClientStats = nodestate::SyncStreamStats;

class SyncClient {
 public:
  // `apply` enforces a state; its status decides ACK or NACK.
  using ApplyFn = std::function<absl::Status(const nodestate::NodeState&)>;
  SyncClient(SyncClientOptions opts, nodestate::NodeState held, ApplyFn apply);
  ~SyncClient();
  void Start();
  void Stop();
  const SyncClientStats& stats() const { return stream_.stats(); }

 private:
  // Applies `u` to the state held and has it enforced; the status is the ACK or the NACK.
  absl::Status Take(const v1::Update& u);

  SyncClientOptions opts_;
  common::Logger log_;
  nodestate::NodeState held_;
  ApplyFn apply_;
  nodestate::SyncStream stream_;  // last: its thread uses the members above
};

}  // namespace warden::node
