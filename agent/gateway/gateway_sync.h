// The gateway's side of Sync (role gateway): each GatewayUpdate is checked whole, compiled and
// put in force, then ACKed; one that fails is NACKed and the last good state stays in force. With
// a state file, what is put in force is saved there (a restart with the control plane down
// comes back deciding on it).
#pragma once

#include <memory>
#include <string>

#include "agent/common/log.h"
#include "agent/egress/gateway_config.h"
#include "agent/gateway/state.h"
#include "agent/nodestate/sync_stream.h"

namespace warden::gateway {

class GatewaySync {
 public:
  GatewaySync(nodestate::SyncStreamOptions opts, egress::GatewayOptions gateway,
              StateHolder* holder, std::string state_file);
  void Start() { stream_.Start(); }
  void Stop() { stream_.Stop(); }
  const nodestate::SyncStreamStats& stats() const { return stream_.stats(); }

 private:
  absl::Status Take(const v1::SyncResponse& r);

  egress::GatewayOptions gateway_;
  StateHolder* holder_;
  std::string state_file_;  // "" = nothing saved
  common::Logger log_;
  nodestate::SyncStream stream_;  // last: its thread uses the members above
};

}  // namespace warden::gateway
