#include "agent/nodestate/wire.h"

#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/nodestate/ipcache_wire.h"
#include "agent/nodestate/objects_wire.h"
#include "agent/nodestate/policy_wire.h"
#include "google/protobuf/unknown_field_set.h"

namespace warden::nodestate {

namespace {

using policy::Cidr;
using policy::Family;
using policy::IpAddress;
using policy::PolicyKey;
// The objects' and prefixes' codec (objects_wire.h), beside the overloads below.
using nodestate::FromWire;
using nodestate::ToWire;

absl::Status Bad(const std::string& m) { return absl::InvalidArgumentError(m); }

// ---- to the wire --------------------------------------------------------------------------------

std::string AddrBytes(const IpAddress& a) {
  return std::string(reinterpret_cast<const char*>(a.bytes.data()),
                     a.family == Family::kV4 ? 4 : 16);
}

void ToWire(uint32_t id, const IdentityRecord& r, v1::Identity* w) {
  w->set_id(id);
  w->set_name(r.name);
  w->set_namespace_(r.ns);
  w->set_service_account(r.service_account);
  for (const auto& [k, v] : r.labels) (*w->mutable_labels())[k] = v;
  w->set_isolated_ingress(r.isolated & WD_ISOLATED_INGRESS);
  w->set_isolated_egress(r.isolated & WD_ISOLATED_EGRESS);
  for (const auto& p : r.named_ports) ToWire(p, w->add_named_ports());
}

void ToWire(const std::string& key, const ScheduledPod& r, v1::Pod* w) {
  size_t slash = key.find('/');
  w->set_namespace_(key.substr(0, slash));
  w->set_name(key.substr(slash + 1));
  w->set_uid(r.uid);
  w->set_identity(r.identity);
  w->set_gateway(r.gateway);
  for (const auto& a : r.addresses) w->add_addresses(AddrBytes(a));
}

void ToWire(const Cidr& c, const wd_ipcache_value& v, v1::IpcacheEntry* e) {
  ToWire(c, e->mutable_prefix());
  e->set_identity(v.identity);
  e->set_cidr_identity(v.cidr_identity);
  e->set_ns_identity(v.ns_identity);
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

void ConfigToWire(const NodeState& s, v1::Update* u) {
  auto* c = u->mutable_node_config();
  c->set_node(s.node);
  for (const auto& a : s.node_addresses) c->add_node_addresses(AddrBytes(a));
  c->set_pool(s.pool == WD_POOL_GATEWAY ? v1::POOL_GATEWAY : v1::POOL_DEFAULT);
  for (const auto& a : s.allowances) {
    auto* w = c->add_allowances();
    ToWire(a.cidr, w->mutable_prefix());
    w->set_protocol(a.protocol ? policy::IpProtocolNumber(*a.protocol) : 0);
    w->set_port_first(a.port_lo);
    w->set_port_last(a.port_hi);
  }
  for (const GatewayEndpoint& g : s.gateways) {
    auto* w = c->add_gateways();
    w->set_address(AddrBytes(g.address));
    w->set_node(g.node);
    w->set_port(g.port);
    w->set_pod(g.pod);
  }
}

// ---- from the wire ------------------------------------------------------------------------------

absl::StatusOr<IpAddress> AddrFrom(const std::string& b, const std::string& field) {
  IpAddress a;
  if (b.size() == 4) {
    a.family = Family::kV4;
  } else if (b.size() == 16) {
    a.family = Family::kV6;
  } else {
    return Bad(absl::StrCat(field, ": an address has 4 or 16 bytes, not ", b.size()));
  }
  std::memcpy(a.bytes.data(), b.data(), b.size());
  return a;
}

absl::StatusOr<PolicyKey> FromWire(const v1::PolicyKey& k, const std::string& field) {
  if (k.direction() != v1::DIRECTION_INGRESS && k.direction() != v1::DIRECTION_EGRESS)
    return Bad(absl::StrCat(field, ".direction: unknown value ", k.direction()));
  if (!common::IsPodIdentity(k.local_identity())) {
    return Bad(
        absl::StrCat(field, ".local_identity: ", k.local_identity(), " is not a pod identity"));
  }
  if (k.remote_identity() == WD_ID_NONE) return Bad(absl::StrCat(field, ".remote_identity: 0"));
  return PolicyKey{
      k.local_identity(), k.remote_identity(),
      static_cast<uint8_t>(k.direction() == v1::DIRECTION_EGRESS ? WD_DIR_EGRESS : WD_DIR_INGRESS)};
}

absl::StatusOr<policy::Allowance> FromWire(const v1::Allowance& w, const std::string& f) {
  policy::Allowance al;
  WD_ASSIGN_OR_RETURN(al.cidr, FromWire(w.prefix(), f + ".prefix"));
  if (w.protocol() != 0) {
    al.protocol = policy::ProtocolOfIpNumber(w.protocol());
    if (!al.protocol)
      return Bad(absl::StrCat(f, ".protocol: ", w.protocol(), " is not TCP, UDP or SCTP"));
  }
  if (w.port_first() > w.port_last() || w.port_last() > 65535)
    return Bad(absl::StrCat(f, ": ", w.port_first(), "-", w.port_last(), " is not a port range"));
  al.port_lo = static_cast<uint16_t>(w.port_first());
  al.port_hi = static_cast<uint16_t>(w.port_last());
  return al;
}

absl::Status ApplyConfig(const v1::NodeConfig& c, NodeState* next) {
  next->node = c.node();
  next->node_addresses.clear();
  for (int i = 0; i < c.node_addresses_size(); ++i) {
    WD_ASSIGN_OR_RETURN(IpAddress a, AddrFrom(c.node_addresses(i),
                                              absl::StrCat("node_config.node_addresses[", i, "]")));
    next->node_addresses.push_back(a);
  }
  if (c.pool() != v1::POOL_DEFAULT && c.pool() != v1::POOL_GATEWAY)
    return Bad(absl::StrCat("node_config.pool: unknown value ", c.pool()));
  next->pool = c.pool() == v1::POOL_GATEWAY ? WD_POOL_GATEWAY : WD_POOL_DEFAULT;
  next->allowances.clear();
  for (int i = 0; i < c.allowances_size(); ++i) {
    WD_ASSIGN_OR_RETURN(policy::Allowance al,
                        FromWire(c.allowances(i), absl::StrCat("node_config.allowances[", i, "]")));
    next->allowances.push_back(al);
  }
  next->gateways.clear();
  for (int i = 0; i < c.gateways_size(); ++i) {
    const v1::GatewayEndpoint& w = c.gateways(i);
    const std::string f = absl::StrCat("node_config.gateways[", i, "]");
    GatewayEndpoint g;
    WD_ASSIGN_OR_RETURN(g.address, AddrFrom(w.address(), f + ".address"));
    if (w.node().empty()) return Bad(f + ".node: empty");
    if (w.port() == 0 || w.port() > 65535)
      return Bad(absl::StrCat(f, ".port: ", w.port(), " is not a port"));
    g.node = w.node();
    g.port = static_cast<uint16_t>(w.port());
    g.pod = w.pod();
    next->gateways.push_back(std::move(g));
  }
  return absl::OkStatus();
}

absl::Status ApplyPortsets(const v1::PortSets& t, NodeState* next) {
  policy::PortsetList& sets = next->portsets.Mut();
  sets.clear();
  if (t.sets_size() > static_cast<int>(policy::PortSetTable::kMaxSets))
    return Bad("portsets: too many sets");
  for (int i = 0; i < t.sets_size(); ++i) {
    std::vector<policy::PortRange> set;
    for (int j = 0; j < t.sets(i).ranges_size(); ++j) {
      const auto& r = t.sets(i).ranges(j);
      if (r.first() > 65535 || r.last() > 65535 || r.first() > r.last()) {
        return Bad(absl::StrCat("portsets.sets[", i, "].ranges[", j, "]: ", r.first(), "-",
                                r.last(), " is not a port range"));
      }
      set.push_back({static_cast<uint16_t>(r.first()), static_cast<uint16_t>(r.last())});
    }
    sets.push_back(std::move(set));
  }
  const std::vector<policy::PortRange> all = {{0, 65535}};
  if (sets.size() < 2 || !sets[WD_PORTSET_EMPTY].empty() || sets[WD_PORTSET_ALL] != all)
    return Bad("portsets: set 0 must be empty and set 1 all ports");
  return absl::OkStatus();
}

absl::Status ApplyIdentities(const v1::Update& u, NodeState* next) {
  if (u.removed_identities_size() == 0 && u.identities_size() == 0) return absl::OkStatus();
  IdentityMap& ids = next->identities.Mut();
  for (uint32_t id : u.removed_identities()) ids.erase(id);
  for (int i = 0; i < u.identities_size(); ++i) {
    const auto& w = u.identities(i);
    if (!common::IsPodIdentity(w.id()) && !common::IsNamespaceIdentity(w.id()))
      return Bad(
          absl::StrCat("identities[", i, "].id: ", w.id(), " is not a pod or namespace identity"));
    IdentityRecord r{w.name(), w.namespace_(), w.service_account(), {}, 0, {}};
    for (const auto& [k, v] : w.labels()) r.labels[k] = v;
    for (int j = 0; j < w.named_ports_size(); ++j) {
      WD_ASSIGN_OR_RETURN(
          policy::NamedPort p,
          FromWire(w.named_ports(j), absl::StrCat("identities[", i, "].named_ports[", j, "]")));
      r.named_ports.push_back(std::move(p));
    }
    r.isolated = (w.isolated_ingress() ? WD_ISOLATED_INGRESS : 0) |
                 (w.isolated_egress() ? WD_ISOLATED_EGRESS : 0);
    ids[w.id()] = std::move(r);
  }
  return absl::OkStatus();
}

absl::Status ApplyPods(const v1::Update& u, NodeState* next) {
  for (const auto& k : u.removed_pods()) next->pods.erase(k);
  for (int i = 0; i < u.pods_size(); ++i) {
    const auto& w = u.pods(i);
    const std::string f = absl::StrCat("pods[", i, "]");
    if (w.namespace_().empty() || w.name().empty())
      return Bad(f + ": namespace and name are required");
    if (!common::IsPodIdentity(w.identity()))
      return Bad(absl::StrCat(f, ".identity: ", w.identity(), " is not a pod identity"));
    ScheduledPod r{w.uid(), w.identity(), w.gateway(), {}};
    for (int j = 0; j < w.addresses_size(); ++j) {
      WD_ASSIGN_OR_RETURN(IpAddress a,
                          AddrFrom(w.addresses(j), absl::StrCat(f, ".addresses[", j, "]")));
      r.addresses.push_back(a);
    }
    next->pods[w.namespace_() + "/" + w.name()] = std::move(r);
  }
  return absl::OkStatus();
}

// The kernel's lookup relies on the ipcache covering the whole address space.
absl::Status ApplyIpcache(const v1::Update& u, NodeState* next) {
  if (!u.full() && u.removed_ipcache_size() == 0 && u.ipcache_size() == 0 &&
      !u.has_ipcache_hosts() && !u.has_removed_ipcache_hosts())
    return absl::OkStatus();
  IpcacheMap& ipc = next->ipcache.Mut();
  for (int i = 0; i < u.removed_ipcache_size(); ++i) {
    WD_ASSIGN_OR_RETURN(Cidr c,
                        FromWire(u.removed_ipcache(i), absl::StrCat("removed_ipcache[", i, "]")));
    ipc.erase(c);
  }
  for (int i = 0; i < u.ipcache_size(); ++i) {
    const auto& e = u.ipcache(i);
    WD_ASSIGN_OR_RETURN(Cidr c, FromWire(e.prefix(), absl::StrCat("ipcache[", i, "].prefix")));
    WD_RETURN_IF_ERROR(CheckNamespaceIdentity(e.identity(), e.ns_identity(),
                                              absl::StrCat("ipcache[", i, "].ns_identity")));
    ipc[c] = wd_ipcache_value{e.identity(), e.cidr_identity(), e.ns_identity()};
  }
  // Removals first, as above; nothing is applied unless both lists are well formed.
  std::vector<std::pair<Cidr, std::optional<wd_ipcache_value>>> hosts;
  auto collect = [&](const IpAddress& a, const std::optional<wd_ipcache_value>& v) {
    hosts.emplace_back(policy::HostPrefix(a), v);
  };
  WD_RETURN_IF_ERROR(
      ReadIpcacheHosts(u.removed_ipcache_hosts(), "removed_ipcache_hosts", true, collect));
  WD_RETURN_IF_ERROR(ReadIpcacheHosts(u.ipcache_hosts(), "ipcache_hosts", false, collect));
  // The addresses come in ascending order: each is placed beside the one before (a hint),
  // which makes a full update's 160,000 insertions a quarter of their cost.
  auto hint = ipc.begin();
  for (auto& [c, v] : hosts) {
    if (v) {
      hint = std::next(ipc.insert_or_assign(hint, c, *v));
    } else if (auto it = ipc.find(c); it != ipc.end()) {
      hint = ipc.erase(it);
    }
  }
  IpAddress any4, any6;
  any6.family = Family::kV6;
  if (!ipc.count(Cidr{any4, 0}) || !ipc.count(Cidr{any6, 0}))
    return Bad("ipcache: 0.0.0.0/0 and ::/0 must be present");
  return absl::OkStatus();
}

absl::Status ApplyPolicy(const v1::Update& u, NodeState* next) {
  for (int i = 0; i < u.removed_policy_size(); ++i) {
    WD_ASSIGN_OR_RETURN(PolicyKey k,
                        FromWire(u.removed_policy(i), absl::StrCat("removed_policy[", i, "]")));
    auto b = next->policy.find(k.local);
    if (b == next->policy.end()) continue;
    b->second.Mut().erase(k);
    if (b->second->empty()) next->policy.erase(b);
  }
  for (int i = 0; i < u.policy_size(); ++i) {
    const auto& w = u.policy(i);
    WD_ASSIGN_OR_RETURN(PolicyKey k, FromWire(w.key(), absl::StrCat("policy[", i, "].key")));
    const uint32_t sets[] = {w.tcp_portset(), w.udp_portset(), w.sctp_portset()};
    wd_policy_value v{};
    for (int l4 = 0; l4 < WD_L4_COUNT; ++l4) {
      if (sets[l4] > 0xffff)
        return Bad(absl::StrCat("policy[", i, "]: port set ", sets[l4], " is not a port set id"));
      v.portset[l4] = static_cast<uint16_t>(sets[l4]);
    }
    v.flags = w.other_protocols() ? WD_POLICY_OTHER_L4 : 0;
    next->policy[k.local].Mut()[k] = v;
  }
  WD_RETURN_IF_ERROR(
      ReadPolicyEntries(u.removed_policy_entries(), "removed_policy_entries", true,
                        [&](const PolicyKey& k, const std::optional<wd_policy_value>&) {
                          auto b = next->policy.find(k.local);
                          if (b == next->policy.end()) return;
                          b->second.Mut().erase(k);
                          if (b->second->empty()) next->policy.erase(b);
                        }));
  return ReadPolicyEntries(u.policy_entries(), "policy_entries", false,
                           [&](const PolicyKey& k, const std::optional<wd_policy_value>& v) {
                             next->policy[k.local].Mut()[k] = *v;
                           });
}

// The namespaces and NetworkPolicies the entries were compiled from (for naming policies).
absl::Status ApplyObjects(const v1::Update& u, NodeState* next) {
  if (u.removed_namespaces_size() || u.namespaces_size()) {
    auto& nss = next->namespaces.Mut();
    for (const auto& name : u.removed_namespaces()) nss.erase(name);
    for (int i = 0; i < u.namespaces_size(); ++i) {
      WD_ASSIGN_OR_RETURN(policy::Namespace ns,
                          FromWire(u.namespaces(i), absl::StrCat("namespaces[", i, "]")));
      nss[ns.name] = std::move(ns);
    }
  }
  for (const auto& key : u.removed_network_policies()) {
    const size_t slash = key.find('/');
    auto block = next->network_policies.find(key.substr(0, slash));
    if (slash == std::string::npos || block == next->network_policies.end()) continue;
    block->second.Mut().erase(key.substr(slash + 1));
    if (block->second->empty()) next->network_policies.erase(block);
  }
  for (int i = 0; i < u.network_policies_size(); ++i) {
    WD_ASSIGN_OR_RETURN(policy::NetworkPolicy np,
                        FromWire(u.network_policies(i), absl::StrCat("network_policies[", i, "]")));
    next->network_policies[np.ns].Mut()[np.name] = std::move(np);
  }
  return absl::OkStatus();
}

// Every port set a policy entry names must exist. The state held was checked when it was
// applied: unless the port sets change, only the entries this update writes need checking.
absl::Status CheckPortsetReferences(const v1::Update& u, const NodeState& next) {
  const size_t nsets = next.portsets->size();
  auto check = [&](const PolicyKey& k, const wd_policy_value& v) -> absl::Status {
    for (uint16_t ps : v.portset) {
      if (ps >= nsets) {
        return Bad(absl::StrCat("policy entry ", k.local, "->", k.remote, " names port set ", ps,
                                " but there are ", nsets));
      }
    }
    return absl::OkStatus();
  };
  if (u.full() || u.has_portsets()) {
    absl::Status st;
    next.ForEachPolicy([&](const PolicyKey& k, const wd_policy_value& v) {
      if (st.ok()) st = check(k, v);
    });
    return st;
  }
  for (const auto& w : u.policy()) {
    absl::StatusOr<PolicyKey> k = FromWire(w.key(), "");
    if (!k.ok()) return k.status();  // checked when applied: not reached
    WD_RETURN_IF_ERROR(check(*k, next.policy.at(k->local)->at(*k)));
  }
  return absl::OkStatus();
}

absl::Status CheckSequence(const v1::Update& u, const NodeState& held) {
  if (u.version() == 0) return Bad("version: 0 is not a version");
  if (u.full()) {
    if (!u.has_portsets() || !u.has_node_config())
      return Bad("a full update needs portsets and node_config");
    return absl::OkStatus();
  }
  if (u.base_version() != held.version) {
    return absl::FailedPreconditionError(absl::StrCat("base_version ", u.base_version(),
                                                      " is not the version held (", held.version,
                                                      "): resync needed"));
  }
  if (u.version() <= held.version)
    return Bad(absl::StrCat("version ", u.version(), " does not move forward"));
  return absl::OkStatus();
}

}  // namespace

namespace {

// The wire form of a part every node's state shares (the ipcache, the namespaces): the nodes'
// full updates carry the same object, so it is built for the wire once per object, not once per
// node (5,000 nodes' full updates of 160,000 addresses each took 215 s built one by one). Kept
// as an Update holding only that part, and as that Update encoded, which an update that is only
// serialized takes as it is (see FullResponseForWire).
struct EncodedPart {
  v1::Update fields;
  std::string encoded;
};

template <typename T>
class WirePart {
 public:
  std::shared_ptr<const EncodedPart> Get(std::shared_ptr<const T> of,
                                         const std::function<void(const T&, v1::Update*)>& build) {
    std::lock_guard<std::mutex> l(mu_);
    if (of_ != of) {
      auto part = std::make_shared<EncodedPart>();
      build(*of, &part->fields);
      part->encoded = part->fields.SerializeAsString();
      part_ = std::move(part);
      of_ = std::move(of);
    }
    return part_;
  }

 private:
  std::mutex mu_;
  std::shared_ptr<const T> of_;  // held: its address stays its own while it is remembered
  std::shared_ptr<const EncodedPart> part_;
};

void IpcacheToWire(const IpcacheMap& ipc, v1::Update* u) {
  IpcacheHostsWriter hosts;
  for (const auto& [c, v] : ipc) {
    if (IsHostPrefix(c))
      hosts.Add(c.addr, v);
    else
      ToWire(c, v, u->add_ipcache());
  }
  hosts.Write(u->mutable_ipcache_hosts());
}

void NamespacesToWire(const std::map<std::string, policy::Namespace>& nss, v1::Update* u) {
  for (const auto& [_, ns] : nss) ToWire(ns, u->add_namespaces());
}

std::shared_ptr<const EncodedPart> IpcachePart(const NodeState& s) {
  static WirePart<IpcacheMap> part;
  return part.Get(s.ipcache.Pin(), IpcacheToWire);
}

std::shared_ptr<const EncodedPart> NamespacesPart(const NodeState& s) {
  static WirePart<std::map<std::string, policy::Namespace>> part;
  return part.Get(s.namespaces.Pin(), NamespacesToWire);
}

// What is the node's own: everything but the ipcache and the namespaces.
void OwnParts(const NodeState& s, v1::Update* u) {
  u->set_version(s.version);
  u->set_full(true);
  for (const auto& [id, r] : *s.identities) ToWire(id, r, u->add_identities());
  for (const auto& [k, r] : s.pods) ToWire(k, r, u->add_pods());
  PolicyEntriesWriter entries;
  s.ForEachPolicy([&](const PolicyKey& k, const wd_policy_value& v) { entries.Add(k, v); });
  entries.Write(u->mutable_policy_entries());
  PortsetsToWire(s, u);
  ConfigToWire(s, u);
  for (const auto& [_, block] : s.network_policies) {
    for (const auto& [_, np] : *block) ToWire(np, u->add_network_policies());
  }
}

}  // namespace

void FullUpdate(const NodeState& s, v1::Update* u) {
  OwnParts(s, u);
  u->MergeFrom(IpcachePart(s)->fields);
  u->MergeFrom(NamespacesPart(s)->fields);
}

void FullResponseForWire(const NodeState& s, v1::SyncResponse* r) {
  OwnParts(s, r->mutable_update());
  google::protobuf::UnknownFieldSet* more = r->GetReflection()->MutableUnknownFields(r);
  for (const auto& part : {IpcachePart(s), NamespacesPart(s)})
    *more->AddLengthDelimited(v1::SyncResponse::kUpdateFieldNumber) = part->encoded;
}

std::string EncodedFullUpdate(const NodeState& s) {
  v1::Update own;
  OwnParts(s, &own);
  std::string out = own.SerializeAsString();
  for (const auto& part : {IpcachePart(s), NamespacesPart(s)}) out += part->encoded;
  return out;
}

v1::Update FullUpdate(const NodeState& s) {
  v1::Update u;
  FullUpdate(s, &u);
  return u;
}

namespace {

// Upserts and removals that turn `from` into `to`, for a map of either.
template <typename M, typename Upsert, typename Remove>
void DiffMaps(const M& from, const M& to, Upsert upsert, Remove remove) {
  for (const auto& [k, v] : to) {
    auto it = from.find(k);
    if (it == from.end() || !(it->second == v)) upsert(k, v);
  }
  for (const auto& [k, v] : from) {
    if (!to.count(k)) remove(k);
  }
}

// Namespace by namespace, skipping the blocks both states share.
void NetworkPolicyDelta(const NodeState& from, const NodeState& to, v1::Update* u) {
  static const NetworkPolicyBlock kNone;
  auto upsert = [&](const std::string&, const policy::NetworkPolicy& np) {
    ToWire(np, u->add_network_policies());
  };
  auto remove = [&](const std::string& ns) {
    return [u, ns](const std::string& name) { u->add_removed_network_policies(ns + "/" + name); };
  };
  for (const auto& [ns, block] : to.network_policies) {
    auto it = from.network_policies.find(ns);
    if (it != from.network_policies.end() && it->second.SameObject(block)) continue;
    DiffMaps(it == from.network_policies.end() ? kNone : *it->second, *block, upsert, remove(ns));
  }
  for (const auto& [ns, block] : from.network_policies) {
    if (!to.network_policies.count(ns)) DiffMaps(*block, kNone, upsert, remove(ns));
  }
}

void PolicyDelta(const NodeState& from, const NodeState& to, v1::Update* u) {
  static const PolicyBlock kNone;
  PolicyEntriesWriter upserts, removals;
  auto upsert = [&](const PolicyKey& k, const wd_policy_value& v) { upserts.Add(k, v); };
  auto remove = [&](const PolicyKey& k) { removals.Add(k); };
  for (const auto& [local, block] : to.policy) {
    auto it = from.policy.find(local);
    if (it != from.policy.end() && it->second.SameObject(block)) continue;
    DiffMaps(it == from.policy.end() ? kNone : *it->second, *block, upsert, remove);
  }
  for (const auto& [local, block] : from.policy) {
    if (!to.policy.count(local)) DiffMaps(*block, kNone, upsert, remove);
  }
  if (!upserts.empty()) upserts.Write(u->mutable_policy_entries());
  if (!removals.empty()) removals.Write(u->mutable_removed_policy_entries());
}

}  // namespace

void DeltaUpdate(const NodeState& from, const NodeState& to, v1::Update* out) {
  v1::Update& u = *out;
  u.set_version(to.version);
  u.set_full(false);
  u.set_base_version(from.version);
  // Parts both states share cannot differ: skipped without looking inside.
  if (!from.identities.SameObject(to.identities)) {
    DiffMaps(
        *from.identities, *to.identities,
        [&](uint32_t id, const IdentityRecord& r) { ToWire(id, r, u.add_identities()); },
        [&](uint32_t id) { u.add_removed_identities(id); });
  }
  if (!from.pods.SameObject(to.pods)) {
    DiffMaps(
        from.pods.get(), to.pods.get(),
        [&](const std::string& k, const ScheduledPod& r) { ToWire(k, r, u.add_pods()); },
        [&](const std::string& k) { u.add_removed_pods(k); });
  }
  if (!from.ipcache.SameObject(to.ipcache)) {
    IpcacheHostsWriter upserts, removals;
    DiffMaps(
        *from.ipcache, *to.ipcache,
        [&](const Cidr& c, const wd_ipcache_value& v) {
          if (IsHostPrefix(c))
            upserts.Add(c.addr, v);
          else
            ToWire(c, v, u.add_ipcache());
        },
        [&](const Cidr& c) {
          if (IsHostPrefix(c))
            removals.Add(c.addr);
          else
            ToWire(c, u.add_removed_ipcache());
        });
    if (!upserts.empty()) upserts.Write(u.mutable_ipcache_hosts());
    if (!removals.empty()) removals.Write(u.mutable_removed_ipcache_hosts());
  }
  PolicyDelta(from, to, &u);
  if (!from.namespaces.SameObject(to.namespaces)) {
    DiffMaps(
        from.namespaces.get(), to.namespaces.get(),
        [&](const std::string&, const policy::Namespace& ns) { ToWire(ns, u.add_namespaces()); },
        [&](const std::string& name) { u.add_removed_namespaces(name); });
  }
  NetworkPolicyDelta(from, to, &u);
  if (!(from.portsets == to.portsets)) PortsetsToWire(to, &u);
  if (from.node != to.node || from.node_addresses != to.node_addresses || from.pool != to.pool ||
      !(from.allowances == to.allowances) || from.gateways != to.gateways) {
    ConfigToWire(to, &u);
  }
}

v1::Update DeltaUpdate(const NodeState& from, const NodeState& to) {
  v1::Update u;
  DeltaUpdate(from, to, &u);
  return u;
}

absl::Status ApplyUpdate(const v1::Update& u, NodeState* state) {
  WD_RETURN_IF_ERROR(CheckSequence(u, *state));
  // Build the next state aside; commit only if everything checks.
  NodeState next = u.full() ? NodeState{} : *state;
  next.version = u.version();
  if (u.has_node_config()) WD_RETURN_IF_ERROR(ApplyConfig(u.node_config(), &next));
  if (u.has_portsets()) WD_RETURN_IF_ERROR(ApplyPortsets(u.portsets(), &next));
  WD_RETURN_IF_ERROR(ApplyIdentities(u, &next));
  WD_RETURN_IF_ERROR(ApplyPods(u, &next));
  WD_RETURN_IF_ERROR(ApplyIpcache(u, &next));
  WD_RETURN_IF_ERROR(ApplyPolicy(u, &next));
  WD_RETURN_IF_ERROR(ApplyObjects(u, &next));
  WD_RETURN_IF_ERROR(CheckPortsetReferences(u, next));
  *state = std::move(next);
  return absl::OkStatus();
}

}  // namespace warden::nodestate
