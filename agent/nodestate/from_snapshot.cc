#include "agent/nodestate/from_snapshot.h"

#include <algorithm>
#include <optional>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "agent/egress/gateway_config.h"

namespace warden::nodestate {

namespace {

// `fresh`, or `old` itself when their contents are the same.
template <typename T>
Shared<T> Reuse(T fresh, const Shared<T>* old) {
  if (old && **old == fresh) return *old;
  return Shared<T>(std::move(fresh));
}

// Pod identities, and namespace identities (a namespace's name, for the verdict log).
IdentityMap PodIdentities(const policy::Snapshot& snap) {
  IdentityMap ids;
  for (const auto& id : snap.identities) {
    if (id.kind != policy::IdentityKind::kPod && id.kind != policy::IdentityKind::kNamespace)
      continue;
    ids[id.id] =
        IdentityRecord{id.name, id.ns, id.service_account, id.labels, id.isolated, id.named_ports};
  }
  return ids;
}

// Whether `snap` was compiled on top of the compile `previous` was cut from (a policy change):
// then it has the same base, and its entries and identities' isolation are `previous`'s except
// for the local identities it names (Snapshot::policy_changed_locals).
bool BuiltOn(const policy::Snapshot& snap, const SharedParts* previous) {
  return previous && snap.base && previous->base == snap.base && snap.policy_changed_from &&
         previous->policy_build == snap.policy_changed_from;
}

// The catalogue records of every pod and namespace identity; on top of `previous` (BuiltOn),
// its records with the isolation of the recompiled identities set.
Shared<IdentityMap> Identities(const policy::Snapshot& snap, const SharedParts* previous,
                               bool built_on) {
  if (built_on) {
    Shared<IdentityMap> ids = previous->identities;
    for (uint32_t local : snap.policy_changed_locals) {
      auto it = ids->find(local);
      const uint8_t isolated = snap.IsolationOf(local);
      if (it != ids->end() && it->second.isolated != isolated) ids.Mut()[local].isolated = isolated;
    }
    return ids;
  }
  return Reuse(PodIdentities(snap), previous ? &previous->identities : nullptr);
}

bool InCatalogue(uint32_t id) {
  return common::IsPodIdentity(id) || common::IsNamespaceIdentity(id);
}

// The pod and namespace identities a block's entries name as remotes.
std::vector<uint32_t> RemotesOf(const PolicyBlock& block) {
  std::vector<uint32_t> out;
  for (const auto& [k, _] : block) {
    if (InCatalogue(k.remote)) out.push_back(k.remote);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Each node's catalogue: the previous one while its identities and their records are the same.
// `new_remotes`: the identities whose remotes may differ from the previous parts' (none: any).
void Catalogues(const SharedParts* previous,
                const std::optional<absl::flat_hash_set<uint32_t>>& new_remotes,
                SharedParts* parts) {
  const bool same_ground = previous && previous->identities.SameObject(parts->identities) &&
                           previous->pods_by_node.SameObject(parts->pods_by_node);
  auto same_remotes = [&](uint32_t id) {
    if (new_remotes) return !new_remotes->contains(id);
    auto a = parts->remotes.find(id);
    auto b = previous->remotes.find(id);
    if (a == parts->remotes.end() || b == previous->remotes.end())
      return (a == parts->remotes.end()) == (b == previous->remotes.end());
    return a->second.SameObject(b->second);
  };
  for (const auto& [node, on] : *parts->pods_by_node) {
    // The same pods, the same catalogue records and each pod's remotes the same objects: the
    // previous catalogue, without building its list again (a change touches a few nodes).
    if (same_ground) {
      auto it = previous->catalogue_by_node.find(node);
      if (it != previous->catalogue_by_node.end() &&
          std::all_of(on.identities.begin(), on.identities.end(), same_remotes)) {
        parts->catalogue_by_node.emplace_hint(parts->catalogue_by_node.end(), node, it->second);
        continue;
      }
    }
    std::vector<uint32_t> ids = on.identities;
    for (uint32_t local : on.identities) {
      if (auto r = parts->remotes.find(local); r != parts->remotes.end())
        ids.insert(ids.end(), r->second->begin(), r->second->end());
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    const SharedParts::NodeCatalogue* old = nullptr;
    if (previous) {
      auto it = previous->catalogue_by_node.find(node);
      if (it != previous->catalogue_by_node.end()) old = &it->second;
    }
    SharedParts::NodeCatalogue& mine =
        parts->catalogue_by_node.try_emplace(parts->catalogue_by_node.end(), node)->second;
    if (old && old->ids == ids && previous->identities.SameObject(parts->identities)) {
      mine = *old;
      continue;
    }
    IdentityMap fresh;
    for (uint32_t id : ids) {
      if (auto r = parts->identities->find(id); r != parts->identities->end())
        fresh.emplace_hint(fresh.end(), id, r->second);
    }
    mine.catalogue = Reuse(std::move(fresh), old ? &old->catalogue : nullptr);
    mine.ids = std::move(ids);
  }
}

IpcacheMap Ipcache(const policy::Snapshot& snap) {
  IpcacheMap ipc;
  for (const auto& [k, v] : snap.ipcache) ipc.emplace_hint(ipc.end(), policy::CidrOfKey(k), v);
  return ipc;
}

// The policy blocks of the local identities whose entries `snap` may have changed: all of them,
// or (`only_changed`: built on `previous`, BuiltOn) those it names. Returns the local identities
// whose remotes are a new object then (none: any may be).
std::optional<absl::flat_hash_set<uint32_t>> PolicyBlocks(const policy::Snapshot& snap,
                                                          const SharedParts* previous,
                                                          bool only_changed, SharedParts* parts) {
  absl::flat_hash_set<uint32_t> changed;
  if (only_changed) {
    parts->policy = previous->policy;
    parts->remotes = previous->remotes;
    changed.insert(snap.policy_changed_locals.begin(), snap.policy_changed_locals.end());
    for (uint32_t local : snap.policy_changed_locals) {
      parts->policy.erase(local);
      parts->remotes.erase(local);
    }
  }
  // Sorted by key, one local identity's entries are adjacent: each block is built by appending.
  std::vector<std::pair<policy::PolicyKey, wd_policy_value>> entries;
  entries.reserve(only_changed ? 0 : snap.policy.size());
  for (const auto& [k, v] : snap.policy) {
    if (!only_changed || changed.contains(k.local)) entries.emplace_back(k, v);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  absl::flat_hash_set<uint32_t> new_remotes;
  for (size_t i = 0; i < entries.size();) {
    const uint32_t local = entries[i].first.local;
    PolicyBlock block;
    for (; i < entries.size() && entries[i].first.local == local; ++i)
      block.emplace_hint(block.end(), entries[i].first, entries[i].second);
    const Shared<PolicyBlock>* old = nullptr;
    if (previous) {
      auto it = previous->policy.find(local);
      if (it != previous->policy.end()) old = &it->second;
    }
    Shared<PolicyBlock> mine = Reuse(std::move(block), old);
    const Shared<std::vector<uint32_t>>* old_remotes = nullptr;
    if (previous) {
      auto it = previous->remotes.find(local);
      if (it != previous->remotes.end()) old_remotes = &it->second;
    }
    // A block whose ports changed names the same remotes: the node catalogues stay.
    Shared<std::vector<uint32_t>> remotes = old && old_remotes && old->SameObject(mine)
                                                ? *old_remotes
                                                : Reuse(RemotesOf(*mine), old_remotes);
    if (!old_remotes || !old_remotes->SameObject(remotes)) new_remotes.insert(local);
    parts->remotes.insert_or_assign(local, std::move(remotes));
    parts->policy.insert_or_assign(local, std::move(mine));
  }
  if (!only_changed) return std::nullopt;
  // Removed blocks: their remotes are gone.
  for (uint32_t local : snap.policy_changed_locals) {
    if (!parts->remotes.contains(local)) new_remotes.insert(local);
  }
  return new_remotes;
}

// The namespaces and each namespace's NetworkPolicies, without where they were read (a policy
// moved within its file is the same policy); a namespace's block is the previous one when equal,
// and everything is when the cluster state's maps are the ones the previous parts came from.
void Objects(const policy::ClusterState& state, const SharedParts* previous, SharedParts* parts) {
  parts->namespaces_from = state.namespaces.Pin();
  parts->policies_from = state.policies.Pin();
  if (previous && previous->namespaces_from == parts->namespaces_from) {
    parts->namespaces = previous->namespaces;
  } else {
    std::map<std::string, policy::Namespace> nss;
    for (const auto& [name, ns] : state.namespaces) {
      policy::Namespace bare;
      bare.name = name;
      bare.labels = ns.labels;
      nss.emplace(name, std::move(bare));
    }
    parts->namespaces = std::move(nss);
    if (previous && previous->namespaces == parts->namespaces)
      parts->namespaces = previous->namespaces;
  }
  if (previous && previous->policies_from == parts->policies_from) {
    parts->network_policies = previous->network_policies;
    return;
  }
  std::map<std::string, NetworkPolicyBlock> blocks;
  for (const auto& [key, np] : state.policies) {
    policy::NetworkPolicy bare = np;
    bare.source = {};
    blocks[np.ns].emplace(np.name, std::move(bare));
  }
  for (auto& [ns, block] : blocks) {
    const Shared<NetworkPolicyBlock>* old = nullptr;
    if (previous) {
      auto it = previous->network_policies.find(ns);
      if (it != previous->network_policies.end()) old = &it->second;
    }
    parts->network_policies.emplace(ns, Reuse(std::move(block), old));
  }
}

SharedParts::PodsByNode PodsByNode(const policy::ClusterState& state,
                                   const policy::Snapshot& snap) {
  // state.pods and snap.pods are both ordered by key: walk them together.
  SharedParts::PodsByNode by_node;
  auto rec = snap.pods.begin();
  for (const auto& [key, pod] : state.pods) {
    while (rec != snap.pods.end() && rec->first < key) ++rec;
    if (pod.host_network || rec == snap.pods.end() || rec->first != key) continue;
    // Keys arrive in order: each lands at the end of its node's map, and a namespace's pods
    // are adjacent.
    SharedParts::NodePods& on = by_node[pod.node_name];
    PodMap& pods = on.pods.Mut();
    pods.emplace_hint(pods.end(), key, ScheduledPod{pod.uid, rec->second.identity, false, pod.ips});
    if (on.namespaces.empty() || on.namespaces.back() != pod.ns) on.namespaces.push_back(pod.ns);
    on.identities.push_back(rec->second.identity);
  }
  for (auto& [_, on] : by_node) {
    std::sort(on.namespaces.begin(), on.namespaces.end());  // "a-b/x" sorts before "a/x"
    std::sort(on.identities.begin(), on.identities.end());
    on.identities.erase(std::unique(on.identities.begin(), on.identities.end()),
                        on.identities.end());
  }
  return by_node;
}

}  // namespace

std::vector<GatewayEndpoint> GatewayEndpoints(const policy::ClusterState& state,
                                              const std::string& gateway_namespace) {
  std::vector<GatewayEndpoint> out;
  if (gateway_namespace.empty()) return out;
  for (const policy::Pod* p : egress::GatewayPods(state, gateway_namespace)) {
    auto node = state.nodes.find(p->node_name);
    if (node == state.nodes.end() || !policy::IsGatewayPool(node->second) || p->ips.empty())
      continue;
    GatewayEndpoint g;
    g.address = p->ips.front();
    g.node = p->node_name;
    g.port = kDefaultGatewayPort;
    for (const policy::ContainerPort& cp : p->ports) {
      if (cp.name == kGatewayPortName && cp.protocol == policy::Protocol::kTCP && cp.port > 0 &&
          cp.port <= 65535)
        g.port = static_cast<uint16_t>(cp.port);
    }
    g.pod = p->Key();
    out.push_back(std::move(g));
  }
  return out;
}

SharedParts ComputeSharedParts(const policy::ClusterState& state, const policy::Snapshot& snap,
                               const SharedParts* previous) {
  SharedParts parts;
  const bool built_on = BuiltOn(snap, previous);
  parts.identities = Identities(snap, previous, built_on);
  Objects(state, previous, &parts);
  parts.portsets = Reuse(snap.portsets, previous ? &previous->portsets : nullptr);
  parts.policy_build = snap.policy_build;
  std::optional<absl::flat_hash_set<uint32_t>> new_remotes =
      PolicyBlocks(snap, previous, built_on, &parts);
  // The same base: the same ipcache and pods as the previous snapshot (a policy change).
  parts.base = snap.base;
  if (previous && snap.base && previous->base == snap.base) {
    parts.ipcache = previous->ipcache;
    parts.pods_by_node = previous->pods_by_node;
    parts.node_names = previous->node_names;  // the same base: the same pods and nodes
  } else {
    parts.ipcache = Reuse(Ipcache(snap), previous ? &previous->ipcache : nullptr);
    parts.pods_by_node = Shared<SharedParts::PodsByNode>(PodsByNode(state, snap));
    parts.node_names = Shared<std::vector<std::string>>(NodeNames(state));
  }
  Catalogues(previous, new_remotes, &parts);
  return parts;
}

NodeState ComputeNodeState(const policy::ClusterState& state, const SharedParts& parts,
                           const std::string& node, const NodeStateOptions& options) {
  NodeState s;
  s.node = node;
  s.allowances = options.allowances;
  if (auto n = state.nodes.find(node); n != state.nodes.end()) {
    s.node_addresses = n->second.addresses;
    s.pool = policy::IsGatewayPool(n->second) ? WD_POOL_GATEWAY : WD_POOL_DEFAULT;
  }
  s.gateways = GatewayEndpoints(state, options.gateway_namespace);
  if (auto c = parts.catalogue_by_node.find(node); c != parts.catalogue_by_node.end())
    s.identities = c->second.catalogue;
  s.ipcache = parts.ipcache;
  s.portsets = parts.portsets;
  s.namespaces = parts.namespaces;
  auto on = parts.pods_by_node->find(node);
  if (on == parts.pods_by_node->end()) return s;
  s.pods = on->second.pods;
  // Egress-gateway pods are marked in this state's own copy (only gateway nodes have them).
  if (!options.gateway_namespace.empty()) {
    const std::string gw_prefix = options.gateway_namespace + "/";
    std::vector<std::string> gateways;
    for (auto it = s.pods.get().lower_bound(gw_prefix);
         it != s.pods.end() && it->first.starts_with(gw_prefix); ++it)
      gateways.push_back(it->first);
    for (const auto& key : gateways) s.pods.Mut()[key].gateway = true;
  }
  // Both lists are sorted: each entry lands at the end of its map.
  for (const std::string& ns : on->second.namespaces) {
    if (auto b = parts.network_policies.find(ns); b != parts.network_policies.end())
      s.network_policies.emplace_hint(s.network_policies.end(), b->first, b->second);
  }
  for (uint32_t local : on->second.identities) {
    if (auto b = parts.policy.find(local); b != parts.policy.end())
      s.policy.emplace_hint(s.policy.end(), local, b->second);
  }
  return s;
}

NodeState ComputeNodeState(const policy::ClusterState& state, const policy::Snapshot& snap,
                           const std::string& node, const NodeStateOptions& options) {
  return ComputeNodeState(state, ComputeSharedParts(state, snap), node, options);
}

std::vector<std::string> NodeNames(const policy::ClusterState& state) {
  // A hash set of views: a cluster's pods name a few thousand nodes 150,000 times.
  absl::flat_hash_set<std::string_view> names;
  for (const auto& [n, _] : state.nodes) names.insert(n);
  for (const auto& [_, p] : state.pods) {
    if (!p.node_name.empty()) names.insert(p.node_name);
  }
  std::vector<std::string> out(names.begin(), names.end());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace warden::nodestate
