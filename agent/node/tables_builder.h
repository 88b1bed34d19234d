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
#include "agent/nodestate/node_state.h"
#include "agent/policy/allowance.h"

namespace warden::node {

// A pod of the node state whose cgroup was found on this node.
struct LocalPod {
  std::string key;  // "ns/name"
  uint64_t cgroup_id = 0;
  // The node side of its network interface (node/pod_interfaces.h), 0 when none was found: the
  // interface programs judge the pod's packets there.
  uint32_t ifindex = 0;
};

// The node's own addresses (state.node_addresses) get WD_ID_LOCAL_HOST in the ipcache, so that
// pods here always accept traffic from their node, as Kubernetes requires.
//
// With `previous` (tables built earlier from `previous_state`), the parts of the state that
// `previous_state` shares with `state` (the ipcache, each identity's policy entries) are taken
// from the previous tables instead of being rebuilt: an update that changes one identity's
// policy costs that identity's entries, not the node's. `changes` then receives the policy keys
// that may differ from `previous` and whether the ipcache may (for BpfDatapath::Apply).
datapath::NodeTables BuildNodeTables(const nodestate::NodeState& state,
                                     const std::vector<LocalPod>& pods,
                                     const std::vector<policy::Allowance>& allowances,
                                     const datapath::NodeTables* previous = nullptr,
                                     const nodestate::NodeState* previous_state = nullptr,
                                     datapath::TableChanges* changes = nullptr);

// What PatchNodeTables replaced: enough to put the tables back as they were, and to tell
// whether the patch changed anything.
struct TablesUndo {
  // Every policy key the patch wrote or removed, with the value it had (none: absent).
  std::vector<std::pair<datapath::Raw<wd_policy_key>, std::optional<wd_policy_value>>> policy;
  std::optional<decltype(datapath::NodeTables::ipcache)> ipcache;  // if it was rebuilt
  decltype(datapath::NodeTables::endpoints) endpoints;
  std::vector<wd_portset> portsets;
  std::vector<wd_port_range> portranges;
  decltype(datapath::NodeTables::lockdown) lockdown;
  decltype(datapath::NodeTables::ifaces) ifaces;

  // The patched tables `now` hold exactly what they held before the patch.
  bool Unchanged(const datapath::NodeTables& now) const;
};

// BuildNodeTables from `*t` (the tables of `previous_state`) in place: no copy of the node's
// tens of thousands of entries for an update that changes a few. `undo` receives what was
// replaced; RestoreNodeTables(t, undo) turns `*t` back (when the datapath refuses the update).
void PatchNodeTables(const nodestate::NodeState& state, const std::vector<LocalPod>& pods,
                     const std::vector<policy::Allowance>& allowances,
                     const nodestate::NodeState& previous_state, datapath::NodeTables* t,
                     datapath::TableChanges* changes, TablesUndo* undo);
void RestoreNodeTables(datapath::NodeTables* t, TablesUndo&& undo);

}  // namespace warden::node
