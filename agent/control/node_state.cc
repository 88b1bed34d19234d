#include "agent/control/node_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::control {

namespace {

using policy::Cidr;
using policy::Family;
using policy::IpAddress;

std::vector<policy::PortRange> BitmapToRanges(const wd_portset& b) {
  std::vector<policy::PortRange> out;
  int start = -1;
  for (int p = 0; p <= 65536; ++p) {
    bool on = p < 65536 && ((b.bits[p / 64] >> (p % 64)) & 1);
    if (on && start < 0) start = p;
    if (!on && start >= 0) {
      out.push_back({static_cast<uint16_t>(start), static_cast<uint16_t>(p - 1)});
      start = -1;
    }
  }
  return out;
}

std::string AddrBytes(const IpAddress& a) {
  return std::string(reinterpret_cast<const char*>(a.bytes.data()),
                     a.family == Family::kV4 ? 4 : 16);
}

absl::StatusOr<IpAddress> AddrFrom(const std::string& b, const std::string& field) {
  IpAddress a;
  if (b.size() == 4) {
    a.family = Family::kV4;
  } else if (b.size() == 16) {
    a.family = Family::kV6;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": an address has 4 or 16 bytes, not ", b.size()));
  }
  std::memcpy(a.bytes.data(), b.data(), b.size());
  return a;
}

void ToWire(const Cidr& c, v1::Prefix* p) {
  p->set_address(AddrBytes(c.addr));
  p->set_length(c.prefix_len);
}

absl::StatusOr<Cidr> FromWire(const v1::Prefix& p, const std::string& field) {
  auto a = AddrFrom(p.address(), field + ".address");
  if (!a.ok()) return a.status();
  if (static_cast<int>(p.length()) > a->bits()) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".length: ", p.length(), " is longer than the address"));
  }
  auto c = policy::ParseCidr(absl::StrCat(a->ToString(), "/", p.length()));
  if (!c.ok()) return c.status();
  if (c->addr != *a) return absl::InvalidArgumentError(absl::StrCat(field, ": host bits set"));
  return *c;
}

void ToWire(uint32_t id, const IdentityRecord& r, v1::Identity* w) {
  w->set_id(id);
  w->set_name(r.name);
  w->set_namespace_(r.ns);
  w->set_service_account(r.service_account);
  for (const auto& [k, v] : r.labels) (*w->mutable_labels())[k] = v;
  w->set_isolated_ingress(r.isolated & WD_ISOLATED_INGRESS);
  w->set_isolated_egress(r.isolated & WD_ISOLATED_EGRESS);
}

void ToWire(const std::string& key, const PodRecord& r, v1::Pod* w) {
  size_t slash = key.find('/');
  w->set_namespace_(key.substr(0, slash));
  w->set_name(key.substr(slash + 1));
  w->set_uid(r.uid);
  w->set_identity(r.identity);
  w->set_gateway(r.gateway);
  for (const auto& a : r.addresses) w->add_addresses(AddrBytes(a));
}

void ToWire(const PolicyTuple& k, v1::PolicyKey* w) {
  w->set_local_identity(std::get<0>(k));
  w->set_remote_identity(std::get<1>(k));
  w->set_direction(std::get<2>(k) == WD_DIR_EGRESS ? v1::DIRECTION_EGRESS : v1::DIRECTION_INGRESS);
}

void ToWire(const PolicyTuple& k, const PolicyRecord& r, v1::PolicyEntry* w) {
  ToWire(k, w->mutable_key());
  w->set_tcp_portset(r.portset[WD_L4_TCP]);
  w->set_udp_portset(r.portset[WD_L4_UDP]);
  w->set_sctp_portset(r.portset[WD_L4_SCTP]);
  w->set_other_protocols(r.other);
}

void PortsetsToWire(const NodeState& s, v1::Update* u) {
  auto* ps = u->mutable_portsets();
  for (const auto& set : *s.portsets) {
    auto* w = ps->add_sets();
    for (const auto& [lo, hi] : set) {
      auto* r = w->add_ranges();
      r->set_first(lo);
      r->set_last(hi);
    }
  }
}

uint32_t ProtoNumber(const std::optional<policy::Protocol>& p) {
  if (!p) return 0;
  return *p == policy::Protocol::kTCP ? 6 : *p == policy::Protocol::kUDP ? 17 : 132;
}

void ConfigToWire(const NodeState& s, v1::Update* u) {
  auto* c = u->mutable_node_config();
  c->set_node(s.node);
  for (const auto& a : s.node_addresses) c->add_node_addresses(AddrBytes(a));
  c->set_pool(s.pool == WD_POOL_GATEWAY ? v1::POOL_GATEWAY : v1::POOL_DEFAULT);
  for (const auto& a : s.allowances) {
    auto* w = c->add_allowances();
    ToWire(a.cidr, w->mutable_prefix());
    w->set_protocol(ProtoNumber(a.protocol));
    w->set_port_first(a.port_lo);
    w->set_port_last(a.port_hi);
  }
}

absl::StatusOr<PolicyTuple> FromWire(const v1::PolicyKey& k, const std::string& field) {
  if (k.direction() != v1::DIRECTION_INGRESS && k.direction() != v1::DIRECTION_EGRESS) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".direction: unknown value ", k.direction()));
  }
  if (k.local_identity() < WD_ID_POD_MIN || k.local_identity() > WD_ID_POD_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ".local_identity: ", k.local_identity(), " is not a pod identity"));
  }
  if (k.remote_identity() == WD_ID_NONE)
    return absl::InvalidArgumentError(absl::StrCat(field, ".remote_identity: 0"));
  return PolicyTuple{
      k.local_identity(), k.remote_identity(),
      static_cast<uint8_t>(k.direction() == v1::DIRECTION_EGRESS ? WD_DIR_EGRESS : WD_DIR_INGRESS)};
}

}  // namespace

std::string Allowance::ToString() const {
  std::string s = cidr.ToString();
  if (port_lo != 0 || port_hi != 65535) {
    absl::StrAppend(&s, ":", port_lo);
    if (port_hi != port_lo) absl::StrAppend(&s, "-", port_hi);
  }
  if (protocol) absl::StrAppend(&s, "/", policy::ProtocolName(*protocol));
  return s;
}

absl::StatusOr<Allowance> ParseAllowance(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("allowance \"", text, "\": ", why,
                                                   " (expected CIDR[:PORT[-END]][/TCP|UDP|SCTP])"));
  };
  Allowance a;
  std::string rest = text;
  // The protocol, if any, follows the last '/' that comes after a ':' or the prefix length.
  size_t slash = rest.rfind('/');
  if (slash != std::string::npos) {
    if (auto p = policy::ParseProtocol(rest.substr(slash + 1))) {
      a.protocol = *p;
      rest = rest.substr(0, slash);
    }
  }
  size_t colon = rest.rfind(':');
  size_t plen = rest.rfind('/');
  std::string cidr = rest, ports;
  if (colon != std::string::npos && plen != std::string::npos && colon > plen) {
    cidr = rest.substr(0, colon);
    ports = rest.substr(colon + 1);
  }
  auto c = policy::ParseCidr(cidr);
  if (!c.ok()) return bad(std::string(c.status().message()));
  a.cidr = *c;
  if (!ports.empty()) {
    size_t dash = ports.find('-');
    int lo = 0, hi = 0;
    if (!absl::SimpleAtoi(ports.substr(0, dash), &lo) ||
        !absl::SimpleAtoi(
            dash == std::string::npos ? ports.substr(0, dash) : ports.substr(dash + 1), &hi) ||
        lo < 1 || hi > 65535 || hi < lo) {
      return bad("bad port or range");
    }
    a.port_lo = static_cast<uint16_t>(lo);
    a.port_hi = static_cast<uint16_t>(hi);
  }
  return a;
}

namespace {

// wd_ipcache_value is an ABI struct without operator==.
bool SameIpcache(const IpcacheMap& a, const IpcacheMap& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
           return x.first == y.first && x.second.identity == y.second.identity &&
                  x.second.cidr_identity == y.second.cidr_identity;
         });
}

}  // namespace

bool NodeState::SameContents(const NodeState& o) const {
  return node == o.node && node_addresses == o.node_addresses && pool == o.pool &&
         allowances == o.allowances && pods == o.pods && identities == o.identities &&
         policy == o.policy && portsets == o.portsets &&
         (ipcache.SameObject(o.ipcache) || SameIpcache(*ipcache, *o.ipcache));
}

size_t NodeState::PolicyEntries() const {
  size_t n = 0;
  for (const auto& [_, b] : policy) n += b->size();
  return n;
}

namespace {

// `fresh`, or `old` itself when their contents are the same.
template <typename T, typename Eq>
Shared<T> Reuse(T fresh, const Shared<T>* old, Eq eq) {
  if (old && eq(**old, fresh)) return *old;
  return Shared<T>(std::move(fresh));
}

}  // namespace

SharedParts ComputeSharedParts(const policy::ClusterState& state, const policy::Snapshot& snap,
                               const SharedParts* previous) {
  SharedParts parts;
  auto same = [](const auto& a, const auto& b) { return a == b; };
  IdentityMap ids;
  for (const auto& id : snap.identities) {
    if (id.kind != policy::IdentityKind::kPod) continue;
    ids[id.id] = IdentityRecord{id.name, id.ns, id.service_account, id.labels, id.isolated};
  }
  parts.identities = Reuse(std::move(ids), previous ? &previous->identities : nullptr, same);
  // The same base: the same ipcache and pods as the previous snapshot (a policy change).
  const bool same_base = previous && snap.base && previous->base == snap.base;
  parts.base = snap.base;
  if (same_base) {
    parts.ipcache = previous->ipcache;
  } else {
    IpcacheMap ipc;
    for (const auto& [k, v] : snap.ipcache) {
      IpAddress a;
      a.family = k.family == WD_AF_INET ? Family::kV4 : Family::kV6;
      std::memcpy(a.bytes.data(), k.addr, 16);
      ipc.emplace_hint(ipc.end(), Cidr{a, static_cast<int>(k.prefixlen - WD_IPCACHE_PREFIX_BASE)},
                       v);
    }
    parts.ipcache = Reuse(std::move(ipc), previous ? &previous->ipcache : nullptr, SameIpcache);
  }
  PortsetList sets;
  for (const auto& b : snap.portsets) sets.push_back(BitmapToRanges(b));
  parts.portsets = Reuse(std::move(sets), previous ? &previous->portsets : nullptr, same);
  // With the policy entries of the snapshot the previous parts came from, changed only for some
  // local identities, only those identities' blocks are built again.
  parts.policy_build = snap.policy_build;
  absl::flat_hash_set<uint32_t> changed;
  const bool only_changed =
      previous && snap.policy_changed_from && previous->policy_build == snap.policy_changed_from;
  if (only_changed) {
    parts.policy = previous->policy;
    changed.insert(snap.policy_changed_locals.begin(), snap.policy_changed_locals.end());
    for (uint32_t local : snap.policy_changed_locals) parts.policy.erase(local);
  }
  // Entries sorted by (local, remote, direction): each block is then built by appending.
  std::vector<std::pair<std::tuple<uint32_t, uint32_t, uint8_t>, PolicyRecord>> entries;
  entries.reserve(only_changed ? 0 : snap.policy.size());
  for (const auto& [k, v] : snap.policy) {
    if (only_changed && !changed.contains(k.local)) continue;
    PolicyRecord r;
    for (int i = 0; i < WD_L4_COUNT; ++i) r.portset[i] = v.portset[i];
    r.other = v.flags & WD_POLICY_OTHER_L4;
    entries.push_back({{k.local, k.remote, k.direction}, r});
  }
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t i = 0; i < entries.size();) {
    uint32_t local = std::get<0>(entries[i].first);
    PolicyBlock block;
    for (; i < entries.size() && std::get<0>(entries[i].first) == local; ++i) {
      const auto& [k, r] = entries[i];
      block.emplace_hint(block.end(), std::make_pair(std::get<1>(k), std::get<2>(k)), r);
    }
    const Shared<PolicyBlock>* old = nullptr;
    if (previous) {
      auto it = previous->policy.find(local);
      if (it != previous->policy.end()) old = &it->second;
    }
    parts.policy.insert_or_assign(local, Reuse(std::move(block), old, same));
  }
  if (same_base) {
    parts.pods_by_node = previous->pods_by_node;
    return parts;
  }
  // state.pods and snap.pods are both ordered by key: walk them together.
  SharedParts::PodsByNode by_node;
  auto rec = snap.pods.begin();
  for (const auto& [key, pod] : state.pods) {
    while (rec != snap.pods.end() && rec->first < key) ++rec;
    if (pod.host_network || rec == snap.pods.end() || rec->first != key) continue;
    // "": pods not scheduled yet.
    by_node[pod.node_name].push_back(
        {key, PodRecord{pod.uid, rec->second.identity, false, pod.ips}});
  }
  parts.pods_by_node = Shared<SharedParts::PodsByNode>(std::move(by_node));
  return parts;
}

NodeState ComputeNodeState(const policy::ClusterState& state, const policy::Snapshot& /*snap*/,
                           const SharedParts& parts, const std::string& node,
                           const std::string& gateway_namespace,
                           const std::vector<Allowance>& allowances) {
  NodeState s;
  s.node = node;
  s.allowances = allowances;
  if (auto n = state.nodes.find(node); n != state.nodes.end()) {
    s.node_addresses = n->second.addresses;
    auto pool = n->second.labels.find(kNodePoolLabel);
    if (pool != n->second.labels.end() && pool->second == "gateway") s.pool = WD_POOL_GATEWAY;
  }
  s.identities = parts.identities;
  s.ipcache = parts.ipcache;
  s.portsets = parts.portsets;
  if (auto on = parts.pods_by_node->find(node); on != parts.pods_by_node->end()) {
    const std::string gw_prefix = gateway_namespace + "/";
    PodMap& pods = s.pods.Mut();
    for (const auto& [key, rec] : on->second) {
      auto it = pods.emplace_hint(pods.end(), key, rec);
      it->second.gateway = !gateway_namespace.empty() && key.rfind(gw_prefix, 0) == 0;
      if (s.policy.count(rec.identity)) continue;
      if (auto b = parts.policy.find(rec.identity); b != parts.policy.end())
        s.policy.emplace(rec.identity, b->second);
    }
  }
  return s;
}

NodeState ComputeNodeState(const policy::ClusterState& state, const policy::Snapshot& snap,
                           const std::string& node, const std::string& gateway_namespace,
                           const std::vector<Allowance>& allowances) {
  return ComputeNodeState(state, snap, ComputeSharedParts(state, snap), node, gateway_namespace,
                          allowances);
}

v1::Update FullUpdate(const NodeState& s) {
  v1::Update u;
  u.set_version(s.version);
  u.set_full(true);
  for (const auto& [id, r] : *s.identities) ToWire(id, r, u.add_identities());
  for (const auto& [k, r] : s.pods) ToWire(k, r, u.add_pods());
  for (const auto& [c, v] : *s.ipcache) {
    auto* e = u.add_ipcache();
    ToWire(c, e->mutable_prefix());
    e->set_identity(v.identity);
    e->set_cidr_identity(v.cidr_identity);
  }
  s.ForEachPolicy(
      [&](const PolicyTuple& k, const PolicyRecord& r) { ToWire(k, r, u.add_policy()); });
  PortsetsToWire(s, &u);
  ConfigToWire(s, &u);
  return u;
}

v1::Update DeltaUpdate(const NodeState& from, const NodeState& to) {
  v1::Update u;
  u.set_version(to.version);
  u.set_full(false);
  u.set_base_version(from.version);
  // Parts both states share cannot differ: skipped without looking inside.
  if (!from.identities.SameObject(to.identities)) {
    for (const auto& [id, r] : *to.identities) {
      auto it = from.identities->find(id);
      if (it == from.identities->end() || !(it->second == r)) ToWire(id, r, u.add_identities());
    }
    for (const auto& [id, r] : *from.identities) {
      if (!to.identities->count(id)) u.add_removed_identities(id);
    }
  }
  for (const auto& [k, r] : to.pods) {
    auto it = from.pods.find(k);
    if (it == from.pods.end() || !(it->second == r)) ToWire(k, r, u.add_pods());
  }
  for (const auto& [k, r] : from.pods) {
    if (!to.pods.count(k)) u.add_removed_pods(k);
  }
  if (!from.ipcache.SameObject(to.ipcache)) {
    for (const auto& [c, v] : *to.ipcache) {
      auto it = from.ipcache->find(c);
      if (it == from.ipcache->end() || it->second.identity != v.identity ||
          it->second.cidr_identity != v.cidr_identity) {
        auto* e = u.add_ipcache();
        ToWire(c, e->mutable_prefix());
        e->set_identity(v.identity);
        e->set_cidr_identity(v.cidr_identity);
      }
    }
    for (const auto& [c, v] : *from.ipcache) {
      if (!to.ipcache->count(c)) ToWire(c, u.add_removed_ipcache());
    }
  }
  static const PolicyBlock kNone;
  for (const auto& [local, block] : to.policy) {
    auto it = from.policy.find(local);
    if (it != from.policy.end() && it->second.SameObject(block)) continue;
    const PolicyBlock& was = it == from.policy.end() ? kNone : *it->second;
    for (const auto& [k, r] : *block) {
      auto w = was.find(k);
      if (w == was.end() || !(w->second == r))
        ToWire(PolicyTuple{local, k.first, k.second}, r, u.add_policy());
    }
    for (const auto& [k, r] : was) {
      if (!block->count(k)) ToWire(PolicyTuple{local, k.first, k.second}, u.add_removed_policy());
    }
  }
  for (const auto& [local, block] : from.policy) {
    if (to.policy.count(local)) continue;
    for (const auto& [k, r] : *block)
      ToWire(PolicyTuple{local, k.first, k.second}, u.add_removed_policy());
  }
  if (!(from.portsets == to.portsets)) PortsetsToWire(to, &u);
  if (from.node != to.node || from.node_addresses != to.node_addresses || from.pool != to.pool ||
      !(from.allowances == to.allowances)) {
    ConfigToWire(to, &u);
  }
  return u;
}

absl::Status ApplyUpdate(const v1::Update& u, NodeState* state) {
  auto bad = [](const std::string& m) { return absl::InvalidArgumentError(m); };
  if (u.version() == 0) return bad("version: 0 is not a version");
  if (!u.full()) {
    if (u.base_version() != state->version) {
      return absl::FailedPreconditionError(absl::StrCat("base_version ", u.base_version(),
                                                        " is not the version held (",
                                                        state->version, "): resync needed"));
    }
    if (u.version() <= state->version)
      return bad(absl::StrCat("version ", u.version(), " does not move forward"));
  } else if (!u.has_portsets() || !u.has_node_config()) {
    return bad("a full update needs portsets and node_config");
  }
  // Build the next state aside; commit only if everything checks.
  NodeState next = u.full() ? NodeState{} : *state;
  next.version = u.version();
  if (u.has_node_config()) {
    next.node = u.node_config().node();
    next.node_addresses.clear();
    for (int i = 0; i < u.node_config().node_addresses_size(); ++i) {
      auto a = AddrFrom(u.node_config().node_addresses(i),
                        absl::StrCat("node_config.node_addresses[", i, "]"));
      if (!a.ok()) return a.status();
      next.node_addresses.push_back(*a);
    }
    const auto& c = u.node_config();
    if (c.pool() != v1::POOL_DEFAULT && c.pool() != v1::POOL_GATEWAY) {
      return bad(absl::StrCat("node_config.pool: unknown value ", c.pool()));
    }
    next.pool = c.pool() == v1::POOL_GATEWAY ? WD_POOL_GATEWAY : WD_POOL_DEFAULT;
    next.allowances.clear();
    for (int i = 0; i < c.allowances_size(); ++i) {
      const auto& w = c.allowances(i);
      std::string f = absl::StrCat("node_config.allowances[", i, "]");
      auto cidr = FromWire(w.prefix(), f + ".prefix");
      if (!cidr.ok()) return cidr.status();
      Allowance al;
      al.cidr = *cidr;
      if (w.protocol() == 6)
        al.protocol = policy::Protocol::kTCP;
      else if (w.protocol() == 17)
        al.protocol = policy::Protocol::kUDP;
      else if (w.protocol() == 132)
        al.protocol = policy::Protocol::kSCTP;
      else if (w.protocol() != 0)
        return bad(absl::StrCat(f, ".protocol: ", w.protocol(), " is not TCP, UDP or SCTP"));
      if (w.port_first() > w.port_last() || w.port_last() > 65535) {
        return bad(
            absl::StrCat(f, ": ", w.port_first(), "-", w.port_last(), " is not a port range"));
      }
      al.port_lo = static_cast<uint16_t>(w.port_first());
      al.port_hi = static_cast<uint16_t>(w.port_last());
      next.allowances.push_back(al);
    }
  }
  if (u.has_portsets()) {
    PortsetList& sets = next.portsets.Mut();
    sets.clear();
    for (int i = 0; i < u.portsets().sets_size(); ++i) {
      std::vector<policy::PortRange> set;
      for (int j = 0; j < u.portsets().sets(i).ranges_size(); ++j) {
        const auto& r = u.portsets().sets(i).ranges(j);
        if (r.first() > 65535 || r.last() > 65535 || r.first() > r.last()) {
          return bad(absl::StrCat("portsets.sets[", i, "].ranges[", j, "]: ", r.first(), "-",
                                  r.last(), " is not a port range"));
        }
        set.push_back({static_cast<uint16_t>(r.first()), static_cast<uint16_t>(r.last())});
      }
      sets.push_back(std::move(set));
    }
    std::vector<policy::PortRange> all = {{0, 65535}};
    if (sets.size() < 2 || !sets[WD_PORTSET_EMPTY].empty() || sets[WD_PORTSET_ALL] != all) {
      return bad("portsets: set 0 must be empty and set 1 all ports");
    }
    if (sets.size() > 0xffff) return bad("portsets: too many sets");
  }
  if (u.removed_identities_size() || u.identities_size()) {
    for (uint32_t id : u.removed_identities()) next.identities.Mut().erase(id);
  }
  for (int i = 0; i < u.identities_size(); ++i) {
    const auto& w = u.identities(i);
    if (w.id() < WD_ID_POD_MIN || w.id() > WD_ID_POD_MAX) {
      return bad(absl::StrCat("identities[", i, "].id: ", w.id(), " is not a pod identity"));
    }
    IdentityRecord r{w.name(), w.namespace_(), w.service_account(), {}, 0};
    for (const auto& [k, v] : w.labels()) r.labels[k] = v;
    r.isolated = (w.isolated_ingress() ? WD_ISOLATED_INGRESS : 0) |
                 (w.isolated_egress() ? WD_ISOLATED_EGRESS : 0);
    next.identities.Mut()[w.id()] = std::move(r);
  }
  for (const auto& k : u.removed_pods()) next.pods.erase(k);
  for (int i = 0; i < u.pods_size(); ++i) {
    const auto& w = u.pods(i);
    std::string f = absl::StrCat("pods[", i, "]");
    if (w.namespace_().empty() || w.name().empty())
      return bad(f + ": namespace and name are required");
    if (w.identity() < WD_ID_POD_MIN || w.identity() > WD_ID_POD_MAX) {
      return bad(absl::StrCat(f, ".identity: ", w.identity(), " is not a pod identity"));
    }
    PodRecord r{w.uid(), w.identity(), w.gateway(), {}};
    for (int j = 0; j < w.addresses_size(); ++j) {
      auto a = AddrFrom(w.addresses(j), absl::StrCat(f, ".addresses[", j, "]"));
      if (!a.ok()) return a.status();
      r.addresses.push_back(*a);
    }
    next.pods[w.namespace_() + "/" + w.name()] = std::move(r);
  }
  for (int i = 0; i < u.removed_ipcache_size(); ++i) {
    auto c = FromWire(u.removed_ipcache(i), absl::StrCat("removed_ipcache[", i, "]"));
    if (!c.ok()) return c.status();
    next.ipcache.Mut().erase(*c);
  }
  for (int i = 0; i < u.ipcache_size(); ++i) {
    auto c = FromWire(u.ipcache(i).prefix(), absl::StrCat("ipcache[", i, "].prefix"));
    if (!c.ok()) return c.status();
    next.ipcache.Mut()[*c] =
        wd_ipcache_value{u.ipcache(i).identity(), u.ipcache(i).cidr_identity()};
  }
  for (int i = 0; i < u.removed_policy_size(); ++i) {
    auto k = FromWire(u.removed_policy(i), absl::StrCat("removed_policy[", i, "]"));
    if (!k.ok()) return k.status();
    auto b = next.policy.find(std::get<0>(*k));
    if (b == next.policy.end()) continue;
    b->second.Mut().erase({std::get<1>(*k), std::get<2>(*k)});
    if (b->second->empty()) next.policy.erase(b);
  }
  for (int i = 0; i < u.policy_size(); ++i) {
    const auto& w = u.policy(i);
    std::string f = absl::StrCat("policy[", i, "]");
    auto k = FromWire(w.key(), f + ".key");
    if (!k.ok()) return k.status();
    PolicyRecord r;
    uint32_t sets[WD_L4_COUNT] = {w.tcp_portset(), w.udp_portset(), w.sctp_portset()};
    for (int l4 = 0; l4 < WD_L4_COUNT; ++l4) r.portset[l4] = static_cast<uint16_t>(sets[l4]);
    r.other = w.other_protocols();
    next.policy[std::get<0>(*k)].Mut()[{std::get<1>(*k), std::get<2>(*k)}] = r;
  }
  // References: every port set a policy entry names must exist; the ipcache must cover the
  // whole address space (the kernel's lookup relies on it).
  // The state held was checked when it was applied: unless the port sets change, only the
  // entries this update writes need checking.
  absl::Status refs = absl::OkStatus();
  const size_t nsets = next.portsets->size();
  auto check = [&](const PolicyTuple& k, const PolicyRecord& r) {
    for (uint16_t ps : r.portset) {
      if (ps >= nsets && refs.ok()) {
        refs = bad(absl::StrCat("policy entry ", std::get<0>(k), "->", std::get<1>(k),
                                " names port set ", ps, " but there are ", nsets));
      }
    }
  };
  if (u.full() || u.has_portsets()) {
    next.ForEachPolicy(check);
  } else {
    for (int i = 0; i < u.policy_size(); ++i) {
      auto k = FromWire(u.policy(i).key(), "");
      const auto& block = *next.policy.at(std::get<0>(*k));
      check(*k, block.at({std::get<1>(*k), std::get<2>(*k)}));
    }
  }
  if (!refs.ok()) return refs;
  IpAddress any4, any6;
  any6.family = Family::kV6;
  if (!next.ipcache->count(Cidr{any4, 0}) || !next.ipcache->count(Cidr{any6, 0})) {
    return bad("ipcache: 0.0.0.0/0 and ::/0 must be present");
  }
  *state = std::move(next);
  return absl::OkStatus();
}

absl::Status SaveNodeState(const NodeState& s, const std::string& path) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out || !FullUpdate(s).SerializeToOstream(&out)) {
      return absl::InternalError(absl::StrCat("writing ", tmp));
    }
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("writing ", tmp));
  }
  int fd = open(tmp.c_str(), O_RDONLY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  if (rename(tmp.c_str(), path.c_str()) != 0)
    return absl::InternalError(absl::StrCat("renaming ", tmp, " to ", path));
  return absl::OkStatus();
}

absl::StatusOr<NodeState> LoadNodeState(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": no saved state"));
  v1::Update u;
  if (!u.ParseFromIstream(&in))
    return absl::DataLossError(absl::StrCat(path, ": not a saved state"));
  NodeState s;
  if (auto st = ApplyUpdate(u, &s); !st.ok())
    return absl::DataLossError(absl::StrCat(path, ": ", st.message()));
  return s;
}

std::vector<wd_portset> PortsetBitmaps(const NodeState& s) {
  std::vector<wd_portset> out(s.portsets->size());
  for (size_t i = 0; i < s.portsets->size(); ++i) {
    std::memset(&out[i], 0, sizeof(wd_portset));
    for (const auto& [lo, hi] : (*s.portsets)[i]) {
      for (uint32_t p = lo; p <= hi; ++p) out[i].bits[p / 64] |= uint64_t{1} << (p % 64);
    }
  }
  return out;
}

}  // namespace warden::control
