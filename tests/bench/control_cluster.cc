#include "tests/bench/control_cluster.h"

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/cluster_names.h"
#include "tests/lib/yaml_text.h"

namespace warden::bench {
namespace {

std::string Policy(const std::string& ns, const std::string& name, const std::string& spec) {
  return absl::StrCat("---\n", testlib::PolicyDoc(ns, name, spec));
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw Failure("writing " + path);
}

// Node n's pods: 10.<100+n>.0.0/16 while there are at most 155 nodes (the plan of every earlier
// run), else a /24 each from 10.64.0.0/10 (up to 16,384 nodes of up to 250 pods).
bool ManyNodes(const ClusterSpec& c) { return c.nodes > 155; }

std::string PodCidr(const ClusterSpec& c, int n) {
  if (!ManyNodes(c)) return absl::StrCat("10.", 100 + n, ".0.0/16");
  return absl::StrCat("10.", 64 + n / 256, ".", n % 256, ".0/24");
}

std::string PodIp(const ClusterSpec& c, int node, int local) {
  if (!ManyNodes(c)) return absl::StrCat("10.", 100 + node, ".", local / 250, ".", local % 250 + 2);
  if (local >= 250) throw Failure("more than 250 pods on a node of a cluster of over 155 nodes");
  return absl::StrCat("10.", 64 + node / 256, ".", node % 256, ".", local + 2);
}

std::string NodesYaml(const ClusterSpec& c) {
  std::string nodes;
  for (int n = 0; n < c.nodes; ++n) {
    absl::StrAppend(&nodes, n ? "---\n" : "", "apiVersion: v1\nkind: Node\nmetadata:\n  name: n", n,
                    "\n  labels:\n    topology.kubernetes.io/zone: zone-", n % 3,
                    "\nspec:\n  podCIDR: ", PodCidr(c, n),
                    "\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.168.",
                    (n + 1) / 256, ".", (n + 1) % 256, "\n");
  }
  return nodes;
}

std::string NamespaceYaml(int k) {
  return absl::StrCat("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ", NamespaceName(k),
                      "\n  labels:\n    team: team", k % 20,
                      "\n    env: ", k % 4 == 2 ? "staging" : "prod", "\n    web-access: \"",
                      k % 3 == 0 ? "true" : "false", "\"\n");
}

// What the pods of app a in namespace k look like.
struct AppShape {
  std::string app, tier, extra_label, ports, hash;
};

AppShape AppOf(int k, int a) {
  AppShape s;
  s.app = kApps[a % 10];
  s.tier = a == 0 || a == 9 ? "frontend" : a <= 5 ? "backend" : "data";
  s.ports =
      "    - {name: http, containerPort: 8080, protocol: TCP}\n"
      "    - {name: metrics, containerPort: 9090, protocol: TCP}\n";
  if (k == 0 && a == 0) {
    s.app = "coredns";
    s.tier = "system";
    s.extra_label = "\n    k8s-app: kube-dns";
    s.ports =
        "    - {name: dns, containerPort: 53, protocol: UDP}\n"
        "    - {name: dns-tcp, containerPort: 53, protocol: TCP}\n"
        "    - {name: metrics, containerPort: 9153, protocol: TCP}\n";
  } else if (k == 1 && a == 0) {
    s.app = "prometheus";
    s.tier = "system";
    s.ports = "    - {name: http, containerPort: 9090, protocol: TCP}\n";
  }
  s.hash = absl::StrFormat("%x%02d", 0x5d8b0 + k, a);
  return s;
}

// Replica r of app a in namespace k, the index-th pod of the cluster.
std::string PodYaml(const ClusterSpec& c, int k, int a, int r, int index, PodInfo* info) {
  const AppShape s = AppOf(k, a);
  int node = index % c.nodes;
  int local = index / c.nodes;
  std::string uid = absl::StrFormat("%08x-%04x-4000-8000-%012x", 0xbe9c0000u + k, a, index);
  std::string ip = PodIp(c, node, local);
  *info = PodInfo{uid, node};
  return absl::StrCat(
      "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: ", s.app, "-", s.hash, "-", r,
      "\n  namespace: ", NamespaceName(k), "\n  uid: ", uid, "\n  labels:\n    app: ", s.app,
      "\n    tier: ", s.tier, "\n    pod-template-hash: \"", s.hash, "\"", s.extra_label,
      "\nspec:\n  nodeName: n", node, "\n  serviceAccountName: ", s.app,
      "\n  containers:\n  - name: main\n    image: registry.example/", s.app, ":1.0\n    ports:\n",
      s.ports, "status:\n  phase: Running\n  podIP: ", ip, "\n  podIPs:\n  - ip: ", ip, "\n");
}

std::string PoliciesYaml(const std::string& ns) {
  return absl::StrCat(
      Policy(ns, "default-deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"),
      Policy(ns, "allow-same-namespace",
             "  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: "
             "{}\n  egress:\n  - to:\n    - podSelector: {}\n"),
      Policy(ns, "allow-web-from-labelled-namespaces",
             "  podSelector:\n    matchLabels:\n      app: web\n  ingress:\n"
             "  - from:\n    - namespaceSelector:\n        matchLabels:\n"
             "          web-access: \"true\"\n    ports:\n    - port: http\n"),
      Policy(ns, "allow-dns",
             "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
             "    - namespaceSelector:\n        matchLabels:\n          "
             "kubernetes.io/metadata.name: kube-system\n      podSelector:\n        "
             "matchLabels:\n          k8s-app: kube-dns\n    ports:\n    - protocol: UDP\n"
             "      port: 53\n    - protocol: TCP\n      port: 53\n"),
      Policy(ns, "allow-monitoring",
             "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector:\n"
             "        matchLabels:\n          kubernetes.io/metadata.name: monitoring\n"
             "      podSelector:\n        matchLabels:\n          app: prometheus\n"
             "    ports:\n    - port: metrics\n"));
}

}  // namespace

std::string TogglePolicy(const ClusterSpec& c, int port) {
  return Policy(NamespaceName(c.toggle_ns), "bench-toggle",
                absl::StrCat("  podSelector: {}\n  policyTypes: [Ingress]\n  ingress:\n"
                             "  - from:\n    - namespaceSelector:\n        matchLabels:\n"
                             "          env: staging\n    ports:\n    - protocol: TCP\n"
                             "      port: ",
                             port, "\n"));
}

void WriteToggle(const ClusterSpec& c, const std::string& path, int port) {
  WriteFile(path, TogglePolicy(c, port));
}

std::vector<PodInfo> WriteManifests(const ClusterSpec& c, const std::string& dir, size_t* bytes) {
  std::filesystem::create_directories(dir + "/ns");
  std::vector<PodInfo> pods;
  const std::string nodes = NodesYaml(c), toggle = TogglePolicy(c, 7000);
  WriteFile(dir + "/nodes.yaml", nodes);
  *bytes = nodes.size() + toggle.size();
  for (int k = 0; k < c.namespaces; ++k) {
    std::string text = NamespaceYaml(k);
    for (int a = 0; a < c.apps; ++a) {
      for (int r = 0; r < c.replicas; ++r) {
        PodInfo info;
        absl::StrAppend(&text, PodYaml(c, k, a, r, static_cast<int>(pods.size()), &info));
        pods.push_back(info);
      }
    }
    absl::StrAppend(&text, PoliciesYaml(NamespaceName(k)));
    WriteFile(absl::StrCat(dir, "/ns/", NamespaceName(k), ".yaml"), text);
    *bytes += text.size();
  }
  WriteFile(dir + "/toggle.yaml", toggle);
  return pods;
}

}  // namespace warden::bench
