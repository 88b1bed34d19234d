#include "agent/policy/compiler.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/policy/identity_allocator.h"
#include "agent/policy/port_sets.h"

namespace warden::policy {

using Signature = std::vector<NamedPort>;

// The identities and ipcache of the last compile, and what they were built from.
struct IdentityBuild {
  // What the identities were built from (the maps themselves, held so they stay those maps).
  std::shared_ptr<const std::map<std::string, Pod>> pods;
  std::shared_ptr<const std::map<std::string, Node>> nodes;
  std::vector<Cidr> cluster_cidrs;
  std::vector<Cidr> policy_prefixes;
  // What was built (pod identities before policies set their isolation).
  std::vector<Identity> pod_identities;
  std::vector<Identity> cidr_identities;
  std::vector<Identity> ns_identities;
  std::map<std::string, std::vector<size_t>> by_namespace;
  common::SharedMap<std::map<std::string, CompiledPod>> pods_records;
  std::vector<std::pair<wd_ipcache_key, wd_ipcache_value>> ipcache;
};

// The policy entries of the last compile, and what they were compiled from (on top of its
// IdentityBuild): a compile whose policies differ in a few objects recompiles only the local
// identities those objects select.
struct PolicyBuild {
  std::shared_ptr<const IdentityBuild> identities;
  std::shared_ptr<const std::map<std::string, NetworkPolicy>> policies;
  std::shared_ptr<const std::map<std::string, Namespace>> namespaces;
  PolicyEntries policy;  // the snapshot's own map, shared
  PortSetTable portsets;
  size_t portsets_after_full = 0;  // the table's size after the last full policy compile
  std::vector<uint8_t> isolated;   // per pod identity (index as in IdentityBuild)
};

struct CompileCache {
  std::shared_ptr<const IdentityBuild> identities;
  std::shared_ptr<const PolicyBuild> policies;
};

namespace {

Signature SignatureOf(const Pod& pod) {
  Signature sig;
  for (const auto& cp : pod.ports) {
    if (!cp.name.empty()) sig.push_back(NamedPort{cp.name, cp.protocol, cp.port});
  }
  std::sort(sig.begin(), sig.end());
  return sig;
}

std::string SignatureText(const Signature& sig) {
  return absl::StrJoin(sig, ",", [](std::string* out, const NamedPort& p) {
    absl::StrAppend(out, p.name, "/", ProtocolName(p.protocol), "/", p.port);
  });
}

std::string LabelsText(const Labels& labels) {
  return absl::StrJoin(labels, ",", absl::PairFormatter("="));
}

// A set of prefixes answering "which is the longest one that covers this prefix", the question
// an LPM trie answers for one address.
class PrefixSet {
 public:
  void Add(const Cidr& c) {
    if (by_len_[Slot(c)].insert(c.addr.bytes).second) all_.push_back(c);
  }
  const std::vector<Cidr>& all() const { return all_; }
  std::optional<Cidr> LongestCovering(const Cidr& q) const {
    int fam = q.addr.family == Family::kV4 ? 0 : 1;
    for (int len = q.prefix_len; len >= 0; --len) {
      const auto& set = by_len_[fam * 129 + len];
      if (set.empty()) continue;
      auto masked = ParseCidrMask(q.addr, len);
      if (set.count(masked.addr.bytes)) return masked;
    }
    return std::nullopt;
  }

 private:
  static int Slot(const Cidr& c) { return (c.addr.family == Family::kV4 ? 0 : 129) + c.prefix_len; }
  static Cidr ParseCidrMask(const IpAddress& a, int len) {
    Cidr c{a, len};
    for (int i = 0; i < 16; ++i) {
      int bit0 = i * 8;
      if (bit0 >= len)
        c.addr.bytes[i] = 0;
      else if (bit0 + 8 > len)
        c.addr.bytes[i] &= static_cast<uint8_t>(0xff << (8 - (len - bit0)));
    }
    return c;
  }
  std::array<std::set<std::array<uint8_t, 16>>, 258> by_len_;
  std::vector<Cidr> all_;
};

struct PodIdentityKey {
  std::string ns;
  Labels labels;
  std::string sa;
  Signature sig;
  auto operator<=>(const PodIdentityKey&) const = default;
};

struct CidrIdentityKey {
  std::optional<Cidr> prefix;
  Signature sig;
  auto operator<=>(const CidrIdentityKey&) const = default;
};

class Compiler {
 public:
  Compiler(const ClusterState& st, const CompileOptions& opts) : st_(st), opts_(opts) {}

  absl::StatusOr<Snapshot> Run(std::shared_ptr<CompileCache>* cache) {
    const CompileCache* c = cache ? cache->get() : nullptr;
    std::shared_ptr<const IdentityBuild> ib = Identities(c, cache != nullptr);
    if (!error_.ok()) return error_;
    snap_.base = ib;
    std::shared_ptr<const PolicyBuild> prev;
    if (c && ib && c->policies && c->policies->identities == ib) prev = c->policies;
    // On top of the previous compile's entries, unless the namespaces (their labels decide
    // peers) changed or its port set table has grown to twice its size after the last full
    // compile (freed sets are reused, but a change may need more at once), or near the
    // datapath's limit.
    if (prev && prev->namespaces == st_.namespaces.Pin() &&
        prev->portsets.size() <=
            std::min<size_t>(std::max<size_t>(64, 2 * prev->portsets_after_full),
                             opts_.limits.portsets - opts_.limits.portsets / 4)) {
      CompileChangedPolicies(prev);
    } else {
      for (const auto& [_, np] : st_.policies) CompilePolicy(np, nullptr);
      portsets_after_full_ = portsets_.size();
    }
    if (!error_.ok()) return error_;
    snap_.portsets = portsets_.Sets();
    std::vector<uint8_t> isolated;  // taken before the identities move into the snapshot
    isolated.reserve(pod_identities_.size());
    for (const auto& id : pod_identities_) isolated.push_back(id.isolated);
    CollectIdentities();
    if (absl::Status st = CheckTableLimits(snap_, opts_.limits); !st.ok()) return st;
    if (cache) *cache = SavedFor(ib, std::move(isolated));
    return std::move(snap_);
  }

 private:
  // The identities and ipcache: the cached ones when what they are built from is unchanged
  // (a NetworkPolicy edit that adds no ipBlock prefix), else built (and returned for caching
  // when `keep`).
  std::shared_ptr<const IdentityBuild> Identities(const CompileCache* c, bool keep) {
    std::vector<Cidr> prefixes = PolicyPrefixes();
    if (c && c->identities && c->identities->pods == st_.pods.Pin() &&
        c->identities->nodes == st_.nodes.Pin() &&
        c->identities->cluster_cidrs == opts_.cluster_cidrs &&
        c->identities->policy_prefixes == prefixes) {
      std::shared_ptr<const IdentityBuild> ib = c->identities;
      pod_identities_ = ib->pod_identities;
      cidr_identities_ = ib->cidr_identities;
      ns_identities_ = ib->ns_identities;
      by_namespace_ = ib->by_namespace;
      snap_.pods = ib->pods_records;
      snap_.ipcache = ib->ipcache;
      return ib;
    }
    BuildPodIdentities();
    if (error_.ok()) BuildCidrIdentities(prefixes);
    if (!error_.ok() || !keep) {
      if (error_.ok()) BuildIpcache();
      return nullptr;
    }
    BuildIpcache();
    auto fresh = std::make_shared<IdentityBuild>();
    fresh->pods = st_.pods.Pin();
    fresh->nodes = st_.nodes.Pin();
    fresh->cluster_cidrs = opts_.cluster_cidrs;
    fresh->policy_prefixes = std::move(prefixes);
    fresh->pod_identities = pod_identities_;
    fresh->cidr_identities = cidr_identities_;
    fresh->ns_identities = ns_identities_;
    fresh->by_namespace = by_namespace_;
    fresh->pods_records = snap_.pods;
    fresh->ipcache = snap_.ipcache;
    return fresh;
  }

  // What the next compile may build on: these identities and this compile's entries.
  std::shared_ptr<CompileCache> SavedFor(std::shared_ptr<const IdentityBuild> ib,
                                         std::vector<uint8_t> isolated) {
    auto pb = std::make_shared<PolicyBuild>();
    pb->identities = ib;
    pb->policies = st_.policies.Pin();
    pb->namespaces = st_.namespaces.Pin();
    pb->policy = snap_.policy;
    pb->portsets = portsets_;
    pb->portsets_after_full = portsets_after_full_;
    pb->isolated = std::move(isolated);
    snap_.policy_build = pb;
    auto next = std::make_shared<CompileCache>();
    next->identities = std::move(ib);
    next->policies = std::move(pb);
    return next;
  }

  // ---- identities ---------------------------------------------------------------------------
  void BuildPodIdentities() {
    std::map<PodIdentityKey, std::vector<const Pod*>> groups;
    for (const auto& [key, pod] : st_.pods) {
      if (pod.host_network) continue;  // addressed as its node: the host identity
      groups[PodIdentityKey{pod.ns, pod.labels, pod.service_account, SignatureOf(pod)}].push_back(
          &pod);
    }
    std::vector<std::string> canon;
    for (const auto& [k, _] : groups) {
      canon.push_back(absl::StrCat("pod\n", k.ns, "\n", LabelsText(k.labels), "\n", k.sa, "\n",
                                   SignatureText(k.sig)));
    }
    // Allocate() wants sorted keys; map each canonical key back to its id.
    std::vector<std::string> sorted = SortedCopy(canon);
    absl::StatusOr<std::vector<uint32_t>> ids = pod_alloc_.Allocate(sorted);
    if (!ids.ok()) return Fail("pod identities", ids.status());
    std::map<std::string, uint32_t> id_of;
    for (size_t i = 0; i < sorted.size(); ++i) id_of[sorted[i]] = (*ids)[i];
    size_t i = 0;
    for (const auto& [k, members] : groups) {
      Identity id;
      id.id = id_of[canon[i++]];
      id.kind = IdentityKind::kPod;
      id.ns = k.ns;
      id.labels = k.labels;
      id.service_account = k.sa;
      id.named_ports = k.sig;
      id.name = absl::StrCat(k.ns, " {", LabelsText(k.labels), "} sa=", k.sa);
      if (!k.sig.empty()) absl::StrAppend(&id.name, " ports=", SignatureText(k.sig));
      for (const Pod* p : members) {
        id.pods.Mut().push_back(p->Key());
        snap_.pods[p->Key()].identity = id.id;
      }
      by_namespace_[k.ns].push_back(pod_identities_.size());
      pod_identities_.push_back(std::move(id));
    }
    for (size_t j = 0; j < pod_identities_.size(); ++j) {
      for (const auto& key : *pod_identities_[j].pods)
        pod_sig_[st_.FindPod(key)] = &pod_identities_[j].named_ports;
    }
    BuildNamespaceIdentities();
  }

  // One identity per namespace with pods: a peer that is every pod of a namespace is one policy
  // entry keyed by it, where an entry per pod identity would grow with the cluster.
  void BuildNamespaceIdentities() {
    std::vector<std::string> canon;
    for (const auto& [ns, _] : by_namespace_) canon.push_back(absl::StrCat("namespace\n", ns));
    absl::StatusOr<std::vector<uint32_t>> ids = ns_alloc_.Allocate(canon);  // sorted: a map's
    if (!ids.ok()) return Fail("namespace identities", ids.status());
    size_t i = 0;
    for (const auto& [ns, _] : by_namespace_) {
      Identity id;
      id.id = (*ids)[i++];
      id.kind = IdentityKind::kNamespace;
      id.ns = ns;
      id.name = absl::StrCat("namespace ", ns, " (every pod)");
      ns_identities_.push_back(std::move(id));
    }
  }

  // The identity of namespace `ns`'s pods (null: it has none).
  const Identity* NamespaceIdentity(const std::string& ns) const {
    auto it = std::lower_bound(ns_identities_.begin(), ns_identities_.end(), ns,
                               [](const Identity& id, const std::string& n) { return id.ns < n; });
    return it != ns_identities_.end() && it->ns == ns ? &*it : nullptr;
  }

  static std::vector<std::string> SortedCopy(std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    return v;
  }

  // Every ipBlock prefix (cidr and except) the policies name, sorted and unique.
  std::vector<Cidr> PolicyPrefixes() const {
    std::vector<Cidr> out;
    for (const auto& [_, np] : st_.policies) {
      for (const auto* rules : {&np.ingress, &np.egress}) {
        for (const auto& rule : *rules) {
          for (const auto& peer : rule.peers) {
            if (!peer.ip_block) continue;
            out.push_back(peer.ip_block->cidr);
            out.insert(out.end(), peer.ip_block->except.begin(), peer.ip_block->except.end());
          }
        }
      }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
  }

  void BuildCidrIdentities(const std::vector<Cidr>& policy_prefixes) {
    for (const auto& p : policy_prefixes) prefixes_.Add(p);
    prefixes_.Add(*ParseCidr("0.0.0.0/0"));
    prefixes_.Add(*ParseCidr("::/0"));

    std::set<CidrIdentityKey> keys;
    for (const auto& p : prefixes_.all()) keys.insert(CidrIdentityKey{p, {}});
    for (const auto& [key, pod] : st_.pods) {
      if (pod.host_network) continue;
      const Signature& sig = *pod_sig_.at(&pod);
      if (pod.ips.empty()) keys.insert(CidrIdentityKey{std::nullopt, sig});
      for (const auto& ip : pod.ips)
        keys.insert(CidrIdentityKey{*prefixes_.LongestCovering(HostPrefix(ip)), sig});
    }
    std::vector<std::string> canon;
    std::map<std::string, CidrIdentityKey> back;
    for (const auto& k : keys) {
      std::string c =
          absl::StrCat("cidr\n", k.prefix ? k.prefix->ToString() : "-", "\n", SignatureText(k.sig));
      canon.push_back(c);
      back.emplace(c, k);
    }
    std::sort(canon.begin(), canon.end());
    absl::StatusOr<std::vector<uint32_t>> ids = cidr_alloc_.Allocate(canon);
    if (!ids.ok()) return Fail("CIDR identities", ids.status());
    for (size_t i = 0; i < canon.size(); ++i) {
      const CidrIdentityKey& k = back.at(canon[i]);
      Identity id;
      id.id = (*ids)[i];
      id.kind = IdentityKind::kCidr;
      id.prefix = k.prefix;
      id.named_ports = k.sig;
      id.name = k.prefix ? absl::StrCat("cidr ", k.prefix->ToString()) : "pods without an address";
      if (!k.sig.empty())
        absl::StrAppend(&id.name, " (pods with ports ", SignatureText(k.sig), ")");
      cidr_id_[k] = id.id;
      cidr_identities_.push_back(std::move(id));
    }
  }

  uint32_t CidrIdentityOf(const Cidr& q, const Signature& sig) const {
    return cidr_id_.at(CidrIdentityKey{*prefixes_.LongestCovering(q), sig});
  }

  void BuildIpcache() {
    PrefixSet cluster;
    for (const auto& [_, node] : st_.nodes) {
      for (const auto& c : node.pod_cidrs) cluster.Add(c);
    }
    for (const auto& c : opts_.cluster_cidrs) cluster.Add(c);
    std::map<Cidr, wd_ipcache_value> entries;
    for (const auto& p : prefixes_.all()) {
      entries[p] = wd_ipcache_value{cluster.LongestCovering(p) ? WD_ID_CLUSTER : WD_ID_WORLD,
                                    CidrIdentityOf(p, {}), WD_ID_NONE};
    }
    for (const auto& c : cluster.all())
      entries[c] = wd_ipcache_value{WD_ID_CLUSTER, CidrIdentityOf(c, {}), WD_ID_NONE};
    for (const auto& [_, node] : st_.nodes) {
      for (const auto& ip : node.addresses)
        entries[HostPrefix(ip)] =
            wd_ipcache_value{WD_ID_HOST, CidrIdentityOf(HostPrefix(ip), {}), WD_ID_NONE};
    }
    for (const auto& [key, pod] : st_.pods) {
      if (pod.host_network) continue;
      const Signature& sig = *pod_sig_.at(&pod);
      CompiledPod& rec = snap_.pods[key];
      if (pod.ips.empty())
        rec.no_address_cidr_identity = cidr_id_.at(CidrIdentityKey{std::nullopt, sig});
      const uint32_t ns_id = NamespaceIdentity(pod.ns)->id;
      rec.ns_identity = ns_id;
      for (const auto& ip : pod.ips)
        entries[HostPrefix(ip)] =
            wd_ipcache_value{rec.identity, CidrIdentityOf(HostPrefix(ip), sig), ns_id};
    }
    snap_.ipcache.reserve(entries.size());
    for (const auto& [c, v] : entries) snap_.ipcache.emplace_back(MakeIpcacheKey(c), v);
  }

  // Moves every identity into the snapshot, sorted by id (the compile is over).
  void CollectIdentities() {
    auto& ids = snap_.identities;
    ids.reserve(pod_identities_.size() + cidr_identities_.size() + ns_identities_.size() + 4);
    for (uint32_t r : {WD_ID_HOST, WD_ID_WORLD, WD_ID_CLUSTER, WD_ID_ANY_POD}) {
      Identity id;
      id.id = r;
      id.kind = IdentityKind::kReserved;
      id.name = r == WD_ID_HOST      ? "host"
                : r == WD_ID_WORLD   ? "world"
                : r == WD_ID_ANY_POD ? "every pod (of every namespace)"
                                     : "cluster (unknown address)";
      ids.push_back(std::move(id));
    }
    for (auto* kind : {&pod_identities_, &ns_identities_, &cidr_identities_}) {
      ids.insert(ids.end(), std::make_move_iterator(kind->begin()),
                 std::make_move_iterator(kind->end()));
      kind->clear();
    }
    std::sort(ids.begin(), ids.end(),
              [](const Identity& a, const Identity& b) { return a.id < b.id; });
    for (size_t i = 0; i < ids.size(); ++i) snap_.identity_index[ids[i].id] = i;
  }

  // ---- policies -----------------------------------------------------------------------------
  // What a rule allows of the ports, as a policy entry says it. A port set the table cannot
  // intern (the compile fails: Fail) is left empty: nothing compiled then is used.
  wd_policy_value ResolvePorts(const PolicyRule& rule, const Signature* dest_sig) {
    wd_policy_value v{};
    if (rule.ports.empty()) {
      for (auto& s : v.portset) s = WD_PORTSET_ALL;
      v.flags = WD_POLICY_OTHER_L4;
      return v;
    }
    std::vector<PortRange> ranges[kProtocolCount];
    for (const auto& pp : rule.ports) {
      std::vector<PortRange>& out = ranges[L4Index(pp.protocol)];
      if (std::holds_alternative<std::monostate>(pp.port)) {
        out.push_back({0, 65535});
      } else if (const int* p = std::get_if<int>(&pp.port)) {
        out.push_back({static_cast<uint16_t>(*p), static_cast<uint16_t>(pp.end_port.value_or(*p))});
      } else if (dest_sig) {
        const std::string& name = std::get<std::string>(pp.port);
        for (const auto& np : *dest_sig) {
          if (np.name == name && np.protocol == pp.protocol) {
            out.push_back({static_cast<uint16_t>(np.port), static_cast<uint16_t>(np.port)});
          }
        }
      }
    }
    for (int i = 0; i < kProtocolCount; ++i) v.portset[i] = SetId(portsets_.Intern(ranges[i]));
    return v;
  }

  uint16_t SetId(absl::StatusOr<uint16_t> id) {
    if (id.ok()) return *id;
    Fail("port sets", id.status());
    return WD_PORTSET_EMPTY;
  }

  // The first error wins; Run() then returns it and leaves the cache as it was.
  void Fail(const char* what, const absl::Status& st) {
    if (error_.ok()) error_ = absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
  }

  static bool HasNamedPort(const PolicyRule& rule) {
    return std::any_of(rule.ports.begin(), rule.ports.end(), [](const PolicyPort& p) {
      return std::holds_alternative<std::string>(p.port);
    });
  }

  // The identities whose entries stand for the rule's peers. A peer that is every pod of some
  // namespaces is keyed by those namespaces' identities (every namespace: WD_ID_ANY_POD), unless
  // `per_pod` (a named port resolved on each peer: egress) needs the pod identities.
  std::vector<const Identity*> Peers(const NetworkPolicy& np, const PolicyRule& rule,
                                     bool per_pod) {
    std::vector<const Identity*> out;
    if (rule.peers.empty()) {  // every peer: every address and every pod has a CIDR identity
      for (const auto& id : cidr_identities_) out.push_back(&id);
      return out;
    }
    std::set<uint32_t> seen;
    auto add = [&](const Identity& id) {
      if (seen.insert(id.id).second) out.push_back(&id);
    };
    for (const auto& peer : rule.peers) {
      if (peer.ip_block) {
        for (const auto& id : cidr_identities_) {
          if (!id.prefix || !peer.ip_block->cidr.Covers(*id.prefix)) continue;
          bool excepted = std::any_of(peer.ip_block->except.begin(), peer.ip_block->except.end(),
                                      [&](const Cidr& ex) { return ex.Covers(*id.prefix); });
          if (!excepted) add(id);
        }
        continue;
      }
      const bool whole_namespaces = !per_pod && (!peer.pod_selector || peer.pod_selector->Empty());
      if (whole_namespaces && peer.namespace_selector && peer.namespace_selector->Empty()) {
        add(any_pod_);
        continue;
      }
      for (const auto& [ns_name, ns] : st_.namespaces) {
        bool ns_ok = peer.namespace_selector ? peer.namespace_selector->Matches(ns.labels)
                                             : ns_name == np.ns;
        if (!ns_ok) continue;
        if (whole_namespaces) {
          if (const Identity* nsid = NamespaceIdentity(ns_name)) add(*nsid);
          continue;
        }
        auto it = by_namespace_.find(ns_name);
        if (it == by_namespace_.end()) continue;
        for (size_t idx : it->second) {
          const Identity& id = pod_identities_[idx];
          if (!peer.pod_selector || peer.pod_selector->Matches(id.labels)) add(id);
        }
      }
    }
    return out;
  }

  // The pod identities `np` selects (its namespace's, matching its podSelector).
  template <typename Fn>
  void ForSelected(const NetworkPolicy& np, Fn fn) {
    auto it = by_namespace_.find(np.ns);
    if (it == by_namespace_.end()) return;
    for (size_t idx : it->second) {
      if (np.pod_selector.Matches(pod_identities_[idx].labels)) fn(pod_identities_[idx]);
    }
  }

  // The policies of the previous compile, with the entries of the local identities that
  // changed policies select (before or now) compiled again from every policy selecting them.
  // Only policies of a local identity's own namespace can select it.
  void CompileChangedPolicies(const std::shared_ptr<const PolicyBuild>& prev_build) {
    const PolicyBuild& prev = *prev_build;
    absl::flat_hash_set<uint32_t> affected;
    std::set<std::string> namespaces;
    auto touch = [&](const NetworkPolicy& np) {
      ForSelected(np, [&](const Identity& id) {
        affected.insert(id.id);
        namespaces.insert(np.ns);
      });
    };
    const auto& before = *prev.policies;
    const auto& now = st_.policies.get();
    if (&before != &now) {
      auto a = before.begin(), b = now.begin();
      while (a != before.end() || b != now.end()) {
        if (b == now.end() || (a != before.end() && a->first < b->first)) {
          touch((a++)->second);  // removed
        } else if (a == before.end() || b->first < a->first) {
          touch((b++)->second);  // added
        } else {
          if (!(a->second == b->second)) {
            touch(a->second);
            touch(b->second);
          }
          ++a;
          ++b;
        }
      }
    }
    portsets_ = prev.portsets;
    portsets_after_full_ = prev.portsets_after_full;
    snap_.policy = prev.policy;
    absl::erase_if(snap_.policy.Mut(),  // the one copy a change makes of the entries
                   [&](const auto& e) { return affected.contains(e.first.local); });
    // Port sets that only the erased entries named are free for the sets that replace them:
    // a changed port list then often keeps its entries' ids (only the set's contents change),
    // and the table does not grow with every change.
    {
      std::vector<bool> used(portsets_.size(), false);
      for (const auto& [_, v] : snap_.policy) {
        for (uint16_t ps : v.portset) used[ps] = true;
      }
      std::vector<uint16_t> unused;
      for (size_t i = 0; i < used.size(); ++i) {
        if (!used[i]) unused.push_back(static_cast<uint16_t>(i));
      }
      portsets_.Free(unused);
    }
    for (size_t i = 0; i < pod_identities_.size(); ++i) {
      Identity& id = pod_identities_[i];
      id.isolated = affected.contains(id.id) ? 0 : prev.isolated[i];
    }
    for (const auto& [_, np] : now) {
      if (namespaces.count(np.ns)) CompilePolicy(np, &affected);
    }
    snap_.policy_changed_from = prev_build;
    snap_.policy_changed_locals.assign(affected.begin(), affected.end());
    std::sort(snap_.policy_changed_locals.begin(), snap_.policy_changed_locals.end());
  }

  // Compiles `np` for the identities it selects (only those in `only`, if given).
  void CompilePolicy(const NetworkPolicy& np, const absl::flat_hash_set<uint32_t>* only) {
    std::vector<Identity*> selected;
    ForSelected(np, [&](Identity& id) {
      if (!only || only->contains(id.id)) selected.push_back(&id);
    });
    if (selected.empty()) return;
    for (Identity* id : selected) {
      if (np.affects_ingress) id->isolated |= WD_ISOLATED_INGRESS;
      if (np.affects_egress) id->isolated |= WD_ISOLATED_EGRESS;
    }
    if (np.affects_ingress) {
      for (const auto& rule : np.ingress) CompileRule(np, rule, WD_DIR_INGRESS, selected);
    }
    if (np.affects_egress) {
      for (const auto& rule : np.egress) CompileRule(np, rule, WD_DIR_EGRESS, selected);
    }
  }

  void CompileRule(const NetworkPolicy& np, const PolicyRule& rule, uint8_t dir,
                   const std::vector<Identity*>& selected) {
    bool named = HasNamedPort(rule);
    std::vector<const Identity*> peers = Peers(np, rule, named && dir == WD_DIR_EGRESS);
    if (peers.empty()) return;
    wd_policy_value fixed{};
    if (!named) fixed = ResolvePorts(rule, nullptr);
    // Named ports resolve on the destination: the local pod for ingress, the peer for egress.
    absl::flat_hash_map<const Signature*, wd_policy_value> by_sig;
    auto value_for = [&](const Identity& dest) -> const wd_policy_value& {
      if (!named) return fixed;
      auto [it, fresh] = by_sig.try_emplace(&dest.named_ports);
      if (fresh) it->second = ResolvePorts(rule, &dest.named_ports);
      return it->second;
    };
    auto& policy = snap_.policy.Mut();
    for (const Identity* local : selected) {
      for (const Identity* remote : peers) {
        const wd_policy_value& v = value_for(dir == WD_DIR_INGRESS ? *local : *remote);
        if (v == wd_policy_value{}) {
          continue;  // a named port this destination does not declare: nothing to allow
        }
        // A new entry starts as all zeroes (every set WD_PORTSET_EMPTY, no flags).
        wd_policy_value& out = policy[PolicyKey{local->id, remote->id, dir}];
        for (int i = 0; i < kProtocolCount; ++i)
          out.portset[i] = SetId(portsets_.Union(out.portset[i], v.portset[i]));
        out.flags |= v.flags;
      }
    }
  }

  const ClusterState& st_;
  const CompileOptions& opts_;
  Snapshot snap_;
  IdentityAllocator pod_alloc_{WD_ID_POD_MIN, WD_ID_POD_MAX};
  IdentityAllocator cidr_alloc_{WD_ID_CIDR_FLAG | 1u, WD_ID_CIDR_FLAG | 0x00ffffffu};
  IdentityAllocator ns_alloc_{WD_ID_NS_FLAG | 1u, WD_ID_NS_FLAG | 0x00ffffffu};
  std::vector<Identity> pod_identities_;
  std::vector<Identity> cidr_identities_;
  std::vector<Identity> ns_identities_;  // sorted by namespace
  const Identity any_pod_ = [] {
    Identity id;
    id.id = WD_ID_ANY_POD;
    return id;
  }();
  std::map<std::string, std::vector<size_t>> by_namespace_;
  absl::flat_hash_map<const Pod*, const Signature*> pod_sig_;
  PrefixSet prefixes_;
  std::map<CidrIdentityKey, uint32_t> cidr_id_;
  PortSetTable portsets_;
  size_t portsets_after_full_ = 0;
  absl::Status error_;
};

}  // namespace

absl::StatusOr<Snapshot> Compile(const ClusterState& state, const CompileOptions& options) {
  return Compiler(state, options).Run(nullptr);
}

absl::StatusOr<Snapshot> Compile(const ClusterState& state, const CompileOptions& options,
                                 std::shared_ptr<CompileCache>* cache) {
  return Compiler(state, options).Run(cache);
}

absl::Status CheckTableLimits(const Snapshot& snap, const TableLimits& limits) {
  size_t hosts = 0;
  for (const auto& [k, v] : snap.ipcache) {
    if (k.prefixlen == WD_IPCACHE_PREFIX_BASE + (k.family == WD_AF_INET ? 32u : 128u)) ++hosts;
  }
  auto over = [](const char* table, size_t need, size_t room) {
    return absl::ResourceExhaustedError(absl::StrCat("the compiled tables need ", need, " ", table,
                                                     " entries; the datapath holds ", room));
  };
  if (snap.portsets.size() > limits.portsets)
    return over("port set", snap.portsets.size(), limits.portsets);
  size_t ranges = 0;
  for (const auto& set : snap.portsets) {
    if (set.size() > WD_PORTSET_INLINE) ranges += set.size();
  }
  if (ranges > limits.portranges) return over("port range", ranges, limits.portranges);
  if (hosts > limits.ipcache_hosts)
    return over("pod and node address", hosts, limits.ipcache_hosts);
  if (snap.ipcache.size() - hosts > limits.ipcache_prefixes)
    return over("ipcache prefix", snap.ipcache.size() - hosts, limits.ipcache_prefixes);
  return absl::OkStatus();
}

}  // namespace warden::policy
