// Compiles the validated objects into the datapath's tables (snapshot.h). docs/datapath.md
// describes the tables and why they give exactly the NetworkPolicy semantics of model.h.
#pragma once

#include "agent/policy/cluster.h"
#include "agent/policy/snapshot.h"

namespace warden::policy {

Snapshot Compile(const ClusterState& state);

}  // namespace warden::policy
