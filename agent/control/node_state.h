// One node's share of the compiled snapshot: what `warden control` pushes to that node's agent
// and what the agent enforces. Versions, differences between versions and the translation to
// and from the wire (proto/warden/v1/sync.proto) live here; the snapshot type is not a protobuf.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/common/shared.h"
#include "agent/policy/cluster.h"
#include "agent/policy/port_sets.h"
#include "agent/policy/snapshot.h"
#include "warden/v1/sync.pb.h"

namespace warden::control {

// A world destination a default-pool node may still reach directly: "CIDR[:PORT[-END]][/PROTO]".
struct Allowance {
  policy::Cidr cidr;
  std::optional<policy::Protocol> protocol;  // none: every protocol
  uint16_t port_lo = 0, port_hi = 65535;
  std::string ToString() const;
  bool operator==(const Allowance&) const = default;
};

absl::StatusOr<Allowance> ParseAllowance(const std::string& text);

// The node label that names a node's pool; "gateway" makes a gateway-pool node.
inline constexpr char kNodePoolLabel[] = "cloud.google.com/gke-nodepool";

struct IdentityRecord {
  std::string name, ns, service_account;
  policy::Labels labels;
  uint8_t isolated = 0;  // WD_ISOLATED_*
  bool operator==(const IdentityRecord&) const = default;
};

struct PodRecord {
  std::string uid;
  uint32_t identity = 0;
  bool gateway = false;
  std::vector<policy::IpAddress> addresses;
  bool operator==(const PodRecord&) const = default;
};

using PolicyTuple = std::tuple<uint32_t, uint32_t, uint8_t>;  // local, remote, direction

struct PolicyRecord {
  uint16_t portset[WD_L4_COUNT] = {0, 0, 0};
  bool other = false;
  bool operator==(const PolicyRecord& o) const {
    return portset[0] == o.portset[0] && portset[1] == o.portset[1] && portset[2] == o.portset[2] &&
           other == o.other;
  }
};

// The control plane holds a state per node and version; they share the cluster-wide parts
// (identity catalogue, ipcache, port sets) and each identity's policy entries
// (agent/common/shared.h).
using common::Shared;

using IdentityMap = std::map<uint32_t, IdentityRecord>;
// B-trees: a state holds tens of thousands of these entries, built, compared and copied on
// every change; a node-per-entry std::map spends most of that time in malloc.
using IpcacheMap = absl::btree_map<policy::Cidr, wd_ipcache_value>;
using PortsetList = std::vector<std::vector<policy::PortRange>>;
// One local identity's policy entries: (remote identity, direction) -> ports.
using PolicyBlock = absl::btree_map<std::pair<uint32_t, uint8_t>, PolicyRecord>;
using PodMap = absl::btree_map<std::string, PodRecord>;

struct NodeState {
  uint64_t version = 0;
  std::string node;
  std::vector<policy::IpAddress> node_addresses;
  Shared<IdentityMap> identities;
  common::SharedMap<PodMap> pods;  // "ns/name" -> pod scheduled on this node
  Shared<IpcacheMap> ipcache;
  // The entries of the identities of this node's pods, by local identity.
  std::map<uint32_t, Shared<PolicyBlock>> policy;
  Shared<PortsetList> portsets;
  uint8_t pool = WD_POOL_DEFAULT;
  std::vector<Allowance> allowances;

  // Same contents, whatever the version.
  bool SameContents(const NodeState& o) const;
  size_t PolicyEntries() const;
  template <typename Fn>  // fn(const PolicyTuple&, const PolicyRecord&)
  void ForEachPolicy(Fn fn) const {
    for (const auto& [local, block] : policy) {
      for (const auto& [k, r] : *block) fn(PolicyTuple{local, k.first, k.second}, r);
    }
  }
};

// What every node's state of one compiled snapshot shares, computed once per snapshot. With
// `previous` (the parts of the snapshot before), every part whose contents did not change is
// the previous object itself, so versions share it and comparisons skip it.
struct SharedParts {
  Shared<IdentityMap> identities;
  Shared<IpcacheMap> ipcache;
  Shared<PortsetList> portsets;
  std::map<uint32_t, Shared<PolicyBlock>> policy;  // every pod identity's entries
  // Each node's pods ("ns/name" -> record, `gateway` not set yet), in key order.
  using PodsByNode = std::map<std::string, std::vector<std::pair<std::string, PodRecord>>>;
  Shared<PodsByNode> pods_by_node;
  std::shared_ptr<const void> base;          // the snapshot's base (policy::Snapshot::base)
  std::shared_ptr<const void> policy_build;  // and its policy_build
};

SharedParts ComputeSharedParts(const policy::ClusterState& state, const policy::Snapshot& snap,
                               const SharedParts* previous = nullptr);

// The state of `node` in the cluster compiled into `snap` (pods on it, their policy, the whole
// ipcache and identity catalogue, the port sets). `gateway_namespace`'s pods are gateways.
NodeState ComputeNodeState(const policy::ClusterState& state, const policy::Snapshot& snap,
                           const SharedParts& parts, const std::string& node,
                           const std::string& gateway_namespace,
                           const std::vector<Allowance>& allowances = {});
NodeState ComputeNodeState(const policy::ClusterState& state, const policy::Snapshot& snap,
                           const std::string& node, const std::string& gateway_namespace,
                           const std::vector<Allowance>& allowances = {});

// Wire form: everything, or the difference from `from` (whose version becomes base_version).
v1::Update FullUpdate(const NodeState& s);
v1::Update DeltaUpdate(const NodeState& from, const NodeState& to);

// Applies an update received from the wire. Checks it completely first (version sequence,
// field ranges, references to port sets); on any error `state` is left unchanged and the error
// names the field, so the client can NACK and keep enforcing what it has.
absl::Status ApplyUpdate(const v1::Update& u, NodeState* state);

// Persisting what an agent enforces (a full update, binary protobuf), written atomically.
absl::Status SaveNodeState(const NodeState& s, const std::string& path);
absl::StatusOr<NodeState> LoadNodeState(const std::string& path);

// The port set bitmaps the kernel wants.
std::vector<wd_portset> PortsetBitmaps(const NodeState& s);

}  // namespace warden::control
