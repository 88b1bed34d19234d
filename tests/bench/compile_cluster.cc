#include "tests/bench/compile_cluster.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/bench/cluster_names.h"
#include "tests/lib/yaml_text.h"

namespace warden::bench {
namespace {

constexpr int kAppsPerNs = 10, kReplicas = 10;

struct App {
  std::string name, tier;
  std::vector<std::string> ports;  // YAML lines of the container's ports
};

std::string Port(const char* name, int number, const char* proto = "TCP") {
  return absl::StrCat("        - name: ", name, "\n          containerPort: ", number,
                      "\n          protocol: ", proto, "\n");
}

App AppOf(int ns, int a) {
  App app;
  app.name = kApps[a];
  if (ns == 0 && a == 0) {
    app.name = "coredns";
    app.tier = "system";
    app.ports = {Port("dns", 53, "UDP"), Port("dns-tcp", 53), Port("metrics", 9153)};
    return app;
  }
  if (ns == 1 && a == 0) {
    app.name = "prometheus";
    app.tier = "system";
    app.ports = {Port("http", 9090)};
    return app;
  }
  if (a == 0 || a == 9) {
    app.tier = "frontend";
    app.ports = {Port("http", a == 9 ? 8443 : 8080), Port("metrics", 9090)};
  } else if (a <= 5) {
    app.tier = "backend";
    // Some teams run their APIs on another port under the same name.
    app.ports = {Port("http", ns % 7 == 3 && a == 1 ? 8000 : 8080), Port("grpc", 9000),
                 Port("metrics", 9090)};
  } else {
    app.tier = "data";
    if (a == 6) app.ports = {Port("redis", 6379), Port("metrics", 9121)};
    if (a == 7) app.ports = {Port("postgres", 5432), Port("metrics", 9187)};
    if (a == 8) app.ports = {Port("amqp", 5672), Port("metrics", 15692)};
  }
  return app;
}

// Policies 1-5 of namespace k: default deny, the same namespace, DNS, web from partner teams,
// scraping.
void AddAccessPolicies(const std::string& ns, int k, std::vector<std::string>& out) {
  using testlib::PolicyDoc;
  out.push_back(
      PolicyDoc(ns, "default-deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"));
  out.push_back(PolicyDoc(ns, "allow-same-namespace",
                          "  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {}\n"));
  out.push_back(PolicyDoc(
      ns, "allow-dns",
      "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
      "    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: "
      "kube-system\n      podSelector:\n        matchLabels:\n          k8s-app: kube-dns\n"
      "    ports:\n    - protocol: UDP\n      port: 53\n    - protocol: TCP\n      port: 53\n"));
  out.push_back(PolicyDoc(
      ns, "allow-web-from-partner-teams",
      absl::StrCat("  podSelector:\n    matchLabels:\n      app: web\n  ingress:\n  - from:\n"
                   "    - namespaceSelector:\n        matchExpressions:\n        - key: team\n     "
                   "     operator: In\n"
                   "          values: [team",
                   k % 20, ", team", (k + 1) % 20,
                   "]\n      podSelector:\n        matchLabels:\n          tier: frontend\n",
                   "    ports:\n    - port: http\n")));
  out.push_back(PolicyDoc(
      ns, "allow-monitoring",
      "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n"
      "          kubernetes.io/metadata.name: monitoring\n      podSelector:\n        "
      "matchLabels:\n"
      "          app: prometheus\n    ports:\n    - port: metrics\n"));
}

// Policies 6-8: the internet from frontends, the data tier from backends, backend egress.
void AddTierPolicies(const std::string& ns, std::vector<std::string>& out) {
  using testlib::PolicyDoc;
  out.push_back(PolicyDoc(
      ns, "frontend-internet-egress",
      "  podSelector:\n    matchLabels:\n      tier: frontend\n  policyTypes: [Egress]\n  egress:\n"
      "  - to:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n        except: [10.0.0.0/8, "
      "172.16.0.0/12, 192.168.0.0/16, 169.254.169.254/32]\n    ports:\n    - port: 443\n"
      "    - port: 80\n"));
  out.push_back(PolicyDoc(
      ns, "data-from-backend",
      "  podSelector:\n    matchLabels:\n      tier: data\n  policyTypes: [Ingress]\n  ingress:\n"
      "  - from:\n    - podSelector:\n        matchLabels:\n          tier: backend\n    ports:\n"
      "    - port: postgres\n    - port: redis\n    - port: amqp\n"));
  out.push_back(PolicyDoc(
      ns, "backend-egress",
      "  podSelector:\n    matchLabels:\n      tier: backend\n  policyTypes: [Egress]\n  egress:\n"
      "  - to:\n    - podSelector:\n        matchLabels:\n          tier: data\n    ports:\n    - "
      "port: 5432\n"
      "    - port: 6379\n    - port: 5672\n  - to:\n    - namespaceSelector:\n        "
      "matchExpressions:\n"
      "        - key: env\n          operator: NotIn\n          values: [staging]\n      "
      "podSelector:\n"
      "        matchLabels:\n          app: api\n    ports:\n    - port: grpc\n"));
}

// Policies 9-10: NodePorts into the gateway, the worker's partner egress.
void AddCidrPolicies(const std::string& ns, int k, int namespaces, std::vector<std::string>& out) {
  using testlib::PolicyDoc;
  out.push_back(PolicyDoc(
      ns, "gateway-nodeports",
      absl::StrCat("  podSelector:\n    matchLabels:\n      app: gateway\n  ingress:\n  - from:\n"
                   "    - ipBlock:\n        cidr: 10.0.0.0/8\n        except: [10.244.",
                   k % namespaces % 250, ".0/24]\n    - ipBlock:\n        cidr: 192.168.0.0/16\n",
                   "    ports:\n    - port: 30000\n      endPort: 32767\n    - port: http\n")));
  out.push_back(PolicyDoc(
      ns, "worker-partner-egress",
      absl::StrCat("  podSelector:\n    matchLabels:\n      app: worker\n  policyTypes: [Egress]\n"
                   "  egress:\n  - to:\n    - ipBlock:\n        cidr: 203.0.",
                   k % 256, ".0/24\n        except: [203.0.", k % 256,
                   ".128/25]\n    - ipBlock:\n        cidr: 198.51.100.0/24\n    ports:\n"
                   "    - port: 443\n    - port: 8443\n      endPort: 8450\n"
                   "    - protocol: UDP\n      port: 4500\n")));
}

// The ten policies of namespace k (kube-system and monitoring get the same ten).
std::vector<std::string> Policies(int k, int namespaces) {
  std::string ns = NamespaceName(k);
  std::vector<std::string> out;
  AddAccessPolicies(ns, k, out);
  AddTierPolicies(ns, out);
  AddCidrPolicies(ns, k, namespaces, out);
  return out;
}

std::string NodesYaml(int nodes) {
  std::string docs;
  for (int n = 0; n < nodes; ++n) {
    absl::StrAppend(&docs, n ? "---\n" : "", "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-",
                    n, "\n  labels:\n    topology.kubernetes.io/zone: zone-", n % 3,
                    "\nspec:\n  podCIDR: 10.", 244 + n / 250, ".", n % 250,
                    ".0/24\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.168.",
                    n / 250, ".", n % 250 + 1, "\n");
  }
  return docs;
}

// Appends replica r of `app` in namespace `ns` (the k-th), the pod_index-th pod of the cluster,
// straight into `text` (one namespace's file as it grows).
void AppendPod(std::string* text, const std::string& ns, int k, int a, int r, const App& app,
               int pod_index, int nodes) {
  // Every fifth namespace runs a canary of its API: 3 replicas of a second version.
  bool canary = k % 5 == 4 && a == 1 && r < 3;
  std::string hash = absl::StrCat(canary ? "7c9f" : "5d8b", k, a);
  int node = pod_index % nodes;
  int host = pod_index / nodes + 2;
  // Node n has 10.(244 + n/250).(n%250).0/24; up to 250 pods per node, 65,535 in all.
  std::string ip = absl::StrCat("10.", 244 + node / 250, ".", node % 250, ".", host);
  std::string ip6 = absl::StrCat("fd00:10:244:", absl::Hex(node), "::", absl::Hex(pod_index + 1));
  absl::StrAppend(text, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: ", app.name, "-", hash,
                  "-", r, "\n  namespace: ", ns, "\n  labels:\n    app: ", app.name,
                  "\n    tier: ", app.tier, "\n    version: ", canary ? "v2" : "v1",
                  "\n    pod-template-hash: h", hash);
  if (app.name == "coredns") absl::StrAppend(text, "\n    k8s-app: kube-dns");
  absl::StrAppend(text, "\nspec:\n  nodeName: node-", node, "\n  serviceAccountName: ", app.name,
                  "\n  containers:\n  - name: main\n    image: registry.example/", app.name,
                  ":1.0\n    ports:\n", absl::StrJoin(app.ports, ""), "status:\n  podIP: ", ip,
                  "\n  podIPs:\n  - ip: ", ip, "\n  - ip: ", ip6, "\n");
}

}  // namespace

Cluster Generate(int namespaces) {
  Cluster c;
  c.nodes = std::max(1, namespaces);
  // Copied, not moved: the heap this leaves behind is the one the RSS figures were measured on
  // (they move by megabytes with where later allocations land; the heap figures do not).
  std::string node_docs = NodesYaml(c.nodes);
  c.files.emplace_back("nodes.yaml", node_docs);
  for (int k = 0; k < namespaces; ++k) {
    std::string ns = NamespaceName(k);
    std::string text = absl::StrCat("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ", ns,
                                    "\n  labels:\n    team: team", k % 20,
                                    "\n    env: ", k % 4 == 2 ? "staging" : "prod", "\n");
    for (int a = 0; a < kAppsPerNs; ++a) {
      App app = AppOf(k, a);
      for (int r = 0; r < kReplicas; ++r) AppendPod(&text, ns, k, a, r, app, c.pods++, c.nodes);
    }
    for (const std::string& p : Policies(k, namespaces)) {
      absl::StrAppend(&text, "---\n", p);
      ++c.policies;
    }
    c.files.emplace_back(absl::StrCat("ns/", ns, ".yaml"), std::move(text));
  }
  return c;
}

}  // namespace warden::bench
