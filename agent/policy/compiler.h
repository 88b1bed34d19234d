// Compiles the validated objects into the datapath's tables (snapshot.h). docs/datapath.md
// describes the tables and why they give exactly the NetworkPolicy semantics of model.h.
#pragma once

#include <memory>
#include <vector>

#include "agent/policy/cluster.h"
#include "agent/policy/snapshot.h"

namespace warden::policy {

struct CompileOptions {
  // Address ranges inside the cluster besides the nodes' podCIDRs (service CIDR, node subnet):
  // they get the `cluster` identity, so node-pool lockdown does not treat them as the world.
  std::vector<Cidr> cluster_cidrs;
};

// What a compile keeps for the next one: the identities and the ipcache, which depend only on
// the pods, the nodes, the ipBlock prefixes of the policies and the cluster CIDRs. When none of
// those changed (a NetworkPolicy edit that adds no prefix), the next compile takes them from
// here and compiles only the policies.
struct CompileCache;

Snapshot Compile(const ClusterState& state, const CompileOptions& options = {});
// The same result, reusing what `*cache` (if set) holds, and leaving there what this compile
// built. `*cache` is created on first use.
Snapshot Compile(const ClusterState& state, const CompileOptions& options,
                 std::shared_ptr<CompileCache>* cache);

}  // namespace warden::policy
