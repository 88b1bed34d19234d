#include "agent/nodestate/from_snapshot.h"

#include <algorithm>
#include <set>
#include <tuple>

#include "absl/container/flat_hash_set.h"

namespace warden::nodestate {

namespace {

// `fresh`, or `old` itself when their contents are the same.
template <typename T>
Shared<T> Reuse(T fresh, const Shared<T>* old) {
  if (old && **old == fresh) return *old;
  return Shared<T>(std::move(fresh));
}

IdentityMap PodIdentities(const policy::Snapshot& snap) {
  IdentityMap ids;
  for (const auto& id : snap.identities) {
    if (id.kind != policy::IdentityKind::kPod) continue;
    ids[id.id] = IdentityRecord{id.name, id.ns, id.service_account, id.labels, id.isolated};
  }
  return ids;
}

IpcacheMap Ipcache(const policy::Snapshot& snap) {
  IpcacheMap ipc;
  for (const auto& [k, v] : snap.ipcache) ipc.emplace_hint(ipc.end(), policy::CidrOfKey(k), v);
  return ipc;
}

// The policy blocks of the local identities whose entries `snap` may have changed: all of them,
// or (when the previous parts hold the entries `snap` was compiled on top of) those it names.
void PolicyBlocks(const policy::Snapshot& snap, const SharedParts* previous, SharedParts* parts) {
  absl::flat_hash_set<uint32_t> changed;
  const bool only_changed =
      previous && snap.policy_changed_from && previous->policy_build == snap.policy_changed_from;
  if (only_changed) {
    parts->policy = previous->policy;
    changed.insert(snap.policy_changed_locals.begin(), snap.policy_changed_locals.end());
    for (uint32_t local : snap.policy_changed_locals) parts->policy.erase(local);
  }
  // Sorted by key, one local identity's entries are adjacent: each block is built by appending.
  std::vector<std::pair<policy::PolicyKey, wd_policy_value>> entries;
  entries.reserve(only_changed ? 0 : snap.policy.size());
  for (const auto& [k, v] : snap.policy) {
    if (!only_changed || changed.contains(k.local)) entries.emplace_back(k, v);
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
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
    parts->policy.insert_or_assign(local, Reuse(std::move(block), old));
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
    by_node[pod.node_name].push_back(
        {key, ScheduledPod{pod.uid, rec->second.identity, false, pod.ips}});
  }
  return by_node;
}

}  // namespace

SharedParts ComputeSharedParts(const policy::ClusterState& state, const policy::Snapshot& snap,
                               const SharedParts* previous) {
  SharedParts parts;
  parts.identities = Reuse(PodIdentities(snap), previous ? &previous->identities : nullptr);
  parts.portsets = Reuse(snap.portsets, previous ? &previous->portsets : nullptr);
  parts.policy_build = snap.policy_build;
  PolicyBlocks(snap, previous, &parts);
  // The same base: the same ipcache and pods as the previous snapshot (a policy change).
  parts.base = snap.base;
  if (previous && snap.base && previous->base == snap.base) {
    parts.ipcache = previous->ipcache;
    parts.pods_by_node = previous->pods_by_node;
    return parts;
  }
  parts.ipcache = Reuse(Ipcache(snap), previous ? &previous->ipcache : nullptr);
  parts.pods_by_node = Shared<SharedParts::PodsByNode>(PodsByNode(state, snap));
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
  s.identities = parts.identities;
  s.ipcache = parts.ipcache;
  s.portsets = parts.portsets;
  auto on = parts.pods_by_node->find(node);
  if (on == parts.pods_by_node->end()) return s;
  const std::string gw_prefix = options.gateway_namespace + "/";
  PodMap& pods = s.pods.Mut();
  for (const auto& [key, rec] : on->second) {
    auto it = pods.emplace_hint(pods.end(), key, rec);
    it->second.gateway = !options.gateway_namespace.empty() && key.rfind(gw_prefix, 0) == 0;
    if (s.policy.count(rec.identity)) continue;
    if (auto b = parts.policy.find(rec.identity); b != parts.policy.end())
      s.policy.emplace(rec.identity, b->second);
  }
  return s;
}

NodeState ComputeNodeState(const policy::ClusterState& state, const policy::Snapshot& snap,
                           const std::string& node, const NodeStateOptions& options) {
  return ComputeNodeState(state, ComputeSharedParts(state, snap), node, options);
}

std::vector<std::string> NodeNames(const policy::ClusterState& state) {
  std::set<std::string> names;
  for (const auto& [n, _] : state.nodes) names.insert(n);
  for (const auto& [_, p] : state.pods) {
    if (!p.node_name.empty()) names.insert(p.node_name);
  }
  return {names.begin(), names.end()};
}

}  // namespace warden::nodestate
