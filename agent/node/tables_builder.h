// Turns the cluster-wide compiled snapshot into one node's tables: the endpoints of the pods
// running on the node (by cgroup id), the policy entries of their identities, the ipcache, and
// the node-pool lockdown allowances.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/datapath/node_tables.h"
#include "agent/policy/ip.h"
#include "agent/policy/objects.h"
#include "agent/policy/snapshot.h"

namespace warden::node {

struct LocalPod {
  std::string key;  // "ns/name"
  uint64_t cgroup_id = 0;
  bool gateway = false;  // an egress-gateway pod (WD_EP_GATEWAY)
};

// A world destination a default-pool node may still reach directly: "CIDR[:PORT[-END]][/PROTO]".
struct Allowance {
  policy::Cidr cidr;
  std::optional<policy::Protocol> protocol;  // none: every protocol
  uint16_t port_lo = 0, port_hi = 65535;
  std::string ToString() const;
};

absl::StatusOr<Allowance> ParseAllowance(const std::string& text);

// `node_addresses` are this node's own addresses: their ipcache entries say WD_ID_LOCAL_HOST, so
// that pods here always accept traffic from their node, as Kubernetes requires.
datapath::NodeTables BuildNodeTables(const policy::Snapshot& snap,
                                     const std::vector<LocalPod>& pods,
                                     const std::vector<Allowance>& allowances,
                                     const std::vector<policy::IpAddress>& node_addresses = {});

}  // namespace warden::node
