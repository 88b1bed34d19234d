// Node-pool lockdown as the datapath applies it to direct egress to the world, before any
// NetworkPolicy (bpf/warden_verdict.h, docs/datapath.md): a default-pool node's pods reach a world
// address only where an allowance covers it (address, protocol, port); a gateway-pool node's only
// its egress-gateway pods, on TCP 80 and 443. `explain` applies it so that it says what the kernel
// does.
#pragma once

#include <string>
#include <vector>

#include "agent/policy/allowance.h"
#include "agent/policy/cluster.h"

namespace warden::policy {

// What decides the lockdown besides the cluster: the world allowances of default-pool nodes and
// the namespace whose pods are gateways (the flags `warden node` and `warden control` take).
struct LockdownOptions {
  std::vector<Allowance> allowances;
  std::string gateway_namespace = "warden-egress";
};

struct LockdownDecision {
  bool allowed = false;
  std::string reason;
  // Refused by a default-pool node's lockdown: what its forwarder, when it runs one, takes
  // instead (TCP on the forwarder's ports) for a pod whose policy admits the gateway.
  bool default_pool = false;
};

// May `pod` send to `world_address` (an address the ipcache calls world) on `protocol`/`port`?
LockdownDecision DecideLockdown(const ClusterState& state, const Pod& pod,
                                const IpAddress& world_address, Protocol protocol, int port,
                                const LockdownOptions& options);

}  // namespace warden::policy
