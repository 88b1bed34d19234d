// Cutting node states from a compiled snapshot. What every node's state shares is computed once
// per compile (SharedParts), reusing the previous compile's parts where they did not change, so
// that versions share them and comparisons skip them; a node's state then takes its pods and the
// policy entries of their identities.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/nodestate/node_state.h"
#include "agent/policy/cluster.h"
#include "agent/policy/snapshot.h"

namespace warden::nodestate {

// What every node's state of one compile shares.
struct SharedParts {
  Shared<IdentityMap> identities;
  Shared<IpcacheMap> ipcache;
  Shared<policy::PortsetList> portsets;
  std::map<uint32_t, Shared<PolicyBlock>> policy;  // every pod identity's entries
  // The pod and namespace identities each block's entries name as their remote (sorted).
  std::map<uint32_t, Shared<std::vector<uint32_t>>> remotes;
  // Each node's identity catalogue: its pods' identities and those their entries name, not the
  // cluster's (a node of 30 pods in a cluster of 15,000 identities needs a few dozen). `ids`
  // is what `catalogue` was made of, to reuse it while they stay the same.
  struct NodeCatalogue {
    std::vector<uint32_t> ids;
    Shared<IdentityMap> catalogue;
  };
  std::map<std::string, NodeCatalogue> catalogue_by_node;
  // Each node's pods ("ns/name" -> record, `gateway` not set yet), and the namespaces and
  // identities they are in (sorted, unique), for cutting the node's state; "" holds the pods
  // not scheduled yet. Node states share the pod maps: a compile that kept the pods (a policy
  // change) costs no copy of them, and comparing two versions skips them.
  struct NodePods {
    common::SharedMap<PodMap> pods;
    std::vector<std::string> namespaces;
    std::vector<uint32_t> identities;
  };
  using PodsByNode = std::map<std::string, NodePods>;
  Shared<PodsByNode> pods_by_node;
  Shared<std::vector<std::string>> node_names;  // NodeNames(state), kept with the pods
  NamespaceMap namespaces;
  std::map<std::string, Shared<NetworkPolicyBlock>> network_policies;  // every namespace's
  // The cluster state's maps the two above were made from (kept, so that their identity means
  // "unchanged" for the next compile).
  std::shared_ptr<const void> namespaces_from, policies_from;
  std::shared_ptr<const void> base;          // the snapshot's base (policy::Snapshot::base)
  std::shared_ptr<const void> policy_build;  // and its policy_build
};

// With `previous` (the parts of the snapshot before), every part whose contents did not change
// is the previous object itself.
SharedParts ComputeSharedParts(const policy::ClusterState& state, const policy::Snapshot& snap,
                               const SharedParts* previous = nullptr);

// How node states are cut: which namespace's pods are egress gateways, and which world
// destinations default-pool nodes may still reach directly.
struct NodeStateOptions {
  std::string gateway_namespace = "warden-egress";
  std::vector<policy::Allowance> allowances;
};

// The state of `node`: its pods and their identities' policy entries, the identities those
// name, the whole ipcache and port sets, and its pool, decided by its Node object's pool label
// (policy::kNodePoolLabel). A node the cluster does not declare is a default-pool node.
NodeState ComputeNodeState(const policy::ClusterState& state, const SharedParts& parts,
                           const std::string& node, const NodeStateOptions& options);
// The same, computing the shared parts for this one state.
NodeState ComputeNodeState(const policy::ClusterState& state, const policy::Snapshot& snap,
                           const std::string& node, const NodeStateOptions& options = {});

// The gateway pods on gateway-pool nodes that have an address (egress::GatewayPods' order), each
// with its mutual-TLS port: its containerPort named kGatewayPortName, else kDefaultGatewayPort.
std::vector<GatewayEndpoint> GatewayEndpoints(const policy::ClusterState& state,
                                              const std::string& gateway_namespace);

// Every node that has a state to enforce: the declared nodes and those pods are scheduled on.
std::vector<std::string> NodeNames(const policy::ClusterState& state);

}  // namespace warden::nodestate
