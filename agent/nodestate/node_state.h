// One node's share of the compiled snapshot: what the node's agent enforces, whether the agent
// compiled it from the manifests itself or `warden control` pushed it. Both sides include this
// package; how a state is derived (from_snapshot.h), put on the wire (wire.h) and kept on disk
// (store.h) live beside it. The snapshot type is not a protobuf.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "agent/common/abi.h"
#include "agent/common/shared.h"
#include "agent/policy/allowance.h"
#include "agent/policy/labels.h"
#include "agent/policy/objects.h"
#include "agent/policy/port_sets.h"
#include "agent/policy/snapshot.h"

namespace warden::nodestate {

using common::Shared;

// A pod identity, as the node needs to know it (the verdict log names pods and accounts).
struct IdentityRecord {
  std::string name, ns, service_account;
  policy::Labels labels;
  uint8_t isolated = 0;                        // WD_ISOLATED_*
  std::vector<policy::NamedPort> named_ports;  // the container ports its pods name
  bool operator==(const IdentityRecord&) const = default;
};

// A pod scheduled on the node: the agent finds its cgroup by uid.
struct ScheduledPod {
  std::string uid;
  uint32_t identity = 0;
  bool gateway = false;  // an egress-gateway pod (WD_EP_GATEWAY)
  std::vector<policy::IpAddress> addresses;
  bool operator==(const ScheduledPod&) const = default;
};

// An egress gateway pod, as a node's forwarder needs it: where to connect, and which node's
// certificate the gateway must present (it presents its node's).
struct GatewayEndpoint {
  policy::IpAddress address;
  std::string node;
  uint16_t port = 0;  // its mutual-TLS port
  std::string pod;    // "ns/name"
  bool operator==(const GatewayEndpoint&) const = default;
};

// The gateway's mutual-TLS port when its pod declares no containerPort named kGatewayPortName.
inline constexpr uint16_t kDefaultGatewayPort = 15008;
inline constexpr char kGatewayPortName[] = "mtls";

using IdentityMap = std::map<uint32_t, IdentityRecord>;
// B-trees: a state holds tens of thousands of these entries, built, compared and copied on
// every change; a node-per-entry std::map spends most of that time in malloc.
using IpcacheMap = absl::btree_map<policy::Cidr, wd_ipcache_value>;
// One local identity's policy entries.
using PolicyBlock = absl::btree_map<policy::PolicyKey, wd_policy_value>;
using PodMap = absl::btree_map<std::string, ScheduledPod>;  // by "ns/name"
// The objects the policy entries were compiled from, without where they were read: the verdict
// log names the NetworkPolicy behind a verdict from them. Every namespace (peers are selected by
// their labels), and the NetworkPolicies of the namespaces the node's pods are in (only those
// select them), a block per namespace.
using NamespaceMap = common::SharedMap<std::map<std::string, policy::Namespace>>;
using NetworkPolicyBlock = std::map<std::string, policy::NetworkPolicy>;  // by name

// Versions of a node's state share the cluster-wide parts (identity catalogue, ipcache, port
// sets) and each identity's policy entries (agent/common/shared.h): a new version costs what
// changed, and comparing two versions skips what they share.
struct NodeState {
  uint64_t version = 0;
  std::string node;
  std::vector<policy::IpAddress> node_addresses;
  Shared<IdentityMap> identities;
  common::SharedMap<PodMap> pods;  // the pods scheduled on this node
  Shared<IpcacheMap> ipcache;
  // The entries of the identities of this node's pods, by local identity.
  std::map<uint32_t, Shared<PolicyBlock>> policy;
  Shared<policy::PortsetList> portsets;
  uint8_t pool = WD_POOL_DEFAULT;
  std::vector<policy::Allowance> allowances;
  // The gateway pods on gateway-pool nodes (egress::GatewayPods' order): where a default-pool
  // node's forwarder carries its pods' world-bound flows.
  std::vector<GatewayEndpoint> gateways;
  NamespaceMap namespaces;                                             // by name
  std::map<std::string, Shared<NetworkPolicyBlock>> network_policies;  // by namespace

  // Same contents, whatever the version.
  bool SameContents(const NodeState& o) const;
  size_t PolicyEntries() const;
  template <typename Fn>  // fn(const policy::PolicyKey&, const wd_policy_value&)
  void ForEachPolicy(Fn fn) const {
    for (const auto& [local, block] : policy) {
      for (const auto& [k, v] : *block) fn(k, v);
    }
  }
};

}  // namespace warden::nodestate
