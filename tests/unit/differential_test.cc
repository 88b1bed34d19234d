// Differential test: the straightforward reading of NetworkPolicy (model.h) against the compiled
// tables read through the datapath twin (lookup.h), on random policies over the cluster of the
// upstream Kubernetes e2e NetworkPolicy truth tables: namespaces x, y, z, pods a, b, c in each,
// every pod serving 80 and 81 on TCP, UDP and SCTP with named ports serve-80-tcp ... serve-81-sctp.
//
// Each seed builds the cluster and 1-4 random NetworkPolicies as YAML, loads them through the
// manifest loader, compiles them, and for every ordered pair of pods, port (80, 81 and every port
// name) and protocol compares
//   - the model: Model::Evaluate egress at the source and ingress at the destination;
//   - the tables, twice: through Explainer::ExplainPods (which must also call itself consistent)
//     and independently: DatapathTwin::LookupIpcache of the remote address, then
//     DatapathTwin::Lookup with the local pod's identity from Snapshot::pods.
// Addresses outside the pods (world, node, cluster-but-no-pod, inside and outside the ipBlocks)
// are checked the same way on both sides. A mismatch prints the seed, the policies, the flow and
// both verdicts. Environment: WARDEN_DIFF_SEED=N reruns one seed (DifferentialSeed.OneSeed);
// WARDEN_DIFF_SEEDS_PER_BLOCK=N runs N seeds per block instead of 30, for soaking.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/policy/compiler.h"
#include "agent/policy/explain.h"
#include "agent/policy/lookup.h"
#include "agent/policy/manifest_loader.h"
#include "agent/policy/model.h"
#include "agent/policy/port_sets.h"
#include "gtest/gtest.h"

namespace warden::policy {
namespace {

const std::vector<std::string> kNamespaceNames = {"x", "y", "z"};
const std::vector<std::string> kPodNames = {"a", "b", "c"};
const Protocol kProtocols[] = {Protocol::kTCP, Protocol::kUDP, Protocol::kSCTP};

std::string Lower(Protocol p) { return absl::AsciiStrToLower(ProtocolName(p)); }
std::string Q(const std::string& s) { return absl::StrCat("\"", s, "\""); }
std::string PortName(int port, Protocol p) { return absl::StrCat("serve-", port, "-", Lower(p)); }

// All port names the pods may declare (and a few the policies may name).
std::vector<std::string> ServedPortNames() {
  std::vector<std::string> out;
  for (int port : {80, 81}) {
    for (Protocol p : kProtocols) out.push_back(PortName(port, p));
  }
  return out;
}

// std::mt19937 is specified exactly; the distributions are not, so draw with modulo to keep a
// seed's scenario the same on every standard library.
class Rng {
 public:
  explicit Rng(uint32_t seed) : gen_(seed) {}
  int Below(int n) { return static_cast<int>(gen_() % static_cast<uint32_t>(n)); }
  bool Chance(int percent) { return Below(100) < percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Below(static_cast<int>(v.size()))];
  }

 private:
  std::mt19937 gen_;
};

// ---- scenario generation ---------------------------------------------------------------------

struct Scenario {
  uint32_t seed = 0;
  bool dual_stack = false;
  std::string cluster_yaml;
  std::vector<std::string> policies;   // one YAML document each
  std::vector<std::string> world_ips;  // addresses that belong to no pod

  std::string PoliciesYaml() const { return absl::StrJoin(policies, "---\n"); }
  std::vector<std::pair<std::string, std::string>> Files() const {
    return {{"cluster.yaml", cluster_yaml}, {"policies.yaml", PoliciesYaml()}};
  }
};

struct SelectorKey {
  std::string key;
  std::vector<std::string> values;
};

// Keys the selectors draw from, including keys no object carries ("nope"); "pod" twice, so that
// it is drawn most often, once with a value no pod has.
const std::vector<SelectorKey> kPodKeys = {{"pod", {"a", "b", "c", "d"}},
                                           {"pod", {"a", "b", "c"}},
                                           {"tier", {"fe", "be"}},
                                           {"nope", {"v"}}};
const std::vector<SelectorKey> kNamespaceKeys = {
    {"ns", {"x", "y", "z", "w"}},
    {std::string(kNamespaceNameLabel), {"x", "y", "z"}},
    {"team", {"red", "blue"}},
    {"nope", {"v"}}};

const std::vector<std::string> kV4Pool = {
    "0.0.0.0/0",      "10.0.0.0/8",     "10.244.0.0/16",  "10.244.1.0/24",  "10.244.2.0/24",
    "10.244.3.0/24",  "10.244.1.10/32", "10.244.2.11/32", "10.244.3.0/28",  "10.244.1.8/30",
    "10.244.2.12/31", "192.0.2.0/24",   "192.0.2.128/25", "192.168.0.0/16", "192.168.0.1/32",
    "8.8.8.0/24",     "10.244.1.0/25"};
const std::vector<std::string> kV6Pool = {"::/0",
                                          "fd00::/8",
                                          "fd00:10:244::/48",
                                          "fd00:10:244:1::/64",
                                          "fd00:10:244:2::/64",
                                          "fd00:10:244:1::10/128",
                                          "fd00:10:244:3::/120",
                                          "fd00:10:244:3::8/126",
                                          "2001:db8::/32",
                                          "2001:db8::/64"};
const std::vector<std::string> kV4World = {"8.8.8.8",     "192.0.2.1", "192.0.2.200",
                                           "10.244.1.99", "10.1.2.3",  "192.168.0.1",
                                           "192.168.5.5", "1.1.1.1",   "10.244.2.13"};
const std::vector<std::string> kV6World = {"2001:db8::1", "2001:db8:1::1", "fd00:10:244:1::99",
                                           "fd00:10:244:3::9", "fe80::1"};

struct PodPlan {
  std::string ns, name;
  std::map<std::string, std::string> labels;
  std::string ports_yaml;
  std::vector<std::string> ips;
  bool host_network = false;
};

class ScenarioGen {
 public:
  explicit ScenarioGen(uint32_t seed) : rng_(seed * 2654435761u + 12345u) { sc_.seed = seed; }

  Scenario Make() {
    sc_.dual_stack = rng_.Chance(35);
    Cluster();
    int n = 1 + rng_.Below(4);
    for (int i = 0; i < n; ++i) sc_.policies.push_back(Policy(i));
    sc_.world_ips = kV4World;
    if (sc_.dual_stack) sc_.world_ips.insert(sc_.world_ips.end(), kV6World.begin(), kV6World.end());
    return sc_;
  }

  // A pod YAML document for a pod outside the generated ones (for the renumbering test).
  static std::string PodYaml(const PodPlan& p) {
    std::vector<std::string> labels;
    for (const auto& [k, v] : p.labels) labels.push_back(absl::StrCat(k, ": ", Q(v)));
    std::string out = absl::StrCat("apiVersion: v1\nkind: Pod\nmetadata: {name: ", Q(p.name),
                                   ", namespace: ", Q(p.ns), ", labels: {",
                                   absl::StrJoin(labels, ", "), "}}\nspec:\n");
    if (p.host_network) absl::StrAppend(&out, "  hostNetwork: true\n");
    absl::StrAppend(&out, "  containers:\n  - name: serve\n    image: agnhost\n", p.ports_yaml);
    if (!p.ips.empty()) {
      std::vector<std::string> ips;
      for (const auto& ip : p.ips) ips.push_back(absl::StrCat("{ip: ", Q(ip), "}"));
      absl::StrAppend(&out, "status:\n  podIP: ", Q(p.ips.front()), "\n  podIPs: [",
                      absl::StrJoin(ips, ", "), "]\n");
    }
    return out;
  }

  // Container ports: the standard profile, or (for variety) a pod whose names map to other
  // numbers, or that leaves some ports unnamed.
  static std::string PortsYaml(int profile) {
    std::string out = "    ports:\n";
    for (int port : {80, 81}) {
      for (Protocol p : kProtocols) {
        int number = port;
        std::string name = PortName(port, p);
        if (profile == 1) number = port == 80 ? 81 : 80;  // names swapped on every protocol
        if (profile == 2 && p == Protocol::kTCP) number = port == 80 ? 81 : 80;  // swapped on TCP
        if (profile == 3 && p == Protocol::kTCP && port == 80) {
          // serve-80-tcp means 8080 here; 80/TCP is served unnamed.
          absl::StrAppend(&out, "    - {containerPort: 80, protocol: TCP}\n");
          number = 8080;
        }
        if (profile == 4 && p == Protocol::kUDP) name.clear();  // UDP ports unnamed
        absl::StrAppend(&out, "    - {containerPort: ", number, ", protocol: ", ProtocolName(p));
        if (!name.empty()) absl::StrAppend(&out, ", name: ", Q(name));
        absl::StrAppend(&out, "}\n");
      }
    }
    return out;
  }

 private:
  void Cluster() {
    std::vector<std::string> docs;
    const std::map<std::string, std::string> team = {{"x", "red"}, {"y", "blue"}};
    for (const auto& ns : kNamespaceNames) {
      std::string labels = absl::StrCat("ns: ", Q(ns));
      if (team.count(ns)) absl::StrAppend(&labels, ", team: ", Q(team.at(ns)));
      docs.push_back(absl::StrCat("apiVersion: v1\nkind: Namespace\nmetadata: {name: ", Q(ns),
                                  ", labels: {", labels, "}}\n"));
    }
    if (rng_.Chance(50)) {
      std::string cidrs = Q("10.244.0.0/16");
      if (sc_.dual_stack) absl::StrAppend(&cidrs, ", ", Q("fd00:10:244::/48"));
      docs.push_back(absl::StrCat(
          "apiVersion: v1\nkind: Node\nmetadata: {name: node-1}\nspec: {podCIDRs: [", cidrs,
          "]}\nstatus: {addresses: [{type: InternalIP, address: \"192.168.0.1\"}]}\n"));
    }
    bool odd_ports = rng_.Chance(40);
    bool shared_labels = rng_.Chance(20);  // c looks like b: they share an identity
    bool tiers = rng_.Chance(50);
    int no_ip = rng_.Chance(10) ? rng_.Below(9) : -1;
    for (size_t n = 0; n < kNamespaceNames.size(); ++n) {
      for (size_t p = 0; p < kPodNames.size(); ++p) {
        PodPlan plan;
        plan.ns = kNamespaceNames[n];
        plan.name = kPodNames[p];
        plan.labels["pod"] = shared_labels && plan.name == "c" ? "b" : plan.name;
        if (tiers && rng_.Chance(60)) plan.labels["tier"] = rng_.Chance(50) ? "fe" : "be";
        plan.ports_yaml = PortsYaml(odd_ports && rng_.Chance(35) ? 1 + rng_.Below(4) : 0);
        std::string v4 = absl::StrCat("10.244.", n + 1, ".", 10 + p);
        std::string v6 = absl::StrCat("fd00:10:244:", n + 1, "::", 10 + p);
        if (static_cast<int>(n * 3 + p) == no_ip) {
          // pending: no address yet
        } else if (!sc_.dual_stack) {
          plan.ips = {v4};
        } else {
          int r = rng_.Below(100);
          if (r < 70)
            plan.ips = rng_.Chance(50) ? std::vector<std::string>{v4, v6}
                                       : std::vector<std::string>{v6, v4};
          else if (r < 85)
            plan.ips = {v4};
          else
            plan.ips = {v6};
        }
        docs.push_back(PodYaml(plan));
      }
    }
    if (rng_.Chance(25)) {
      PodPlan host;
      host.ns = "x";
      host.name = "h";
      host.labels["pod"] = "h";
      host.host_network = true;
      host.ports_yaml = PortsYaml(0);
      host.ips = {"192.168.0.1"};
      docs.push_back(PodYaml(host));
    }
    sc_.cluster_yaml = absl::StrJoin(docs, "---\n");
  }

  std::string Selector(const std::vector<SelectorKey>& keys) {
    if (rng_.Chance(20)) return "{}";
    int labels = rng_.Below(2);
    int exprs = rng_.Below(3);
    if (labels + exprs == 0) labels = 1;
    std::vector<std::string> parts;
    if (labels) {
      const SelectorKey& k = rng_.Pick(keys);
      parts.push_back(absl::StrCat("matchLabels: {", Q(k.key), ": ", Q(rng_.Pick(k.values)), "}"));
    }
    if (exprs) {
      std::vector<std::string> es;
      for (int i = 0; i < exprs; ++i) {
        const SelectorKey& k = rng_.Pick(keys);
        static const char* const kOps[] = {"In", "NotIn", "Exists", "DoesNotExist"};
        int op = rng_.Below(4);
        std::string e = absl::StrCat("{key: ", Q(k.key), ", operator: ", kOps[op]);
        if (op < 2) {
          std::set<std::string> vals;
          int nv = 1 + rng_.Below(2);
          for (int j = 0; j < nv; ++j) vals.insert(rng_.Pick(k.values));
          std::vector<std::string> quoted;
          for (const auto& v : vals) quoted.push_back(Q(v));
          absl::StrAppend(&e, ", values: [", absl::StrJoin(quoted, ", "), "]");
        }
        es.push_back(e + "}");
      }
      parts.push_back(absl::StrCat("matchExpressions: [", absl::StrJoin(es, ", "), "]"));
    }
    return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
  }

  std::string IpBlock() {
    bool v6 = sc_.dual_stack && rng_.Chance(35);
    const std::vector<std::string>& pool = v6 ? kV6Pool : kV4Pool;
    std::string cidr_text = rng_.Pick(pool);
    Cidr cidr = *ParseCidr(cidr_text);
    std::vector<std::string> inside;
    for (const auto& c : pool) {
      Cidr e = *ParseCidr(c);
      if (cidr.Covers(e) && e.prefix_len > cidr.prefix_len) inside.push_back(c);
    }
    std::string out = absl::StrCat("{ipBlock: {cidr: ", Q(cidr_text));
    if (!inside.empty() && rng_.Chance(55)) {
      std::set<std::string> except;
      int n = 1 + rng_.Below(2);
      for (int i = 0; i < n; ++i) except.insert(rng_.Pick(inside));
      std::vector<std::string> quoted;
      for (const auto& e : except) quoted.push_back(Q(e));
      absl::StrAppend(&out, ", except: [", absl::StrJoin(quoted, ", "), "]");
    }
    return out + "}}";
  }

  std::string Peer() {
    switch (rng_.Below(7)) {
      case 0:
        return absl::StrCat("{podSelector: ", Selector(kPodKeys), "}");
      case 1:
        return absl::StrCat("{namespaceSelector: ", Selector(kNamespaceKeys), "}");
      case 2:
        return absl::StrCat("{namespaceSelector: ", Selector(kNamespaceKeys),
                            ", podSelector: ", Selector(kPodKeys), "}");
      case 3:
      case 4:
        return IpBlock();
      case 5:
        return "{namespaceSelector: {}}";
      default:
        return absl::StrCat("{namespaceSelector: {}, podSelector: ", Selector(kPodKeys), "}");
    }
  }

  std::string ProtocolField() {
    if (rng_.Chance(30)) return "";  // defaults to TCP
    return absl::StrCat("protocol: ", ProtocolName(kProtocols[rng_.Below(3)]));
  }

  std::string Port() {
    std::vector<std::string> fields;
    auto add = [&](std::string f) {
      if (!f.empty()) fields.push_back(std::move(f));
    };
    switch (rng_.Below(10)) {
      case 0:
      case 1:
      case 2: {
        static const std::vector<int> kNumbers = {80, 81, 80, 81, 79, 8080};
        add(ProtocolField());
        add(absl::StrCat("port: ", rng_.Pick(kNumbers)));
        break;
      }
      case 3:
      case 4: {
        // A name, usually with its own protocol, sometimes with another (which never resolves).
        Protocol p = kProtocols[rng_.Below(3)];
        std::string name = PortName(rng_.Chance(50) ? 80 : 81, p);
        if (rng_.Chance(25)) {
          add(ProtocolField());
        } else if (p != Protocol::kTCP || rng_.Chance(50)) {
          add(absl::StrCat("protocol: ", ProtocolName(p)));
        }
        add(absl::StrCat("port: ", Q(name)));
        break;
      }
      case 5:
      case 6: {
        static const std::vector<std::pair<int, int>> kRanges = {
            {79, 80}, {80, 81}, {81, 100}, {1, 65535}, {80, 80}, {82, 90}, {1, 79}};
        auto [lo, hi] = rng_.Pick(kRanges);
        add(ProtocolField());
        add(absl::StrCat("port: ", lo));
        add(absl::StrCat("endPort: ", hi));
        break;
      }
      case 7:
      case 8:
        add(absl::StrCat("protocol: ", ProtocolName(kProtocols[rng_.Below(3)])));
        break;
      default:
        if (rng_.Chance(50)) {
          add(ProtocolField());
          add(absl::StrCat("port: ", Q("serve-90-tcp")));  // declared by no pod
        }
        break;  // {}: every TCP port
    }
    return absl::StrCat("{", absl::StrJoin(fields, ", "), "}");
  }

  std::string Rule(const char* peers_key) {
    if (rng_.Chance(12)) return "{}";
    std::vector<std::string> parts;
    if (rng_.Chance(70)) {
      std::vector<std::string> peers;
      int n = 1 + rng_.Below(3);
      for (int i = 0; i < n; ++i) peers.push_back(Peer());
      parts.push_back(absl::StrCat(peers_key, ": [", absl::StrJoin(peers, ", "), "]"));
    }
    if (rng_.Chance(65)) {
      std::vector<std::string> ports;
      int n = 1 + rng_.Below(3);
      for (int i = 0; i < n; ++i) ports.push_back(Port());
      parts.push_back(absl::StrCat("ports: [", absl::StrJoin(ports, ", "), "]"));
    }
    return absl::StrCat("{", absl::StrJoin(parts, ", "), "}");
  }

  std::string Rules(const char* key, const char* peers_key) {
    int n = rng_.Below(4);
    if (n == 0) {
      int r = rng_.Below(3);
      if (r == 0) return "";
      return absl::StrCat("  ", key, ": []\n");
    }
    std::string out = absl::StrCat("  ", key, ":\n");
    for (int i = 0; i < n; ++i) absl::StrAppend(&out, "  - ", Rule(peers_key), "\n");
    return out;
  }

  std::string Policy(int i) {
    std::string ns = rng_.Pick(kNamespaceNames);
    std::string out =
        absl::StrCat("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ",
                     Q(absl::StrCat("np-", i)), ", namespace: ", Q(ns), "}\nspec:\n");
    absl::StrAppend(&out, "  podSelector: ", Selector(kPodKeys), "\n");
    switch (rng_.Below(5)) {
      case 0:
        break;  // defaulted from the rules
      case 1:
        absl::StrAppend(&out, "  policyTypes: [Ingress]\n");
        break;
      case 2:
        absl::StrAppend(&out, "  policyTypes: [Egress]\n");
        break;
      case 3:
        absl::StrAppend(&out, "  policyTypes: [Ingress, Egress]\n");
        break;
      default:
        absl::StrAppend(&out, "  policyTypes: [Egress, Ingress]\n");
        break;
    }
    absl::StrAppend(&out, Rules("ingress", "from"));
    absl::StrAppend(&out, Rules("egress", "to"));
    return out;
  }

  Rng rng_;
  Scenario sc_;
};

Scenario MakeScenario(uint32_t seed) { return ScenarioGen(seed).Make(); }

LoadResult LoadScenario(const std::vector<std::pair<std::string, std::string>>& files) {
  LoadResult r = LoadManifestTexts(files);
  for (const auto& e : r.errors) ADD_FAILURE() << "load error: " << e.ToString();
  return r;
}

// ---- verdicts --------------------------------------------------------------------------------

// One flow as a client would send it: the addresses chosen, or none when a pod has no address.
struct Flow {
  const Pod* src_pod = nullptr;  // any pod, hostNetwork included
  const Pod* dst_pod = nullptr;
  std::optional<IpAddress> src_ip, dst_ip;
  std::optional<Protocol> protocol;  // nullopt: ICMP and other protocols
  int port = 0;
  std::string port_text;

  std::string ToString() const {
    auto end = [](const Pod* pod, const std::optional<IpAddress>& ip) {
      std::string s = pod ? pod->Key() : "(no pod)";
      absl::StrAppend(&s, " [", ip ? ip->ToString() : "no address", "]");
      if (pod && pod->host_network) absl::StrAppend(&s, " (hostNetwork)");
      return s;
    };
    std::string what = protocol ? absl::StrCat(ProtocolName(*protocol), " port ", port) : "ICMP";
    if (!port_text.empty() && port_text != absl::StrCat(port))
      absl::StrAppend(&what, " (\"", port_text, "\")");
    return absl::StrCat(end(src_pod, src_ip), " -> ", end(dst_pod, dst_ip), " ", what);
  }
};

struct Sides {
  bool egress = true;  // true when the source is not an enforced pod
  bool ingress = true;
  bool allowed() const { return egress && ingress; }
  std::string ToString() const {
    return absl::StrCat(allowed() ? "ALLOW" : "DENY", " (egress ", egress ? "allow" : "deny",
                        ", ingress ", ingress ? "allow" : "deny", ")");
  }
  bool operator==(const Sides&) const = default;
};

const Pod* Enforced(const Pod* p) { return p && !p->host_network ? p : nullptr; }

// The addresses a client picks: the destination's primary address and a source address of the
// same family, else the other family both have. nullopt when they share no family.
struct AddressChoice {
  std::optional<IpAddress> src, dst;
  bool no_common_family = false;
};

AddressChoice ChooseAddresses(const std::vector<IpAddress>& src,
                              const std::vector<IpAddress>& dst) {
  AddressChoice c;
  if (dst.empty() || src.empty()) {
    if (!dst.empty()) c.dst = dst.front();
    if (!src.empty()) c.src = src.front();
    return c;
  }
  for (const auto& d : dst) {
    for (const auto& s : src) {
      if (s.family == d.family) {
        c.src = s;
        c.dst = d;
        return c;
      }
    }
  }
  c.no_common_family = true;
  return c;
}

class Checker {
 public:
  Checker(const Scenario& sc, const ClusterState& st, const Snapshot& snap)
      : sc_(sc), st_(st), snap_(snap), model_(st), explainer_(st, snap), twin_(snap) {}

  int mismatches() const { return mismatches_; }
  int flows() const { return flows_; }
  int allowed() const { return allowed_; }
  int denied() const { return denied_; }
  int allowed_while_isolated() const { return allowed_while_isolated_; }

  Sides ModelVerdict(const Flow& f) {
    Sides v;
    L4 l4{f.protocol, f.port};
    if (const Pod* s = Enforced(f.src_pod)) {
      SideDecision d =
          model_.Evaluate(Direction::kEgress, *s, Endpoint{Enforced(f.dst_pod), f.dst_ip}, l4);
      v.egress = d.allowed;
      if (d.allowed && d.isolated) ++allowed_while_isolated_;
    }
    if (const Pod* d = Enforced(f.dst_pod)) {
      SideDecision dd =
          model_.Evaluate(Direction::kIngress, *d, Endpoint{Enforced(f.src_pod), f.src_ip}, l4);
      v.ingress = dd.allowed;
      if (dd.allowed && dd.isolated) ++allowed_while_isolated_;
    }
    return v;
  }

  // What the kernel sees of the remote end: the ipcache entry of its address, or (a pod without
  // one) its pod identity with the "pods without an address" CIDR identity.
  wd_ipcache_value RemoteValue(const Flow& f, const Pod* pod, const std::optional<IpAddress>& ip) {
    if (ip) {
      std::optional<wd_ipcache_value> v = twin_.LookupIpcache(*ip);
      if (!v) {
        Fail(f, absl::StrCat("no ipcache entry for ", ip->ToString()));
        return wd_ipcache_value{WD_ID_WORLD, WD_ID_NONE, WD_ID_NONE};
      }
      if (const Pod* p = Enforced(pod)) {
        uint32_t want = snap_.pods.at(p->Key()).identity;
        if (v->identity != want) {
          Fail(f, absl::StrCat("ipcache gives ", ip->ToString(), " identity ", v->identity,
                               ", but ", p->Key(), " has identity ", want));
        }
        uint32_t want_ns = snap_.pods.at(p->Key()).ns_identity;
        if (v->ns_identity != want_ns) {
          Fail(f, absl::StrCat("ipcache gives ", ip->ToString(), " namespace identity ",
                               v->ns_identity, ", but ", p->Key(), " has ", want_ns));
        }
      }
      return *v;
    }
    const CompiledPod& rec = snap_.pods.at(Enforced(pod)->Key());
    return wd_ipcache_value{rec.identity, rec.no_address_cidr_identity, rec.ns_identity};
  }

  Sides TwinVerdictOf(const Flow& f) {
    Sides v;
    uint16_t port = static_cast<uint16_t>(f.port);
    if (const Pod* s = Enforced(f.src_pod)) {
      uint32_t local = snap_.pods.at(s->Key()).identity;
      v.egress =
          twin_.Lookup(local, RemoteValue(f, f.dst_pod, f.dst_ip), WD_DIR_EGRESS, f.protocol, port)
              .allowed;
    }
    if (const Pod* d = Enforced(f.dst_pod)) {
      uint32_t local = snap_.pods.at(d->Key()).identity;
      v.ingress =
          twin_.Lookup(local, RemoteValue(f, f.src_pod, f.src_ip), WD_DIR_INGRESS, f.protocol, port)
              .allowed;
    }
    return v;
  }

  // Model against the twin for one flow; returns the model's verdict.
  Sides Compare(const Flow& f) {
    ++flows_;
    Sides m = ModelVerdict(f);
    Sides t = TwinVerdictOf(f);
    (m.allowed() ? allowed_ : denied_)++;
    if (!(m == t))
      Fail(f, absl::StrCat("model says ", m.ToString(), ", compiled tables say ", t.ToString()));
    return m;
  }

  void CheckExplanation(const Flow& f, const FlowExplanation& fx,
                        const std::optional<Sides>& want) {
    if (!fx.consistent) Fail(f, absl::StrCat("explain is not consistent: ", fx.reason));
    bool want_allowed = want && want->allowed();
    if (fx.allowed != want_allowed) {
      Fail(f, absl::StrCat(
                  "explain says ", fx.allowed ? "ALLOW" : "DENY", " (", fx.reason, "), expected ",
                  want ? want->ToString() : "DENY (no such port or no common address family)",
                  " [explain used ", fx.from_ip.empty() ? "-" : fx.from_ip, " -> ",
                  fx.to_ip.empty() ? "-" : fx.to_ip, " port ", fx.port, "]"));
      return;
    }
    if (want && fx.egress.applies && fx.egress.allowed != want->egress) {
      Fail(f, absl::StrCat("explain egress says ", fx.egress.allowed, ": ", fx.egress.reason));
    }
    if (want && fx.ingress.applies && fx.ingress.allowed != want->ingress) {
      Fail(f, absl::StrCat("explain ingress says ", fx.ingress.allowed, ": ", fx.ingress.reason));
    }
  }

  void PodPairs() {
    std::vector<const Pod*> pods;
    for (const auto& [_, p] : st_.pods) pods.push_back(&p);
    std::vector<std::string> ports = {"80", "81"};
    for (const auto& n : ServedPortNames()) ports.push_back(n);
    for (const Pod* s : pods) {
      for (const Pod* d : pods) {
        if (s == d) continue;
        AddressChoice addr = ChooseAddresses(s->ips, d->ips);
        for (Protocol proto : kProtocols) {
          for (const auto& text : ports) {
            Flow f{s, d, addr.src, addr.dst, proto, 0, text};
            std::optional<int> number;
            if (text[0] >= '0' && text[0] <= '9')
              number = std::stoi(text);
            else
              number = Model::ResolveNamedPort(*d, text, proto);
            f.port = number.value_or(0);
            std::optional<Sides> want;
            if (number && !addr.no_common_family) want = Compare(f);
            CheckExplanation(f, explainer_.ExplainPods(*s, *d, text, proto), want);
          }
          // Every other family the two pods share, which ExplainPods does not pick.
          for (const auto& sip : s->ips) {
            for (const auto& dip : d->ips) {
              if (sip.family != dip.family || (addr.dst && dip == *addr.dst)) continue;
              for (int port : {80, 81}) Compare(Flow{s, d, sip, dip, proto, port, ""});
            }
          }
        }
        if (!addr.no_common_family) Compare(Flow{s, d, addr.src, addr.dst, std::nullopt, 0, ""});
      }
    }
  }

  void WorldAddresses() {
    for (const auto& text : sc_.world_ips) {
      IpAddress w = *ParseIp(text);
      for (const auto& [_, pod] : st_.pods) {
        std::vector<std::optional<Protocol>> protos = {Protocol::kTCP, Protocol::kUDP,
                                                       Protocol::kSCTP, std::nullopt};
        std::optional<IpAddress> own;
        bool has_ips = !pod.ips.empty();
        for (const auto& ip : pod.ips) {
          if (ip.family == w.family) own = ip;
        }
        for (const auto& proto : protos) {
          for (int port : {80, 81}) {
            if (!proto && port == 81) continue;
            // Egress to the address, and ingress from it.
            Flow out{&pod, nullptr, own, w, proto, proto ? port : 0, ""};
            Flow in{nullptr, &pod, w, own, proto, proto ? port : 0, ""};
            std::optional<Sides> want_out, want_in;
            if (!has_ips || own) want_out = Compare(out);
            if (own) want_in = Compare(in);
            if (!proto) continue;
            std::string port_text = absl::StrCat(port);
            auto fx = explainer_.Explain(pod.Key(), text, port_text, *proto);
            if (!fx.ok()) {
              Fail(out, absl::StrCat("explain failed: ", fx.status().ToString()));
            } else {
              CheckExplanation(out, *fx, want_out);
            }
            if (!has_ips) continue;  // explain refuses a destination without an address
            auto fx_in = explainer_.Explain(text, pod.Key(), port_text, *proto);
            if (!fx_in.ok()) {
              Fail(in, absl::StrCat("explain failed: ", fx_in.status().ToString()));
            } else {
              CheckExplanation(in, *fx_in, want_in);
            }
          }
        }
      }
    }
  }

 private:
  void Fail(const Flow& f, const std::string& what) {
    ++mismatches_;
    if (++reported_ > 3) return;  // the first few of a seed are enough to debug it
    std::string pods;
    for (const Pod* p : {f.src_pod, f.dst_pod}) {
      if (p) absl::StrAppend(&pods, "\n  ", PodSummary(*p));
    }
    ADD_FAILURE() << "seed " << sc_.seed << ": " << f.ToString() << ": " << what << "\n--- pods ("
                  << (sc_.dual_stack ? "dual-stack" : "IPv4") << " cluster) ---" << pods
                  << "\n--- policies ---\n"
                  << sc_.PoliciesYaml() << "--- rerun: WARDEN_DIFF_SEED=" << sc_.seed
                  << " differential_test --gtest_filter=DifferentialSeed.* ---";
  }

  // "x/a {pod=a,tier=fe} 10.244.1.10,fd00:... serve-80-tcp=81/TCP" (named ports listed only when
  // they are not the standard serve-PORT-PROTO = PORT/PROTO).
  static std::string PodSummary(const Pod& p) {
    std::vector<std::string> labels, ips, odd;
    for (const auto& [k, v] : p.labels) labels.push_back(absl::StrCat(k, "=", v));
    for (const auto& ip : p.ips) ips.push_back(ip.ToString());
    int named = 0;
    for (const auto& cp : p.ports) {
      if (cp.name.empty()) continue;
      ++named;
      if (cp.name != PortName(cp.port, cp.protocol)) {
        odd.push_back(absl::StrCat(cp.name, "=", cp.port, "/", ProtocolName(cp.protocol)));
      }
    }
    return absl::StrCat(
        p.Key(), p.host_network ? " (hostNetwork)" : "", " {", absl::StrJoin(labels, ","), "} ",
        ips.empty() ? "no address" : absl::StrJoin(ips, ","), " ", named, " named ports",
        odd.empty() ? "" : absl::StrCat(", unusual: ", absl::StrJoin(odd, " ")));
  }

  const Scenario& sc_;
  const ClusterState& st_;
  const Snapshot& snap_;
  Model model_;
  Explainer explainer_;
  DatapathTwin twin_;
  int mismatches_ = 0, reported_ = 0;
  int flows_ = 0, allowed_ = 0, denied_ = 0, allowed_while_isolated_ = 0;
};

int SeedsPerBlock() {
  const char* env = std::getenv("WARDEN_DIFF_SEEDS_PER_BLOCK");
  int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : 30;
}

constexpr int kBlocks = 10;  // 10 blocks x 30 seeds = 300 seeds by default
constexpr uint32_t kFirstSeed = 1;

struct Totals {
  int seeds = 0, policies = 0, mismatches = 0, flows = 0, allowed = 0, denied = 0,
      allowed_by_rule = 0;
};

void RunSeed(uint32_t seed, Totals* t) {
  Scenario sc = MakeScenario(seed);
  LoadResult lr = LoadScenario(sc.Files());
  ASSERT_TRUE(lr.errors.empty()) << "seed " << seed << "\n" << sc.PoliciesYaml();
  ASSERT_EQ(lr.state.policies.size(), sc.policies.size()) << "seed " << seed;
  ASSERT_GE(lr.state.pods.size(), 9u);
  Snapshot snap = Compile(lr.state).value();
  Checker c(sc, lr.state, snap);
  c.PodPairs();
  c.WorldAddresses();
  t->seeds++;
  t->policies += static_cast<int>(lr.state.policies.size());
  t->mismatches += c.mismatches();
  t->flows += c.flows();
  t->allowed += c.allowed();
  t->denied += c.denied();
  t->allowed_by_rule += c.allowed_while_isolated();
}

class DifferentialTest : public ::testing::TestWithParam<int> {};

TEST_P(DifferentialTest, ModelAgreesWithCompiledTables) {
  int per_block = SeedsPerBlock();
  Totals t;
  for (int i = 0; i < per_block; ++i) {
    RunSeed(kFirstSeed + static_cast<uint32_t>(GetParam() * per_block + i), &t);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_EQ(t.mismatches, 0) << "of " << t.flows << " flows";
  // Not vacuous: the random policies both allow and deny, and rules (not just the absence of
  // policies) allow a good share of what is allowed.
  EXPECT_GT(t.flows, per_block * 2000);
  EXPECT_GT(t.allowed, t.flows / 20) << "allowed " << t.allowed << " of " << t.flows;
  EXPECT_GT(t.denied, t.flows / 20) << "denied " << t.denied << " of " << t.flows;
  EXPECT_GT(t.allowed_by_rule, t.flows / 50) << t.allowed_by_rule << " sides allowed by a rule";
  std::cout << "[ block " << GetParam() << " ] " << t.seeds << " seeds, " << t.policies
            << " policies, " << t.flows << " flows: " << t.allowed << " allowed, " << t.denied
            << " denied, " << t.allowed_by_rule << " sides allowed by a rule\n";
}

INSTANTIATE_TEST_SUITE_P(Seeds, DifferentialTest, ::testing::Range(0, kBlocks));

// One seed, to debug a failure: WARDEN_DIFF_SEED=N (seed 9, about half denied, when unset).
TEST(DifferentialSeed, OneSeed) {
  const char* env = std::getenv("WARDEN_DIFF_SEED");
  uint32_t seed = env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 9;
  Totals t;
  RunSeed(seed, &t);
  EXPECT_EQ(t.mismatches, 0);
  EXPECT_GT(t.flows, 1000);
  if (!env) {
    EXPECT_GT(t.denied, t.flows / 4);
  }
  std::cout << "seed " << seed << ": " << t.flows << " flows, " << t.allowed << " allowed, "
            << t.denied << " denied\n";
}

// The generator really produces what the test claims to cover.
TEST(DifferentialGenerator, CoversTheSpecFeatures) {
  std::set<std::string> seen;
  for (uint32_t seed = kFirstSeed; seed < kFirstSeed + kBlocks * 30; ++seed) {
    Scenario sc = MakeScenario(seed);
    LoadResult lr = LoadScenario(sc.Files());
    if (sc.dual_stack) seen.insert("dual-stack");
    for (const auto& [_, pod] : lr.state.pods) {
      if (pod.host_network) seen.insert("hostNetwork pod");
      if (pod.ips.empty()) seen.insert("pod without address");
      if (Model::ResolveNamedPort(pod, "serve-80-tcp", Protocol::kTCP) != 80)
        seen.insert("renamed port");
    }
    for (const auto& [_, np] : lr.state.policies) {
      if (np.pod_selector.Empty()) seen.insert("empty podSelector");
      if (np.affects_ingress && np.affects_egress) seen.insert("both types");
      if (!np.affects_ingress && np.affects_egress) seen.insert("egress only");
      if (np.affects_ingress && !np.affects_egress) seen.insert("ingress only");
      for (const auto& req : np.pod_selector.match_expressions) seen.insert(SelectorOpName(req.op));
      for (const auto* rules : {&np.ingress, &np.egress}) {
        for (const auto& rule : *rules) {
          if (rule.peers.empty() && rule.ports.empty()) seen.insert("empty rule");
          for (const auto& peer : rule.peers) {
            if (peer.ip_block)
              seen.insert(peer.ip_block->except.empty() ? "ipBlock" : "ipBlock except");
            if (peer.ip_block && peer.ip_block->cidr.addr.family == Family::kV6)
              seen.insert("ipBlock v6");
            if (peer.pod_selector && !peer.namespace_selector) seen.insert("podSelector peer");
            if (!peer.pod_selector && peer.namespace_selector) {
              seen.insert(peer.namespace_selector->Empty() ? "namespaceSelector {}"
                                                           : "namespaceSelector peer");
            }
            if (peer.pod_selector && peer.namespace_selector) seen.insert("both selectors peer");
            // Peers that are whole namespaces (one entry per namespace) or every pod (one
            // entry), and the case that needs an entry per pod identity all the same.
            const bool whole = !peer.pod_selector || peer.pod_selector->Empty();
            if (whole && peer.pod_selector && !peer.namespace_selector)
              seen.insert("podSelector {} peer");
            if (whole && peer.namespace_selector && peer.namespace_selector->Empty() &&
                peer.pod_selector)
              seen.insert("namespaceSelector {} podSelector {} peer");
            if (whole && rules == &np.egress &&
                std::any_of(rule.ports.begin(), rule.ports.end(), [](const PolicyPort& p) {
                  return std::holds_alternative<std::string>(p.port);
                }))
              seen.insert("egress named port to whole namespaces");
          }
          for (const auto& port : rule.ports) {
            seen.insert(absl::StrCat("port protocol ", ProtocolName(port.protocol)));
            if (std::holds_alternative<std::string>(port.port)) seen.insert("named port");
            if (std::holds_alternative<std::monostate>(port.port))
              seen.insert("protocol-only port");
            if (port.end_port) seen.insert("endPort");
          }
        }
      }
    }
  }
  for (const char* want : {"dual-stack",
                           "hostNetwork pod",
                           "pod without address",
                           "renamed port",
                           "empty podSelector",
                           "both types",
                           "egress only",
                           "ingress only",
                           "In",
                           "NotIn",
                           "Exists",
                           "DoesNotExist",
                           "empty rule",
                           "ipBlock",
                           "ipBlock except",
                           "ipBlock v6",
                           "podSelector peer",
                           "namespaceSelector {}",
                           "namespaceSelector peer",
                           "both selectors peer",
                           "podSelector {} peer",
                           "namespaceSelector {} podSelector {} peer",
                           "egress named port to whole namespaces",
                           "port protocol TCP",
                           "port protocol UDP",
                           "port protocol SCTP",
                           "named port",
                           "protocol-only port",
                           "endPort"}) {
    EXPECT_TRUE(seen.count(want)) << want;
  }
}

// ---- identities: determinism and stability ----------------------------------------------------

const std::vector<PortRange>& PortsetOf(const Snapshot& s, uint16_t id) {
  return s.portsets.at(id);
}

// `same_portset_ids`: an incremental compile numbers port sets in another order than a fresh
// one (and may keep sets no entry names): then only the sets' contents must agree.
void ExpectSameSnapshot(const Snapshot& a, const Snapshot& b, const std::string& what,
                        bool same_portset_ids = true) {
  SCOPED_TRACE(what);
  ASSERT_EQ(a.identities.size(), b.identities.size());
  for (size_t i = 0; i < a.identities.size(); ++i) {
    const Identity& x = a.identities[i];
    const Identity& y = b.identities[i];
    EXPECT_EQ(x.id, y.id) << x.name << " vs " << y.name;
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.pods, y.pods);
    EXPECT_EQ(x.named_ports, y.named_ports);
    EXPECT_EQ(x.prefix, y.prefix);
    EXPECT_EQ(x.isolated, y.isolated);
  }
  ASSERT_EQ(a.pods.size(), b.pods.size());
  for (const auto& [key, rec] : a.pods) {
    ASSERT_TRUE(b.pods.count(key)) << key;
    EXPECT_EQ(rec.identity, b.pods.at(key).identity) << key;
    EXPECT_EQ(rec.no_address_cidr_identity, b.pods.at(key).no_address_cidr_identity) << key;
    EXPECT_EQ(rec.ns_identity, b.pods.at(key).ns_identity) << key;
  }
  ASSERT_EQ(a.ipcache.size(), b.ipcache.size());
  for (size_t i = 0; i < a.ipcache.size(); ++i) {
    EXPECT_EQ(0, std::memcmp(&a.ipcache[i].first, &b.ipcache[i].first, sizeof(wd_ipcache_key)))
        << i;
    EXPECT_EQ(a.ipcache[i].second.identity, b.ipcache[i].second.identity) << i;
    EXPECT_EQ(a.ipcache[i].second.cidr_identity, b.ipcache[i].second.cidr_identity) << i;
    EXPECT_EQ(a.ipcache[i].second.ns_identity, b.ipcache[i].second.ns_identity) << i;
  }
  ASSERT_EQ(a.policy.size(), b.policy.size());
  for (const auto& [key, v] : a.policy) {
    auto it = b.policy.find(key);
    ASSERT_NE(it, b.policy.end()) << key.local << " " << key.remote << " " << int(key.direction);
    for (int l4 = 0; l4 < WD_L4_COUNT; ++l4) {
      if (same_portset_ids) {
        EXPECT_EQ(v.portset[l4], it->second.portset[l4]);
      }
      EXPECT_EQ(PortsetOf(a, v.portset[l4]), PortsetOf(b, it->second.portset[l4]));
    }
    EXPECT_EQ(v.flags, it->second.flags);
  }
}

TEST(DifferentialIdentities, SameInputGivesSameSnapshot) {
  for (uint32_t seed = kFirstSeed; seed < kFirstSeed + 40; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Scenario sc = MakeScenario(seed);
    LoadResult first = LoadScenario(sc.Files());
    LoadResult again = LoadScenario(sc.Files());
    // The same objects in another order: policies first, every file's documents reversed.
    std::vector<std::pair<std::string, std::string>> reordered;
    for (const std::string& text : {sc.PoliciesYaml(), sc.cluster_yaml}) {
      std::vector<std::string> docs = absl::StrSplit(text, "---\n");
      std::reverse(docs.begin(), docs.end());
      reordered.emplace_back(absl::StrCat("part", reordered.size(), ".yaml"),
                             absl::StrJoin(docs, "---\n"));
    }
    LoadResult shuffled = LoadScenario(reordered);
    Snapshot a = Compile(first.state).value();
    ExpectSameSnapshot(a, Compile(first.state).value(), "compiled twice");
    ExpectSameSnapshot(a, Compile(again.state).value(), "loaded twice");
    ExpectSameSnapshot(a, Compile(shuffled.state).value(), "documents reordered");
    // Not vacuous: there are pod identities, CIDR identities and policy entries to compare.
    EXPECT_GE(a.identities.size(), 3u + 2u);
  }
}

TEST(DifferentialIdentities, AddingAPodElsewhereKeepsExistingIdentities) {
  int grown = 0;
  for (uint32_t seed = kFirstSeed; seed < kFirstSeed + 40; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Scenario sc = MakeScenario(seed);
    LoadResult before = LoadScenario(sc.Files());
    Snapshot s1 = Compile(before.state).value();

    // A pod in a new namespace w, with labels the policies' selectors may well match, and
    // (every other seed) named ports no other pod has.
    PodPlan extra;
    extra.ns = "w";
    extra.name = seed % 2 ? "a" : "new";
    extra.labels["pod"] = seed % 3 ? "a" : "zz";
    extra.ports_yaml = ScenarioGen::PortsYaml(seed % 2 ? 0 : 3);
    extra.ips = {"10.244.4.10"};
    if (sc.dual_stack) extra.ips.push_back("fd00:10:244:4::10");
    auto files = sc.Files();
    files.emplace_back(
        "w.yaml", absl::StrCat("apiVersion: v1\nkind: Namespace\nmetadata: {name: w, labels: {ns: "
                               "w}}\n---\n",
                               ScenarioGen::PodYaml(extra)));
    LoadResult after = LoadScenario(files);
    ASSERT_EQ(after.state.pods.size(), before.state.pods.size() + 1);
    Snapshot s2 = Compile(after.state).value();

    for (const auto& [key, rec] : s1.pods) {
      ASSERT_TRUE(s2.pods.count(key));
      EXPECT_EQ(rec.identity, s2.pods.at(key).identity) << key;
      EXPECT_EQ(rec.no_address_cidr_identity, s2.pods.at(key).no_address_cidr_identity) << key;
    }
    for (const Identity& id : s1.identities) {
      const Identity* now = s2.FindIdentity(id.id);
      ASSERT_NE(now, nullptr) << id.name << " (" << id.id << ") disappeared";
      EXPECT_EQ(now->name, id.name);
      EXPECT_EQ(now->pods, id.pods);
      EXPECT_EQ(now->isolated, id.isolated);
    }
    // The entries between existing identities allow exactly the same ports.
    for (const auto& [key, v] : s1.policy) {
      auto it = s2.policy.find(key);
      ASSERT_NE(it, s2.policy.end());
      for (int l4 = 0; l4 < WD_L4_COUNT; ++l4) {
        EXPECT_EQ(PortsetOf(s1, v.portset[l4]), PortsetOf(s2, it->second.portset[l4]));
      }
      EXPECT_EQ(v.flags, it->second.flags);
    }
    uint32_t new_id = s2.pods.at(absl::StrCat("w/", extra.name)).identity;
    EXPECT_EQ(s1.FindIdentity(new_id), nullptr) << "the new pod reuses an existing identity number";
    if (s2.identities.size() > s1.identities.size()) ++grown;
  }
  EXPECT_EQ(grown, 40);
}

// A compile that reuses the last one's work (CompileCache) gives exactly what a fresh compile
// gives: the identities and ipcache when pods, nodes and ipBlock prefixes are unchanged, and the
// policy entries of every local identity no changed policy selects (before or now). It never lets
// the policies of one compile leak into the next (isolation, entries, port sets).
TEST(DifferentialIdentities, CompileCacheGivesTheSameSnapshot) {
  int reused = 0, incremental = 0, edits = 0;
  for (uint32_t seed = kFirstSeed; seed < kFirstSeed + 40; ++seed) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Scenario sc = MakeScenario(seed);
    ClusterState st1 = LoadScenario(sc.Files()).state;
    std::shared_ptr<CompileCache> cache;
    Snapshot s1 = Compile(st1, {}, &cache).value();
    ExpectSameSnapshot(s1, Compile(st1).value(), "first compile");
    ASSERT_NE(cache, nullptr);
    ASSERT_NE(s1.base, nullptr);
    EXPECT_EQ(s1.policy_changed_from, nullptr) << "the first compile is a full one";

    // Policy edits one after another, pods and namespaces untouched, no ipBlock added or
    // removed (so the identities stay): rules without an ipBlock peer dropped; the first policy
    // deleted (if it names no ipBlock); the first policy back; every podSelector widened to the
    // whole namespace; all back as they were; the widened ones again.
    auto drop_rules = [](ClusterState* st) {
      for (auto& [_, np] : st->policies.Mut()) {
        for (auto* rules : {&np.ingress, &np.egress}) {
          std::erase_if(*rules, [](const PolicyRule& r) {
            return std::none_of(r.peers.begin(), r.peers.end(),
                                [](const PolicyPeer& p) { return p.ip_block.has_value(); });
          });
        }
      }
    };
    auto names_ip_block = [](const NetworkPolicy& np) {
      for (const auto* rules : {&np.ingress, &np.egress}) {
        for (const auto& r : *rules) {
          for (const auto& p : r.peers) {
            if (p.ip_block) return true;
          }
        }
      }
      return false;
    };
    std::vector<std::pair<std::string, std::function<void(ClusterState*)>>> steps = {
        {"rules dropped", drop_rules},
        {"first policy deleted",
         [&](ClusterState* st) {
           auto& ps = st->policies.Mut();
           if (!ps.empty() && !names_ip_block(ps.begin()->second)) ps.erase(ps.begin());
         }},
        {"first policy back",
         [&](ClusterState* st) {
           if (!st1.policies.empty())
             st->policies.Mut().insert_or_assign(st1.policies.begin()->first,
                                                 st1.policies.begin()->second);
         }},
        {"selectors widened",
         [](ClusterState* st) {
           for (auto& [_, np] : st->policies.Mut()) np.pod_selector = LabelSelector{};
         }},
        {"all back", [&](ClusterState* st) { st->policies = st1.policies; }},
        {"widened again",
         [](ClusterState* st) {
           for (auto& [_, np] : st->policies.Mut()) np.pod_selector = LabelSelector{};
         }},
    };
    ClusterState st = st1;
    for (const auto& [what, edit] : steps) {
      edit(&st);
      st.Finalize();
      ASSERT_TRUE(st.pods.SameObject(st1.pods));
      Snapshot s = Compile(st, {}, &cache).value();
      ExpectSameSnapshot(s, Compile(st).value(), what, /*same_portset_ids=*/false);
      ++edits;
      if (s.base == s1.base) ++reused;
      if (s.policy_changed_from) ++incremental;
    }

    // A pod relabelled: identities change, nothing is reused.
    ClusterState st3 = st;
    st3.pods.Mut().begin()->second.labels["relabelled"] = "yes";
    st3.Finalize();
    Snapshot s3 = Compile(st3, {}, &cache).value();
    EXPECT_NE(s3.base, s1.base);
    EXPECT_EQ(s3.policy_changed_from, nullptr);
    ExpectSameSnapshot(s3, Compile(st3).value(), "pod relabelled");
    // And back to the first state, from a cache built for another one.
    ExpectSameSnapshot(Compile(st1, {}, &cache).value(), Compile(st1).value(), "first state again");
  }
  // Every edit kept the identities; all but those that would grow the port set table past its
  // bound compiled only the changed policies' identities.
  EXPECT_EQ(reused, edits);
  EXPECT_GE(incremental, edits * 9 / 10);
}

// The ABI helpers this test leans on behave as documented.
TEST(DifferentialTwin, EveryAddressHasAnIpcacheEntry) {
  Scenario sc = MakeScenario(7);
  LoadResult lr = LoadScenario(sc.Files());
  Snapshot snap = Compile(lr.state).value();
  DatapathTwin twin(snap);
  for (const char* ip : {"0.0.0.1", "255.255.255.255", "::1", "ffff::"}) {
    auto v = twin.LookupIpcache(*ParseIp(ip));
    ASSERT_TRUE(v.has_value()) << ip;
    EXPECT_EQ(v->identity, WD_ID_WORLD) << ip;
    EXPECT_NE(v->cidr_identity, WD_ID_NONE) << ip;
  }
}

}  // namespace
}  // namespace warden::policy
