// The datapath's view of where a node's pods sit, from the node's kubepods cgroup (found by
// kubelet's naming: agent/common/kubelet_cgroups.h).
#pragma once

#include <cstdint>

#include "agent/common/kubelet_cgroups.h"
#include "agent/datapath/node_tables.h"

namespace warden::node {

// Where the datapath finds pods on this node: below `kubepods`, at the levels kubelet puts pod
// cgroups. Burstable and BestEffort pods (kubepods/<qos>/pod<uid>) are tried first: most pods
// are, and each level tried costs a lookup; Guaranteed pods (kubepods/pod<uid>) second.
datapath::NodeConfig NodeConfigFor(const common::KubepodsCgroup& kubepods, uint8_t pool,
                                   uint8_t unknown_pod);

}  // namespace warden::node
