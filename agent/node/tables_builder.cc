#include "agent/node/tables_builder.h"

#include <cstring>

namespace warden::node {

using policy::Allowance;

namespace {

// The ports a set of allowances opens, as a policy entry's would be: ranges per protocol.
struct LockdownValue {
  std::vector<policy::PortRange> sets[WD_L4_COUNT];
  bool other = false;
  void Add(const policy::Allowance& a) {
    for (policy::Protocol p : policy::kProtocols) {
      if (!a.protocol || *a.protocol == p) sets[L4Index(p)].push_back({a.port_lo, a.port_hi});
    }
    if (!a.protocol) other = true;
  }
};

// The lockdown's sets come after the state's: an equal set already there is shared, a new one
// appended (its id must stay below the id space of wd_policy_value.portset[]).
uint16_t InternPortset(const std::vector<policy::PortRange>& ranges,
                       const policy::PortsetList& state_sets,
                       std::vector<std::vector<policy::PortRange>>* extra,
                       policy::KernelPortsets* k) {
  std::vector<policy::PortRange> r = policy::NormalizeRanges(ranges);
  for (size_t i = 0; i < state_sets.size(); ++i) {
    if (state_sets[i] == r) return static_cast<uint16_t>(i);
  }
  for (size_t i = 0; i < extra->size(); ++i) {
    if ((*extra)[i] == r) return static_cast<uint16_t>(state_sets.size() + i);
  }
  policy::AppendKernelPortset(r, k);
  extra->push_back(std::move(r));
  return static_cast<uint16_t>(k->sets.size() - 1);
}

void BuildEndpoints(const nodestate::NodeState& state, const std::vector<LocalPod>& pods,
                    datapath::NodeTables* t) {
  t->endpoints.clear();
  for (const auto& p : pods) {
    auto it = state.pods.find(p.key);
    if (it == state.pods.end()) continue;  // not a pod the state knows: stays unknown
    uint32_t id = it->second.identity;
    wd_endpoint ep{};
    ep.identity = id;
    if (auto i = state.identities->find(id); i != state.identities->end())
      ep.isolated = i->second.isolated;
    ep.flags = it->second.gateway ? WD_EP_GATEWAY : 0;
    t->endpoints[p.cgroup_id] = ep;
  }
}

// Each local pod's interface: the pod as its endpoint says (identity, isolation, gateway) and
// the addresses it owns (the source of everything it sends, the destination of what it gets).
void BuildIfaces(const nodestate::NodeState& state, const std::vector<LocalPod>& pods,
                 datapath::NodeTables* t) {
  t->ifaces.clear();
  for (const auto& p : pods) {
    if (!p.ifindex) continue;
    auto it = state.pods.find(p.key);
    if (it == state.pods.end()) continue;
    const nodestate::ScheduledPod& pod = it->second;
    wd_iface ifc{};
    ifc.cgroup_id = p.cgroup_id;
    ifc.identity = pod.identity;
    if (auto i = state.identities->find(pod.identity); i != state.identities->end())
      ifc.isolated = i->second.isolated;
    ifc.flags = pod.gateway ? WD_EP_GATEWAY : 0;
    for (const auto& ip : pod.addresses) {
      if (ip.family == policy::Family::kV4 && ifc.addrs4 < WD_IFACE_ADDRS) {
        std::memcpy(ifc.addr4[ifc.addrs4++], ip.bytes.data(), 4);
      } else if (ip.family == policy::Family::kV6 && ifc.addrs6 < WD_IFACE_ADDRS) {
        std::memcpy(ifc.addr6[ifc.addrs6++], ip.bytes.data(), 16);
      }
    }
    t->ifaces[p.ifindex] = ifc;
  }
}

void BuildIpcache(const nodestate::NodeState& state, datapath::NodeTables* t) {
  t->ipcache.clear();
  t->ipcache.reserve(state.ipcache->size());
  for (const auto& [c, v] : *state.ipcache) t->ipcache[policy::MakeIpcacheKey(c)] = v;
  for (const auto& ip : state.node_addresses) {
    auto it = t->ipcache.find(policy::MakeIpcacheKey(policy::HostPrefix(ip)));
    if (it != t->ipcache.end()) it->second.identity = WD_ID_LOCAL_HOST;
  }
}

// Port sets and the lockdown table (which interns its sets after the state's).
void BuildPortsetsAndLockdown(const nodestate::NodeState& state,
                              const std::vector<Allowance>& allowances, datapath::NodeTables* t) {
  policy::KernelPortsets k;
  k.sets.reserve(state.portsets->size());
  for (const auto& set : *state.portsets) policy::AppendKernelPortset(set, &k);
  std::vector<std::vector<policy::PortRange>> extra;
  t->lockdown.clear();
  // Lockdown: an LPM lookup finds only the longest prefix, so each allowance also carries the
  // ports of every allowance that covers it.
  for (const auto& a : allowances) {
    LockdownValue lv;
    for (const auto& b : allowances) {
      if (b.cidr.Covers(a.cidr)) lv.Add(b);
    }
    wd_policy_value v{};
    for (int l4 = 0; l4 < WD_L4_COUNT; ++l4)
      v.portset[l4] = InternPortset(lv.sets[l4], *state.portsets, &extra, &k);
    v.flags = lv.other ? WD_POLICY_OTHER_L4 : 0;
    t->lockdown[policy::MakeIpcacheKey(a.cidr)] = v;
  }
  t->portsets = std::move(k.sets);
  t->portranges = std::move(k.ranges);
}

}  // namespace

datapath::NodeTables BuildNodeTables(const nodestate::NodeState& state,
                                     const std::vector<LocalPod>& pods,
                                     const std::vector<Allowance>& allowances,
                                     const datapath::NodeTables* previous,
                                     const nodestate::NodeState* previous_state,
                                     datapath::TableChanges* changes) {
  datapath::TableChanges local_changes;
  datapath::TableChanges& ch = changes ? *changes : local_changes;
  if (previous && previous_state) {
    datapath::NodeTables t = *previous;
    TablesUndo undo;
    PatchNodeTables(state, pods, allowances, *previous_state, &t, &ch, &undo);
    return t;
  }
  ch = datapath::TableChanges{};
  datapath::NodeTables t;
  BuildEndpoints(state, pods, &t);
  BuildIfaces(state, pods, &t);
  BuildIpcache(state, &t);
  t.policy.reserve(state.PolicyEntries());
  state.ForEachPolicy(
      [&](const policy::PolicyKey& k, const wd_policy_value& v) { t.policy[k.ToAbi()] = v; });
  BuildPortsetsAndLockdown(state, allowances, &t);
  return t;
}

void PatchNodeTables(const nodestate::NodeState& state, const std::vector<LocalPod>& pods,
                     const std::vector<Allowance>& allowances,
                     const nodestate::NodeState& previous_state, datapath::NodeTables* t,
                     datapath::TableChanges* changes, TablesUndo* undo) {
  datapath::TableChanges& ch = *changes;
  ch = datapath::TableChanges{};
  ch.known = true;
  *undo = TablesUndo{};
  undo->endpoints = std::move(t->endpoints);
  BuildEndpoints(state, pods, t);
  undo->ifaces = std::move(t->ifaces);
  BuildIfaces(state, pods, t);
  if (previous_state.ipcache.SameObject(state.ipcache) &&
      previous_state.node_addresses == state.node_addresses) {
    ch.ipcache = false;
  } else {
    undo->ipcache = std::move(t->ipcache);
    BuildIpcache(state, t);
  }
  // The blocks not shared with the previous state: their old keys out, their new keys in.
  // Each key belongs to one block (its local identity), so each is recorded once.
  for (const auto& [local, block] : previous_state.policy) {
    auto now = state.policy.find(local);
    if (now != state.policy.end() && now->second.SameObject(block)) continue;
    for (const auto& [k, v] : *block) {
      datapath::Raw<wd_policy_key> key = k.ToAbi();
      auto it = t->policy.find(key);
      if (it == t->policy.end()) continue;
      undo->policy.emplace_back(key, it->second);
      t->policy.erase(it);
      ch.policy.push_back(key);
    }
  }
  for (const auto& [local, block] : state.policy) {
    auto was = previous_state.policy.find(local);
    const bool had_block = was != previous_state.policy.end();
    if (had_block && was->second.SameObject(block)) continue;
    for (const auto& [k, v] : *block) {
      datapath::Raw<wd_policy_key> key = k.ToAbi();
      if (!had_block || !was->second->count(k)) {
        undo->policy.emplace_back(key, std::nullopt);
        ch.policy.push_back(key);
      }
      t->policy[key] = v;
    }
  }
  undo->portsets = std::move(t->portsets);
  undo->portranges = std::move(t->portranges);
  undo->lockdown = std::move(t->lockdown);
  BuildPortsetsAndLockdown(state, allowances, t);
}

bool TablesUndo::Unchanged(const datapath::NodeTables& now) const {
  for (const auto& [k, old] : policy) {
    auto it = now.policy.find(k);
    if ((it == now.policy.end()) != !old.has_value()) return false;
    if (old && !datapath::SameBytes(*old, it->second)) return false;
  }
  if (ipcache && !datapath::SameEntries(*ipcache, now.ipcache)) return false;
  if (!datapath::SameArray(portsets, now.portsets) ||
      !datapath::SameArray(portranges, now.portranges))
    return false;
  return datapath::SameEntries(endpoints, now.endpoints) &&
         datapath::SameEntries(lockdown, now.lockdown) && datapath::SameEntries(ifaces, now.ifaces);
}

void RestoreNodeTables(datapath::NodeTables* t, TablesUndo&& undo) {
  for (auto& [k, old] : undo.policy) {
    if (old)
      t->policy[k] = *old;
    else
      t->policy.erase(k);
  }
  if (undo.ipcache) t->ipcache = std::move(*undo.ipcache);
  t->endpoints = std::move(undo.endpoints);
  t->ifaces = std::move(undo.ifaces);
  t->portsets = std::move(undo.portsets);
  t->portranges = std::move(undo.portranges);
  t->lockdown = std::move(undo.lockdown);
}

}  // namespace warden::node
