// What an agent enforces, kept on disk so that a restart without the control plane comes back
// enforcing it: a full update (binary protobuf), written atomically.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/nodestate/node_state.h"

namespace warden::nodestate {

absl::Status SaveNodeState(const NodeState& s, const std::string& path);
// NotFound when there is no file; DataLoss when it is not a valid state.
absl::StatusOr<NodeState> LoadNodeState(const std::string& path);

}  // namespace warden::nodestate
