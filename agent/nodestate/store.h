// What an agent enforces, or a gateway decides on, kept on disk so that a restart without the
// control plane comes back with it: a full update (binary protobuf), written atomically.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/nodestate/gateway_state.h"
#include "agent/nodestate/node_state.h"

namespace warden::nodestate {

absl::Status SaveNodeState(const NodeState& s, const std::string& path);
// NotFound when there is no file; DataLoss when it is not a valid state.
absl::StatusOr<NodeState> LoadNodeState(const std::string& path);

// The same for a gateway: the GatewayUpdate it put in force (every one is whole).
absl::Status SaveGatewayUpdate(const v1::GatewayUpdate& u, const std::string& path);
// NotFound when there is no file; DataLoss when it is not a valid gateway state.
absl::StatusOr<GatewayState> LoadGatewayState(const std::string& path);

}  // namespace warden::nodestate
