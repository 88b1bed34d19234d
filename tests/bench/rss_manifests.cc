#include "tests/bench/rss_manifests.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/lib/yaml_text.h"

namespace warden::bench {
namespace {

constexpr int kNamespaces = 20, kPodsPerNamespace = 100, kLocalPods = 1000;

void WriteNodes(const std::string& dir) {
  std::ofstream n(dir + "/nodes.yaml");
  const char* names[] = {"bench-node", "other-node", "empty-node"};
  for (int i = 0; i < 3; ++i) {
    n << (i ? "---\n" : "") << "apiVersion: v1\nkind: Node\nmetadata:\n  name: " << names[i]
      << "\nspec:\n  podCIDR: 10." << 100 + i
      << ".0.0/16\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.168.0." << i + 1
      << "\n";
  }
}

// Pod r of namespace `ns`, the pod-th of the cluster.
std::string PodDoc(const std::string& ns, int r, int pod) {
  const int node = pod < kLocalPods ? 0 : 1;
  const char* tier = r % 10 < 3 ? "frontend" : r % 10 < 7 ? "backend" : "data";
  return absl::StrCat(
      "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: app", r % 10, "-", r,
      "\n  namespace: ", ns, "\n  uid: ", RssPodUid(pod), "\n  labels:\n    app: app", r % 10,
      "\n    tier: ", tier, "\nspec:\n  nodeName: ", node == 0 ? "bench-node" : "other-node",
      "\n  containers:\n  - name: main\n    ports:\n    - name: http\n      containerPort: 8080\n",
      "    - name: metrics\n      containerPort: 9090\nstatus:\n  podIP: 10.", 100 + node, ".",
      (pod % 1000) / 250, ".", (pod % 250) + 2, "\n");
}

// The five policies of namespace k.
std::string Policies(const std::string& ns, int k) {
  auto doc = [&](const char* name, const std::string& spec) {
    return absl::StrCat("---\n", testlib::PolicyDoc(ns, name, spec));
  };
  return absl::StrCat(
      doc("default-deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"),
      doc("same-namespace",
          "  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {}\n  egress:\n  - "
          "to:\n    - podSelector: {}\n"),
      doc("frontend-from-team",
          absl::StrCat("  podSelector:\n    matchLabels:\n      tier: frontend\n  ingress:\n"
                       "  - from:\n    - namespaceSelector:\n        matchLabels:\n          "
                       "team: t",
                       (k + 1) % 5, "\n    ports:\n    - port: http\n")),
      doc("backend-to-data",
          "  podSelector:\n    matchLabels:\n      tier: backend\n  policyTypes: [Egress]\n"
          "  egress:\n  - to:\n    - namespaceSelector: {}\n      podSelector:\n"
          "        matchLabels:\n          tier: data\n    ports:\n    - port: 5432\n"),
      doc("internet",
          "  podSelector:\n    matchLabels:\n      tier: frontend\n  policyTypes: [Egress]\n"
          "  egress:\n  - to:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n        except: "
          "[10.0.0.0/8]\n    ports:\n    - port: 443\n"));
}

}  // namespace

std::string RssPodUid(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "bb000000-0000-4000-8000-%012d", i);
  return buf;
}

int WriteRssManifests(const std::string& dir) {
  std::filesystem::create_directories(dir);
  WriteNodes(dir);
  int pod = 0;
  for (int k = 0; k < kNamespaces; ++k) {
    std::string ns = absl::StrCat("team", k);
    std::ofstream f(absl::StrCat(dir, "/", ns, ".yaml"));
    f << "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " << ns << "\n  labels:\n    team: t"
      << k % 5 << "\n";
    for (int r = 0; r < kPodsPerNamespace; ++r, ++pod) f << PodDoc(ns, r, pod);
    f << Policies(ns, k);
  }
  return pod;
}

}  // namespace warden::bench
