// Node states share what they have in common (the identity catalogue, the ipcache, the port sets
// and each identity's policy entries): versions must still behave as independent values, and
// the differences between them must still be exact.
#include <gtest/gtest.h>

#include <functional>
#include <random>

#include "absl/strings/str_cat.h"
#include "agent/node/tables_builder.h"
#include "agent/nodestate/from_snapshot.h"
#include "agent/nodestate/ipcache_wire.h"
#include "agent/nodestate/wire.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/message_differencer.h"

namespace warden::nodestate {
namespace {

constexpr char kCluster[] = R"(
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {ns: y}}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, uid: ua, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, uid: ub, labels: {app: b}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIP: 10.0.2.1}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: y, uid: uc, labels: {app: c}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIP: 10.0.2.2}
)";

std::string Policy(const std::string& from_ns, int port) {
  return R"(
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-y, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from: [{namespaceSelector: {matchLabels: {ns: )" +
         from_ns + R"(}}}]
    ports: [{port: )" +
         std::to_string(port) + "}]\n";
}

struct Compiled {
  policy::ClusterState state;
  policy::Snapshot snap;
};

Compiled CompileTexts(const std::string& policy_yaml) {
  auto loaded = policy::LoadManifestTexts({{"cluster.yaml", kCluster}, {"p.yaml", policy_yaml}});
  EXPECT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
  Compiled c{std::move(loaded.state), {}};
  c.snap = policy::Compile(c.state).value();
  return c;
}

TEST(NodeStateTest, NodesGetTheirOwnCatalogueAndShareUnchangedPolicyAcrossSnapshots) {
  Compiled v1 = CompileTexts(Policy("y", 80));
  SharedParts p1 = ComputeSharedParts(v1.state, v1.snap);
  NodeState n1 = ComputeNodeState(v1.state, p1, "n1", {"", {}});
  NodeState n2 = ComputeNodeState(v1.state, p1, "n2", {"", {}});
  EXPECT_TRUE(n1.ipcache.SameObject(n2.ipcache));
  EXPECT_EQ(n1.pods.size(), 1u);
  EXPECT_EQ(n2.pods.size(), 2u);
  // n1 holds the entries of x/a's identity only; n2 those of x/b and y/c.
  uint32_t a = v1.snap.pods.at("x/a").identity;
  const uint32_t ns_x = v1.snap.pods.at("x/a").ns_identity;
  const uint32_t ns_y = v1.snap.pods.at("y/c").ns_identity;
  // Each node's catalogue: its pods' identities and what their entries name (x/a's: namespace
  // y, one entry for every pod there), not the cluster's.
  auto ids = [](const NodeState& n) {
    std::vector<uint32_t> out;
    for (const auto& [id, _] : *n.identities) out.push_back(id);
    return out;
  };
  EXPECT_EQ(ids(n1), (std::vector<uint32_t>{a, ns_y}));
  EXPECT_EQ(ids(n2), (std::vector<uint32_t>{v1.snap.pods.at("x/b").identity,
                                            v1.snap.pods.at("y/c").identity}));
  EXPECT_EQ(n1.identities->at(ns_y).ns, "y");
  EXPECT_EQ(n1.policy.count(a), 1u);
  EXPECT_EQ(n2.policy.count(a), 0u);

  // The peer changes: x/a's entries change, nothing else does.
  Compiled v2 = CompileTexts(Policy("x", 80));
  SharedParts p2 = ComputeSharedParts(v2.state, v2.snap, &p1);
  EXPECT_TRUE(p2.ipcache.SameObject(p1.ipcache));
  EXPECT_TRUE(p2.identities.SameObject(p1.identities));
  ASSERT_EQ(p2.policy.count(a), 1u);
  EXPECT_FALSE(p2.policy.at(a).SameObject(p1.policy.at(a)));
  for (const auto& [id, block] : p2.policy) {
    if (id != a && p1.policy.count(id)) {
      EXPECT_TRUE(block.SameObject(p1.policy.at(id))) << id;
    }
  }
  // n2 hosts no pod whose policy entries changed: only the policy object (x/b is in namespace x,
  // whose policies its verdict log names) differs, and its delta carries no entry.
  NodeState n2b = ComputeNodeState(v2.state, p2, "n2", {"", {}});
  EXPECT_FALSE(n2b.SameContents(n2));
  EXPECT_EQ(n2b.policy, n2.policy);
  EXPECT_TRUE(n2b.ipcache.SameObject(n2.ipcache));
  n2.version = 1;
  n2b.version = 2;
  v1::Update d2 = DeltaUpdate(n2, n2b);
  EXPECT_EQ(d2.policy_entries().remote_of_size() + d2.removed_policy_entries().remote_of_size(), 0);
  EXPECT_EQ(d2.network_policies_size(), 1);
  EXPECT_EQ(d2.network_policies(0).name(), "a-from-y");
  EXPECT_FALSE(n2b.network_policies.at("x").SameObject(n2.network_policies.at("x")));
  EXPECT_EQ(n2b.network_policies.count("y"), 0u) << "namespace y has no NetworkPolicy";
  NodeState n1b = ComputeNodeState(v2.state, p2, "n1", {"", {}});
  EXPECT_FALSE(n1b.SameContents(n1));

  // The delta names exactly the changed entry; applied to a copy of the old version it gives
  // the new one, and leaves the old version (which shares everything with the copy) alone.
  n1.version = 10;
  n1b.version = 11;
  v1::Update d = DeltaUpdate(n1, n1b);
  EXPECT_EQ(d.ipcache_size(), 0);
  ASSERT_EQ(d.identities_size(), 1) << "namespace x, now named by x/a's entries";
  EXPECT_EQ(d.identities(0).id(), ns_x);
  EXPECT_EQ(d.removed_identities_size(), 1);
  EXPECT_TRUE(n2b.identities.SameObject(n2.identities));
  EXPECT_GE(d.policy_entries().remote_of_size() + d.removed_policy_entries().remote_of_size(), 1);
  EXPECT_FALSE(d.has_portsets());
  NodeState held = n1;
  ASSERT_TRUE(ApplyUpdate(d, &held).ok());
  EXPECT_TRUE(held.SameContents(n1b));
  EXPECT_EQ(held.version, 11u);
  EXPECT_TRUE(held.ipcache.SameObject(n1.ipcache)) << "an update that leaves it alone shares it";
  EXPECT_FALSE(held.SameContents(n1));
  EXPECT_EQ(n1.version, 10u);
  EXPECT_TRUE(n1.SameContents(ComputeNodeState(v1.state, p1, "n1", {"", {}})))
      << "applying to a copy changed the original";
}

// The control plane's path: the manifest source shares unchanged kinds, the compile reuses the
// identities and ipcache (same base), and the shared parts then reuse the ipcache and each node's
// pods. Node states cut that way equal node states computed from scratch.
TEST(NodeStateTest, PartsOfTheSameBaseAreReusedAndExact) {
  auto load = [](const std::string& policy_yaml, policy::ClusterState* keep_pods_of) {
    auto loaded = policy::LoadManifestTexts({{"cluster.yaml", kCluster}, {"p.yaml", policy_yaml}});
    EXPECT_TRUE(loaded.errors.empty());
    if (keep_pods_of) {  // as ManifestSource does when only the policy file changed
      loaded.state.pods = keep_pods_of->pods;
      loaded.state.nodes = keep_pods_of->nodes;
      loaded.state.namespaces = keep_pods_of->namespaces;
      loaded.state.Finalize();
    }
    return std::move(loaded.state);
  };
  std::shared_ptr<policy::CompileCache> cache;
  policy::ClusterState st1 = load(Policy("y", 80), nullptr);
  policy::Snapshot s1 = policy::Compile(st1, {}, &cache).value();
  SharedParts p1 = ComputeSharedParts(st1, s1);
  SharedParts prev = p1;
  for (const auto& [policy_yaml, same_base] : std::vector<std::pair<std::string, bool>>{
           {Policy("x", 81), true}, {Policy("y", 80), true}}) {
    policy::ClusterState st2 = load(policy_yaml, &st1);
    policy::Snapshot s2 = policy::Compile(st2, {}, &cache).value();
    ASSERT_NE(s2.base, nullptr);
    EXPECT_EQ(s2.base == s1.base, same_base);
    // Only the identities the changed policy selects (x/a's) were compiled again.
    ASSERT_NE(s2.policy_changed_from, nullptr);
    EXPECT_EQ(s2.policy_changed_locals, std::vector<uint32_t>{s2.pods.at("x/a").identity});
    SharedParts p2 = ComputeSharedParts(st2, s2, &prev);
    EXPECT_TRUE(p2.ipcache.SameObject(prev.ipcache));
    EXPECT_TRUE(p2.pods_by_node.SameObject(prev.pods_by_node));
    EXPECT_TRUE(p2.node_names.SameObject(prev.node_names));
    for (const char* node : {"n1", "n2"}) {  // the nodes with pods
      EXPECT_TRUE(ComputeNodeState(st2, p2, node, {"", {}})
                      .pods.SameObject(ComputeNodeState(st2, prev, node, {"", {}}).pods))
          << node << ": a policy change shares the node's pod map";
    }
    for (const auto& [local, block] : p2.policy) {
      if (local != s2.pods.at("x/a").identity) {
        EXPECT_TRUE(block.SameObject(prev.policy.at(local))) << local;
      }
    }
    SharedParts fresh = ComputeSharedParts(st2, s2);  // the same snapshot, nothing reused
    for (const char* node : {"n1", "n2", "n3"}) {
      EXPECT_TRUE(ComputeNodeState(st2, p2, node, {"x", {}})
                      .SameContents(ComputeNodeState(st2, fresh, node, {"x", {}})))
          << node;
    }
    prev = std::move(p2);
  }
  // A pod change is a new base: nothing is taken from the parts before.
  policy::ClusterState st3 = load(Policy("y", 80), nullptr);
  policy::Snapshot s3 = policy::Compile(st3, {}, &cache).value();
  EXPECT_NE(s3.base, s1.base);
  SharedParts p3 = ComputeSharedParts(st3, s3, &p1);
  EXPECT_FALSE(p3.pods_by_node.SameObject(p1.pods_by_node));
}

TEST(NodeStateTest, CopyOnWriteKeepsEveryHolderIndependent) {
  Compiled v1 = CompileTexts(Policy("y", 80));
  NodeState s = ComputeNodeState(v1.state, v1.snap, "n1", {"", {}});
  s.version = 1;
  NodeState copy = s;
  ASSERT_TRUE(copy.ipcache.SameObject(s.ipcache));
  // A delta that removes an ipcache entry and a policy block, applied to the copy.
  v1::Update u;
  u.set_version(2);
  u.set_base_version(1);
  auto* gone = u.add_removed_ipcache();
  gone->set_address(std::string("\x0a\x00\x02\x02", 4));
  gone->set_length(32);
  s.ForEachPolicy([&](const policy::PolicyKey& k, const wd_policy_value&) {
    auto* w = u.add_removed_policy();
    w->set_local_identity(k.local);
    w->set_remote_identity(k.remote);
    w->set_direction(k.direction == WD_DIR_EGRESS ? v1::DIRECTION_EGRESS : v1::DIRECTION_INGRESS);
  });
  size_t entries = s.PolicyEntries(), prefixes = s.ipcache->size();
  ASSERT_GT(entries, 0u);
  ASSERT_TRUE(ApplyUpdate(u, &copy).ok());
  EXPECT_EQ(copy.PolicyEntries(), 0u);
  EXPECT_TRUE(copy.policy.empty()) << "emptied blocks are dropped";
  EXPECT_EQ(copy.ipcache->size(), prefixes - 1);
  EXPECT_EQ(s.PolicyEntries(), entries);
  EXPECT_EQ(s.ipcache->size(), prefixes);
  // A rejected update leaves the state exactly as it was.
  v1::Update bad = u;
  bad.set_version(3);
  bad.set_base_version(2);
  bad.clear_removed_ipcache();
  bad.clear_removed_policy();
  auto* e = bad.add_ipcache();
  e->mutable_prefix()->set_address(std::string("\x0a\x00\x09\x09", 4));
  e->mutable_prefix()->set_length(40);  // not an IPv4 prefix length
  NodeState before = copy;
  EXPECT_FALSE(ApplyUpdate(bad, &copy).ok());
  EXPECT_TRUE(copy.SameContents(before));
  EXPECT_EQ(copy.version, 2u);
}

// A namespace identity in the ipcache makes every entry keyed by it hold for the address: one
// that is not a namespace identity, or on an address that is no pod's, is refused by name.
TEST(NodeStateTest, NamespaceIdentitiesOnTheWireAreChecked) {
  Compiled v1 = CompileTexts(Policy("y", 80));
  NodeState s = ComputeNodeState(v1.state, v1.snap, "n1", {"", {}});
  s.version = 1;
  uint32_t pod_id = 0, ns_id = 0;
  for (const auto& [c, v] : *s.ipcache) {
    if (v.ns_identity != WD_ID_NONE) {
      pod_id = v.identity;
      ns_id = v.ns_identity;
    }
  }
  ASSERT_NE(ns_id, WD_ID_NONE) << "pod addresses carry their namespace's identity";
  auto entry = [&](uint32_t identity, uint32_t ns) {
    v1::Update u;
    u.set_version(2);
    u.set_base_version(1);
    auto* e = u.add_ipcache();
    e->mutable_prefix()->set_address(std::string("\x0a\x00\x09\x09", 4));
    e->mutable_prefix()->set_length(32);
    e->set_identity(identity);
    e->set_ns_identity(ns);
    NodeState held = s;
    absl::Status st = ApplyUpdate(u, &held);
    if (!st.ok()) {
      EXPECT_TRUE(held.SameContents(s));
    }
    return st;
  };
  EXPECT_TRUE(entry(pod_id, ns_id).ok());
  absl::Status st = entry(pod_id, pod_id);  // a pod identity posing as a namespace's
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ipcache[0].ns_identity"), std::string::npos) << st.message();
  st = entry(WD_ID_CLUSTER, ns_id);  // not a pod's address
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ipcache[0].ns_identity"), std::string::npos) << st.message();
  EXPECT_FALSE(entry(pod_id, WD_ID_NS_FLAG | WD_ID_CIDR_FLAG | 7).ok());
}

// The Sync stream's full update and the stored state carry the shared parts as bytes encoded
// once: both parse to exactly the full update built field by field, and apply to the same
// state; read in place, the stream's message holds only the node's own parts.
TEST(NodeStateTest, TheWiresFullUpdateParsesToTheFullUpdate) {
  Compiled v1 = CompileTexts(Policy("y", 80));
  NodeState s = ComputeNodeState(v1.state, v1.snap, "n1", {"", {}});
  s.version = 1;
  v1::Update built = FullUpdate(s);
  ASSERT_GT(built.namespaces_size(), 0);
  ASSERT_GT(built.ipcache_size(), 0);
  ASSERT_TRUE(built.has_ipcache_hosts());
  google::protobuf::Arena arena;
  auto* spliced = google::protobuf::Arena::CreateMessage<v1::SyncResponse>(&arena);
  FullResponseForWire(s, spliced);
  EXPECT_EQ(spliced->update().namespaces_size(), 0);
  EXPECT_EQ(spliced->update().ipcache_size(), 0);
  EXPECT_GT(spliced->update().pods_size(), 0);
  v1::SyncResponse received;
  ASSERT_TRUE(received.ParseFromString(spliced->SerializeAsString()));
  ASSERT_TRUE(received.has_update());
  EXPECT_TRUE(received.GetReflection()->GetUnknownFields(received).empty());
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(received.update(), built))
      << received.update().ShortDebugString().substr(0, 400);
  v1::Update stored;
  ASSERT_TRUE(stored.ParseFromString(EncodedFullUpdate(s)));
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(stored, built))
      << stored.ShortDebugString().substr(0, 400);
  for (const v1::Update* u : std::vector<const v1::Update*>{&received.update(), &stored}) {
    NodeState from_wire;
    ASSERT_TRUE(ApplyUpdate(*u, &from_wire).ok());
    EXPECT_TRUE(from_wire.SameContents(s));
  }
}

// A full ipcache and then deltas that remove, change and add addresses among the prefixes (in
// both families) apply to exactly the sender's ipcache: the receiver places addresses by their
// order, which must hold wherever they fall.
TEST(NodeStateTest, IpcacheDeltasApplyExactly) {
  Compiled v1 = CompileTexts(Policy("y", 80));
  NodeState from = ComputeNodeState(v1.state, v1.snap, "n1", {"", {}});
  from.version = 1;
  std::mt19937 rng(11);
  auto address = [&] {
    if (rng() % 4 == 0) return absl::StrCat("2001:db8::", absl::Hex(rng() % 4096), "/128");
    return absl::StrCat("10.", rng() % 4, ".", rng() % 256, ".", rng() % 256, "/32");
  };
  const uint32_t cidr = from.ipcache->begin()->second.cidr_identity;
  for (int i = 0; i < 3000; ++i)
    from.ipcache.Mut()[*policy::ParseCidr(address())] = wd_ipcache_value{WD_ID_CLUSTER, cidr, 0};
  NodeState held;
  ASSERT_TRUE(ApplyUpdate(FullUpdate(from), &held).ok());
  ASSERT_TRUE(held.SameContents(from));
  for (int round = 0; round < 5; ++round) {
    NodeState to = from;
    to.version = from.version + 1;
    IpcacheMap& m = to.ipcache.Mut();
    for (auto it = m.begin(); it != m.end();) {
      bool host = IsHostPrefix(it->first);
      it = host && rng() % 3 == 0 ? m.erase(it) : std::next(it);
    }
    for (int i = 0; i < 1000; ++i)
      m[*policy::ParseCidr(address())] = wd_ipcache_value{WD_ID_CLUSTER, cidr, 0};
    ASSERT_TRUE(ApplyUpdate(DeltaUpdate(from, to), &held).ok());
    ASSERT_TRUE(held.SameContents(to)) << "round " << round;
    from = to;
  }
}

// A delta is checked against the state it lands on: an entry it writes must name an existing
// port set, and port sets it replaces must still hold every entry's (the held state's too).
TEST(NodeStateTest, DeltasNamingMissingPortSetsAreRejected) {
  Compiled v1 = CompileTexts(Policy("y", 80));
  NodeState s = ComputeNodeState(v1.state, v1.snap, "n1", {"", {}});
  s.version = 1;
  ASSERT_GT(s.PolicyEntries(), 0u);
  const size_t nsets = s.portsets->size();
  policy::PolicyKey first;
  wd_policy_value first_rec{};
  s.ForEachPolicy([&](const policy::PolicyKey& k, const wd_policy_value& v) {
    first = k;
    first_rec = v;
  });
  uint16_t used = 0;
  for (uint16_t ps : first_rec.portset) used = std::max(used, ps);
  ASSERT_GE(used, 2) << "the entry names an interned set";
  auto delta = [&] {
    v1::Update u;
    u.set_version(2);
    u.set_base_version(1);
    return u;
  };
  auto key_of = [&](v1::PolicyKey* w) {
    w->set_local_identity(first.local);
    w->set_remote_identity(first.remote);
    w->set_direction(first.direction == WD_DIR_EGRESS ? v1::DIRECTION_EGRESS
                                                      : v1::DIRECTION_INGRESS);
  };
  // An entry naming a set past the end.
  v1::Update u = delta();
  auto* e = u.add_policy();
  key_of(e->mutable_key());
  e->set_tcp_portset(static_cast<uint32_t>(nsets));
  NodeState held = s;
  absl::Status st = ApplyUpdate(u, &held);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("names port set"), std::string::npos) << st.message();
  EXPECT_TRUE(held.SameContents(s));
  // The same entry naming the last set: fine.
  e->set_tcp_portset(static_cast<uint32_t>(nsets - 1));
  EXPECT_TRUE(ApplyUpdate(u, &held).ok());
  // Port sets cut down to the two fixed ones: the held entries now dangle.
  held = s;
  v1::Update cut = delta();
  auto* sets = cut.mutable_portsets();
  sets->add_sets();
  auto* all = sets->add_sets()->add_ranges();
  all->set_first(0);
  all->set_last(65535);
  st = ApplyUpdate(cut, &held);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("names port set"), std::string::npos) << st.message();
  EXPECT_TRUE(held.SameContents(s));
}

// The objects a state carries for naming policies are checked as the manifest reader would
// check them: an update with one that could not have come from valid manifests is refused
// whole, naming the field.
TEST(NodeStateTest, NetworkPoliciesOnTheWireAreChecked) {
  Compiled v1 = CompileTexts(Policy("y", 80));
  NodeState s = ComputeNodeState(v1.state, v1.snap, "n1", {"", {}});
  s.version = 1;
  const v1::Update good = FullUpdate(s);
  ASSERT_GT(good.network_policies_size(), 0);
  ASSERT_GT(good.namespaces_size(), 0);
  NodeState held;
  ASSERT_TRUE(ApplyUpdate(good, &held).ok());
  EXPECT_TRUE(held.SameContents(s));
  using Mutation = std::function<void(v1::Update*)>;
  const std::vector<std::pair<std::string, Mutation>> bad = {
      {"operator",
       [](v1::Update* u) {
         auto* e = u->mutable_network_policies(0)->mutable_pod_selector()->add_match_expressions();
         e->set_key("k");
         e->set_operator_(static_cast<v1::SelectorOperator>(9));
       }},
      {"values",
       [](v1::Update* u) {
         auto* e = u->mutable_network_policies(0)->mutable_pod_selector()->add_match_expressions();
         e->set_key("k");
         e->set_operator_(v1::SELECTOR_IN);
       }},
      {"ip_block may not be combined",
       [](v1::Update* u) {
         auto* p = u->mutable_network_policies(0)->mutable_ingress(0)->mutable_peers(0);
         p->mutable_ip_block()->mutable_cidr()->set_address(std::string(4, '\0'));
       }},
      {"a peer needs",
       [](v1::Update* u) { u->mutable_network_policies(0)->mutable_ingress(0)->add_peers(); }},
      {"end_port",
       [](v1::Update* u) {
         auto* p = u->mutable_network_policies(0)->mutable_ingress(0)->mutable_ports(0);
         p->set_number(90);
         p->set_end_port(80);
       }},
      {"protocol",
       [](v1::Update* u) {
         u->mutable_network_policies(0)->mutable_ingress(0)->mutable_ports(0)->set_protocol(1);
       }},
      {"namespace and name", [](v1::Update* u) { u->mutable_network_policies(0)->clear_name(); }},
      {"namespaces[0].name", [](v1::Update* u) { u->mutable_namespaces(0)->clear_name(); }},
  };
  for (const auto& [why, mutate] : bad) {
    v1::Update u = good;
    u.set_version(2);
    mutate(&u);
    NodeState before = held;
    absl::Status st = ApplyUpdate(u, &held);
    EXPECT_FALSE(st.ok()) << why;
    EXPECT_NE(st.message().find(why), std::string::npos) << why << ": " << st.message();
    EXPECT_TRUE(held.SameContents(before)) << why;
  }
}

// Node n1's state before and after x/a's policy changes (port 80 from y -> 81 from x), with one
// local pod (x/a in cgroup 1001) and one allowance.
struct TwoVersions {
  std::vector<node::LocalPod> pods = {{"x/a", 1001}};
  std::vector<policy::Allowance> allow = {*policy::ParseAllowance("169.254.169.254/32:80/TCP")};
  NodeState s1, s2;
  TwoVersions() {
    Compiled v1 = CompileTexts(Policy("y", 80));
    Compiled v2 = CompileTexts(Policy("x", 81));
    SharedParts p1 = ComputeSharedParts(v1.state, v1.snap);
    SharedParts p2 = ComputeSharedParts(v2.state, v2.snap, &p1);
    s1 = ComputeNodeState(v1.state, p1, "n1", {"", allow});
    s2 = ComputeNodeState(v2.state, p2, "n1", {"", allow});
  }
};

TEST(NodeStateTest, TablesBuiltFromThePreviousTablesEqualTablesBuiltAfresh) {
  TwoVersions v;
  auto& [pods, allow, s1, s2] = v;
  ASSERT_FALSE(s1.SameContents(s2));
  datapath::NodeTables t1 = node::BuildNodeTables(s1, pods, allow);
  datapath::NodeTables fresh = node::BuildNodeTables(s2, pods, allow);
  datapath::NodeTables patched = node::BuildNodeTables(s2, pods, allow, &t1, &s1);
  EXPECT_TRUE(datapath::SameTables(fresh, patched));
  EXPECT_FALSE(datapath::SameTables(t1, patched));
  // And back, and from a state with no policy at all.
  EXPECT_TRUE(datapath::SameTables(node::BuildNodeTables(s1, pods, allow, &patched, &s2), t1));
  NodeState none = s1;
  none.policy.clear();
  datapath::NodeTables t0 = node::BuildNodeTables(none, pods, allow);
  EXPECT_TRUE(datapath::SameTables(node::BuildNodeTables(s2, pods, allow, &t0, &none), fresh));
  EXPECT_TRUE(t0.policy.empty());
}

// The agent patches the tables in force in place; the undo puts them back exactly (when the
// kernel refuses the update) and tells whether the patch changed anything.
TEST(NodeStateTest, PatchedTablesRestoreExactly) {
  TwoVersions v;
  auto& [pods, allow, s1, s2] = v;
  // A second node address changes the ipcache too.
  s2.node_addresses.push_back(*policy::ParseIp("10.0.1.1"));
  const datapath::NodeTables t1 = node::BuildNodeTables(s1, pods, allow);
  datapath::NodeTables t = t1;
  datapath::TableChanges ch;
  node::TablesUndo undo;
  node::PatchNodeTables(s2, pods, allow, s1, &t, &ch, &undo);
  EXPECT_TRUE(datapath::SameTables(t, node::BuildNodeTables(s2, pods, allow)));
  EXPECT_FALSE(undo.Unchanged(t));
  EXPECT_TRUE(ch.ipcache);
  EXPECT_FALSE(ch.policy.empty());
  node::RestoreNodeTables(&t, std::move(undo));
  EXPECT_TRUE(datapath::SameTables(t, t1));
  // A patch from a state to itself (new version, same contents) changes nothing.
  NodeState again = s1;
  again.policy.clear();
  for (const auto& [local, block] : s1.policy) again.policy.emplace(local, Shared(*block));
  node::PatchNodeTables(again, pods, allow, s1, &t, &ch, &undo);
  EXPECT_FALSE(ch.policy.empty()) << "unshared blocks are rewritten";
  EXPECT_TRUE(undo.Unchanged(t));
  EXPECT_TRUE(datapath::SameTables(t, t1));
  // The pod in another cgroup: only the endpoints differ, and Unchanged sees it.
  pods[0].cgroup_id = 1002;
  node::PatchNodeTables(s1, pods, allow, again, &t, &ch, &undo);
  EXPECT_FALSE(undo.Unchanged(t));
}

}  // namespace
}  // namespace warden::nodestate
