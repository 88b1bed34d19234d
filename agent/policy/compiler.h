// Compiles the validated objects into the datapath's tables (snapshot.h). docs/datapath.md
// describes the tables and why they give exactly the NetworkPolicy semantics of model.h.
#pragma once

#include <vector>

#include "agent/policy/cluster.h"
#include "agent/policy/snapshot.h"

namespace warden::policy {

struct CompileOptions {
  // Address ranges inside the cluster besides the nodes' podCIDRs (service CIDR, node subnet):
  // they get the `cluster` identity, so node-pool lockdown does not treat them as the world.
  std::vector<Cidr> cluster_cidrs;
};

Snapshot Compile(const ClusterState& state, const CompileOptions& options = {});

}  // namespace warden::policy
