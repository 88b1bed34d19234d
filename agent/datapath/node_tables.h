// The contents of one node's verdict tables, as bytes in the ABI layouts of
// bpf/warden_structs.h. The datapath writes these and knows nothing of what they mean.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "agent/common/abi.h"
#include "warden_structs.h"

namespace warden::datapath {

using common::Raw;
using common::SameBytes;

struct NodeTables {
  absl::flat_hash_map<uint64_t, wd_endpoint> endpoints;  // pod cgroup id -> endpoint
  absl::flat_hash_map<Raw<wd_ipcache_key>, wd_ipcache_value> ipcache;
  using PolicyMap = absl::flat_hash_map<Raw<wd_policy_key>, wd_policy_value>;
  PolicyMap policy;
  std::vector<wd_portset> portsets;       // index = portset id
  std::vector<wd_port_range> portranges;  // the runs of sets of more than WD_PORTSET_INLINE ranges
  absl::flat_hash_map<Raw<wd_ipcache_key>, wd_policy_value> lockdown;
  // The node side of a local pod's network interface (its ifindex) -> the pod and its
  // addresses: where the interface programs run (BpfDatapath::AttachInterface).
  absl::flat_hash_map<uint32_t, wd_iface> ifaces;
};

// A hint from whoever built a NodeTables from the previous one: which policy keys may differ
// and whether the ipcache may. With it an update writes and compares only those keys instead of
// every entry. Without it (`known` false) everything is compared.
struct TableChanges {
  bool known = false;
  std::vector<Raw<wd_policy_key>> policy;
  bool ipcache = true;
};

// What the agent says about the node besides the tables.
struct NodeConfig {
  uint64_t kubepods_cgroup_id = 0;
  uint32_t kubepods_level = 0;
  uint32_t pod_levels[WD_MAX_POD_LEVELS] = {0, 0};
  uint8_t pool = WD_POOL_DEFAULT;
  uint8_t unknown_pod = WD_UNKNOWN_POD_DENY;
  // The node forwarder (wd_config.fwd_*; bpf/warden_forward.h): port 0 for none.
  struct Forwarder {
    uint8_t addr[4] = {0, 0, 0, 0};  // its IPv4 address
    uint16_t port = 0;
    uint16_t gateway_port = 0;                          // the gateways' mTLS port
    uint16_t world_ports[WD_FWD_PORTS] = {0, 0, 0, 0};  // sent to it
    uint8_t gateway_family = 0;                         // WD_AF_*; 0: no gateway known
    uint8_t gateway_addr[16] = {};
    bool operator==(const Forwarder&) const = default;
  } forwarder;
};

}  // namespace warden::datapath

namespace warden::datapath {

template <typename M>
bool SameEntries(const M& a, const M& b) {
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a) {
    auto it = b.find(k);
    if (it == b.end() || !SameBytes(it->second, v)) return false;
  }
  return true;
}

template <typename T>
bool SameArray(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SameBytes(a[i], b[i])) return false;
  }
  return true;
}

inline bool SamePortsets(const NodeTables& a, const NodeTables& b) {
  return SameArray(a.portsets, b.portsets) && SameArray(a.portranges, b.portranges);
}

inline bool SameTables(const NodeTables& a, const NodeTables& b) {
  return SamePortsets(a, b) && SameEntries(a.endpoints, b.endpoints) &&
         SameEntries(a.ipcache, b.ipcache) && SameEntries(a.policy, b.policy) &&
         SameEntries(a.lockdown, b.lockdown) && SameEntries(a.ifaces, b.ifaces);
}

inline bool SameConfig(const NodeConfig& a, const NodeConfig& b) {
  return a.kubepods_cgroup_id == b.kubepods_cgroup_id && a.kubepods_level == b.kubepods_level &&
         a.pod_levels[0] == b.pod_levels[0] && a.pod_levels[1] == b.pod_levels[1] &&
         a.pool == b.pool && a.unknown_pod == b.unknown_pod && a.forwarder == b.forwarder;
}

}  // namespace warden::datapath
