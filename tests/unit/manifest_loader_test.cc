// Tests of LoadManifestTexts: decoding, defaulting and API-server-style validation.
#include "agent/policy/manifest_loader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/lib/yaml_text.h"

namespace warden::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::warden::testlib::LineOf;
using ::warden::testlib::PolicyYaml;

// A Pod named "p" (kPodP unless `rest` names a namespace) whose manifest goes on with `rest`:
// more of its metadata, then the rest of the object.
std::string PodP(const std::string& rest) {
  return absl::StrCat("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n", rest);
}
const char kPodP[] = "Pod default/p";

LoadResult Load(const std::string& text, const std::string& file = "test.yaml") {
  return LoadManifestTexts({{file, text}});
}

std::string ErrorsText(const LoadResult& r) {
  std::vector<std::string> lines;
  for (const auto& e : r.errors) lines.push_back(e.ToString());
  return absl::StrJoin(lines, "\n");
}

std::string NotesText(const LoadResult& r) { return absl::StrJoin(r.notes, "\n"); }

IpAddress Ip(const std::string& s) {
  auto ip = ParseIp(s);
  EXPECT_TRUE(ip.ok()) << s;
  return ip.ok() ? *ip : IpAddress{};
}

Cidr Net(const std::string& s) {
  auto c = ParseCidr(s);
  EXPECT_TRUE(c.ok()) << s;
  return c.ok() ? *c : Cidr{};
}

// Loads one policy and returns it (or an empty policy after a failed expectation).
NetworkPolicy LoadPolicy(const std::string& spec) {
  LoadResult r = Load(PolicyYaml("team-x", "np", spec));
  EXPECT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  auto it = r.state.policies.find("team-x/np");
  EXPECT_NE(it, r.state.policies.end());
  return it == r.state.policies.end() ? NetworkPolicy{} : it->second;
}

// ---- documents, lists, JSON ---------------------------------------------------------------

TEST(ManifestLoaderTest, MultiDocumentYaml) {
  LoadResult r = Load(R"(---
apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
# an empty document is skipped
---
apiVersion: v1
kind: Pod
metadata:
  name: api
  namespace: shop
---
apiVersion: v1
kind: Node
metadata:
  name: node-1
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: deny
  namespace: shop
spec:
  podSelector: {}
)");
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  EXPECT_EQ(r.files_read, 1);
  ASSERT_EQ(r.state.namespaces.size(), 1u);
  EXPECT_FALSE(r.state.namespaces.at("shop").implicit);
  EXPECT_EQ(r.state.namespaces.at("shop").source.file, "test.yaml");
  EXPECT_EQ(r.state.namespaces.at("shop").source.line, 2);
  ASSERT_EQ(r.state.pods.size(), 1u);
  EXPECT_EQ(r.state.pods.at("shop/api").source.line, 9);
  EXPECT_EQ(r.state.nodes.size(), 1u);
  EXPECT_EQ(r.state.nodes.count("node-1"), 1u);
  ASSERT_EQ(r.state.policies.size(), 1u);
  EXPECT_EQ(r.state.policies.count("shop/deny"), 1u);
}

TEST(ManifestLoaderTest, KindListWithItems) {
  LoadResult r = Load(R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: shop
- apiVersion: v1
  kind: Pod
  metadata:
    name: api
    namespace: shop
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    name: deny
    namespace: shop
  spec:
    podSelector: {}
)");
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  EXPECT_EQ(r.state.namespaces.count("shop"), 1u);
  EXPECT_FALSE(r.state.namespaces.at("shop").implicit);
  EXPECT_EQ(r.state.pods.count("shop/api"), 1u);
  EXPECT_EQ(r.state.pods.at("shop/api").source.line, 8);
  EXPECT_EQ(r.state.policies.count("shop/deny"), 1u);
}

TEST(ManifestLoaderTest, ErrorInsideListItemHasItemPath) {
  const std::string text = R"(apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: shop
- apiVersion: networking.k8s.io/v1
  kind: NetworkPolicy
  metadata:
    name: bad
    namespace: shop
  spec:
    podSelector: {}
    ingress:
    - ports:
      - port: 0 #<-
)";
  LoadResult r = Load(text);
  ASSERT_EQ(r.errors.size(), 1u) << ErrorsText(r);
  const ManifestError& e = r.errors[0];
  EXPECT_EQ(e.file, "test.yaml");
  EXPECT_EQ(e.line, LineOf(text, "#<-"));
  EXPECT_EQ(e.object, "NetworkPolicy shop/bad");
  EXPECT_EQ(e.field, "items[1].spec.ingress[0].ports[0].port");
  // The whole file is rejected, the valid Namespace in it too.
  EXPECT_THAT(r.state.namespaces, IsEmpty());
  EXPECT_THAT(r.state.policies, IsEmpty());
}

TEST(ManifestLoaderTest, JsonFile) {
  const std::string json = R"({
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {
      "apiVersion": "v1",
      "kind": "Pod",
      "metadata": {"name": "api", "namespace": "shop", "labels": {"app": "api"}},
      "spec": {
        "serviceAccountName": "api-sa",
        "containers": [
          {"name": "c", "ports": [{"name": "http", "containerPort": 8080},
                                  {"containerPort": 53, "protocol": "UDP"}]}
        ]
      },
      "status": {"podIP": "10.1.0.5"}
    },
    {
      "apiVersion": "networking.k8s.io/v1",
      "kind": "NetworkPolicy",
      "metadata": {"name": "allow-http", "namespace": "shop"},
      "spec": {
        "podSelector": {"matchLabels": {"app": "api"}},
        "ingress": [{"ports": [{"port": 8080}, {"port": "http"}, {"protocol": "UDP", "port": 53, "endPort": 60}]}]
      }
    }
  ]
})";
  LoadResult r = Load(json, "cluster.json");
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  ASSERT_EQ(r.state.pods.count("shop/api"), 1u);
  const Pod& pod = r.state.pods.at("shop/api");
  EXPECT_EQ(pod.labels, (Labels{{"app", "api"}}));
  EXPECT_EQ(pod.service_account, "api-sa");
  ASSERT_EQ(pod.ports.size(), 2u);
  EXPECT_EQ(pod.ports[0].name, "http");
  EXPECT_EQ(pod.ports[0].port, 8080);
  EXPECT_EQ(pod.ports[0].protocol, Protocol::kTCP);
  EXPECT_EQ(pod.ports[1].name, "");
  EXPECT_EQ(pod.ports[1].port, 53);
  EXPECT_EQ(pod.ports[1].protocol, Protocol::kUDP);
  ASSERT_EQ(pod.ips.size(), 1u);
  EXPECT_EQ(pod.ips[0], Ip("10.1.0.5"));
  EXPECT_EQ(pod.source.file, "cluster.json");

  ASSERT_EQ(r.state.policies.count("shop/allow-http"), 1u);
  const NetworkPolicy& np = r.state.policies.at("shop/allow-http");
  EXPECT_EQ(np.pod_selector.match_labels, (std::map<std::string, std::string>{{"app", "api"}}));
  EXPECT_TRUE(np.affects_ingress);
  EXPECT_FALSE(np.affects_egress);
  ASSERT_EQ(np.ingress.size(), 1u);
  const auto& ports = np.ingress[0].ports;
  ASSERT_EQ(ports.size(), 3u);
  ASSERT_TRUE(std::holds_alternative<int>(ports[0].port));
  EXPECT_EQ(std::get<int>(ports[0].port), 8080);
  // A JSON string is a port name, even in JSON.
  ASSERT_TRUE(std::holds_alternative<std::string>(ports[1].port));
  EXPECT_EQ(std::get<std::string>(ports[1].port), "http");
  EXPECT_EQ(ports[2].protocol, Protocol::kUDP);
  ASSERT_TRUE(std::holds_alternative<int>(ports[2].port));
  EXPECT_EQ(std::get<int>(ports[2].port), 53);
  EXPECT_EQ(ports[2].end_port, 60);
}

TEST(ManifestLoaderTest, JsonErrorNamesFileLineAndField) {
  const std::string json = R"({
  "apiVersion": "networking.k8s.io/v1",
  "kind": "NetworkPolicy",
  "metadata": {"name": "np", "namespace": "shop"},
  "spec": {
    "podSelector": {},
    "ingress": [{"ports": [
      {"port": "80"}
    ]}]
  }
})";
  LoadResult r = Load(json, "np.json");
  ASSERT_EQ(r.errors.size(), 1u) << ErrorsText(r);
  EXPECT_EQ(r.errors[0].file, "np.json");
  EXPECT_EQ(r.errors[0].line, 8);
  EXPECT_EQ(r.errors[0].object, "NetworkPolicy shop/np");
  EXPECT_EQ(r.errors[0].field, "spec.ingress[0].ports[0].port");
  EXPECT_THAT(r.state.policies, IsEmpty());
}

// ---- namespaces --------------------------------------------------------------------------

TEST(ManifestLoaderTest, NamespaceGetsMetadataNameLabel) {
  LoadResult r = Load(R"(apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    team: a
    kubernetes.io/metadata.name: something-else
)");
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  ASSERT_EQ(r.state.namespaces.count("shop"), 1u);
  const Namespace& ns = r.state.namespaces.at("shop");
  // The API server sets the label and overwrites any other value.
  EXPECT_EQ(ns.labels, (Labels{{"team", "a"}, {"kubernetes.io/metadata.name", "shop"}}));
  EXPECT_FALSE(ns.implicit);
  EXPECT_THAT(NotesText(r), ::testing::Not(HasSubstr("namespace shop")));
}

TEST(ManifestLoaderTest, ImplicitNamespacesForPodsAndPolicies) {
  LoadResult r = Load(R"(apiVersion: v1
kind: Pod
metadata:
  name: a
  namespace: shop
---
apiVersion: v1
kind: Pod
metadata:
  name: b
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np
  namespace: audit
spec:
  podSelector: {}
)");
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  ASSERT_EQ(r.state.namespaces.size(), 3u);
  for (const char* name : {"shop", "default", "audit"}) {
    SCOPED_TRACE(name);
    ASSERT_EQ(r.state.namespaces.count(name), 1u);
    const Namespace& ns = r.state.namespaces.at(name);
    EXPECT_TRUE(ns.implicit);
    EXPECT_EQ(ns.labels, (Labels{{"kubernetes.io/metadata.name", name}}));
    EXPECT_THAT(NotesText(r),
                HasSubstr(absl::StrCat("namespace ", name, " has no Namespace object")));
  }
  EXPECT_EQ(r.state.pods.count("default/b"), 1u);
}

// ---- pods and nodes -----------------------------------------------------------------------

TEST(ManifestLoaderTest, PodFields) {
  LoadResult r = Load(R"(apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  uid: 1234-abcd
  labels:
    app: web
    tier: front
spec:
  serviceAccountName: web-sa
  nodeName: node-1
  containers:
  - name: main
    ports:
    - name: http
      containerPort: 8080
    - name: dns
      containerPort: 53
      protocol: UDP
    - containerPort: 9000
      protocol: SCTP
  - name: sidecar
    ports:
    - name: metrics
      containerPort: 9090
status:
  podIP: 10.244.1.10
  podIPs:
  - ip: 10.244.1.10
  - ip: fd00:1::10
---
apiVersion: v1
kind: Pod
metadata:
  name: bare
)");
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  ASSERT_EQ(r.state.pods.count("shop/web-1"), 1u);
  const Pod& p = r.state.pods.at("shop/web-1");
  EXPECT_EQ(p.ns, "shop");
  EXPECT_EQ(p.name, "web-1");
  EXPECT_EQ(p.uid, "1234-abcd");
  EXPECT_EQ(p.labels, (Labels{{"app", "web"}, {"tier", "front"}}));
  EXPECT_EQ(p.service_account, "web-sa");
  EXPECT_EQ(p.node_name, "node-1");
  EXPECT_FALSE(p.host_network);
  ASSERT_EQ(p.ports.size(), 4u);
  EXPECT_EQ(p.ports[0].name, "http");
  EXPECT_EQ(p.ports[0].port, 8080);
  EXPECT_EQ(p.ports[0].protocol, Protocol::kTCP);
  EXPECT_EQ(p.ports[1].name, "dns");
  EXPECT_EQ(p.ports[1].port, 53);
  EXPECT_EQ(p.ports[1].protocol, Protocol::kUDP);
  EXPECT_EQ(p.ports[2].name, "");
  EXPECT_EQ(p.ports[2].port, 9000);
  EXPECT_EQ(p.ports[2].protocol, Protocol::kSCTP);
  EXPECT_EQ(p.ports[3].name, "metrics");
  EXPECT_EQ(p.ports[3].port, 9090);
  // podIP first, duplicates of it in podIPs dropped.
  ASSERT_EQ(p.ips.size(), 2u);
  EXPECT_EQ(p.ips[0], Ip("10.244.1.10"));
  EXPECT_EQ(p.ips[1], Ip("fd00:1::10"));
  EXPECT_EQ(p.ips[1].family, Family::kV6);

  ASSERT_EQ(r.state.pods.count("default/bare"), 1u);
  const Pod& bare = r.state.pods.at("default/bare");
  EXPECT_EQ(bare.ns, "default");
  EXPECT_EQ(bare.service_account, "default");
  EXPECT_THAT(bare.labels, IsEmpty());
  EXPECT_THAT(bare.ports, IsEmpty());
  EXPECT_THAT(bare.ips, IsEmpty());
  EXPECT_EQ(bare.node_name, "");
}

// What the API server accepts must load: prefixed label keys at their longest, empty label
// values, annotation keys with capitals in the prefix (the API server lowercases them to check),
// annotations of exactly 256 KiB, the same port name in two containers, and the same port names
// in an init container.
TEST(ManifestLoaderTest, ValidPodMetadataAndContainers) {
  const std::string long_prefix =
      absl::StrCat(std::string(63, 'a'), ".", std::string(63, 'b'), ".", std::string(63, 'c'), ".",
                   std::string(61, 'd'));  // 253 characters
  ASSERT_EQ(long_prefix.size(), 253u);
  const std::string long_name = absl::StrCat("N", std::string(61, '.'), "9");  // 63 characters
  const std::string long_value = absl::StrCat("v", std::string(61, '_'), "V");
  const std::string head = "kubectl.kubernetes.io/last-applied-configuration";
  // Keys and values of these annotations, 262144 bytes in all.
  const size_t fixed = std::string("Example.COM/Owner").size() + std::string("team-x").size() +
                       std::string("note").size() + head.size();
  const std::string big(262144 - fixed, 'x');
  const std::string text = PodP(absl::StrCat(R"(  namespace: shop
  labels:
    example.com/app: web
    )",
                                             long_prefix, "/", long_name, ": ", long_value, R"(
    tier: ""
    track:
    version: "1.0"
  annotations:
    Example.COM/Owner: team-x
    note: ""
    )",
                                             head, ": ", big, R"(
spec:
  containers:
  - name: web
    ports:
    - {name: http, containerPort: 8080}
    - {name: metrics, containerPort: 9090}
  - name: proxy
    ports:
    - {name: http, containerPort: 15001}
  initContainers:
  - name: setup
    ports:
    - {name: http, containerPort: 7000}
  - name: mesh
    restartPolicy: Always
    ports:
    - {name: http, containerPort: 15090}
)"));
  LoadResult r = Load(text);
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r).substr(0, 2000);
  ASSERT_EQ(r.state.pods.count("shop/p"), 1u);
  const Pod& p = r.state.pods.at("shop/p");
  EXPECT_EQ(p.labels.at("tier"), "");
  EXPECT_EQ(p.labels.at("track"), "");
  EXPECT_EQ(p.labels.at(absl::StrCat(long_prefix, "/", long_name)), long_value);
  // The containers' ports and the sidecar's; not the plain init container's.
  std::vector<int> http;
  for (const auto& cp : p.ports) {
    if (cp.name == "http") http.push_back(cp.port);
  }
  EXPECT_THAT(http, ElementsAre(8080, 15001, 15090));
  EXPECT_EQ(p.ports.size(), 4u);
}

TEST(ManifestLoaderTest, PodIpsOnlyIpv6AndHostNetwork) {
  LoadResult r = Load(R"(apiVersion: v1
kind: Pod
metadata:
  name: v6
spec:
  hostNetwork: false
status:
  podIPs:
  - ip: fd00::5
---
apiVersion: v1
kind: Pod
metadata:
  name: host
spec:
  hostNetwork: true
status:
  podIP: 192.168.0.10
)");
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  const Pod& v6 = r.state.pods.at("default/v6");
  ASSERT_EQ(v6.ips.size(), 1u);
  EXPECT_EQ(v6.ips[0], Ip("fd00::5"));
  const Pod& host = r.state.pods.at("default/host");
  EXPECT_TRUE(host.host_network);
  // hostNetwork pods own no address: it is the node's.
  EXPECT_EQ(r.state.FindPodByIp(Ip("192.168.0.10")), nullptr);
  EXPECT_EQ(r.state.FindPodByIp(Ip("fd00::5")), &v6);
}

TEST(ManifestLoaderTest, NodeFields) {
  LoadResult r = Load(R"(apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels:
    zone: a
spec:
  podCIDR: 10.244.1.0/24
  podCIDRs:
  - 10.244.1.0/24
  - fd00:1::/64
status:
  addresses:
  - type: Hostname
    address: node-1
  - type: InternalIP
    address: 192.168.0.1
  - type: ExternalIP
    address: 203.0.113.1
---
apiVersion: v1
kind: Node
metadata:
  name: node-2
spec:
  podCIDR: 10.244.2.7/24
)");
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  ASSERT_EQ(r.state.nodes.count("node-1"), 1u);
  const Node& n = r.state.nodes.at("node-1");
  EXPECT_EQ(n.labels, (Labels{{"zone", "a"}}));
  EXPECT_THAT(n.pod_cidrs, ElementsAre(Net("10.244.1.0/24"), Net("fd00:1::/64")));
  EXPECT_THAT(n.addresses, ElementsAre(Ip("192.168.0.1"), Ip("203.0.113.1")));
  // Host bits of a podCIDR are cleared.
  EXPECT_THAT(r.state.nodes.at("node-2").pod_cidrs, ElementsAre(Net("10.244.2.0/24")));
  EXPECT_EQ(r.state.nodes.at("node-2").pod_cidrs[0].ToString(), "10.244.2.0/24");
}

// ---- NetworkPolicy decoding ---------------------------------------------------------------

struct PolicyTypesCase {
  const char* name;
  const char* spec;
  bool ingress;
  bool egress;
};

void PrintTo(const PolicyTypesCase& c, std::ostream* os) { *os << c.name; }

class PolicyTypesTest : public ::testing::TestWithParam<PolicyTypesCase> {};

TEST_P(PolicyTypesTest, Defaulting) {
  NetworkPolicy np = LoadPolicy(GetParam().spec);
  EXPECT_EQ(np.affects_ingress, GetParam().ingress);
  EXPECT_EQ(np.affects_egress, GetParam().egress);
}

INSTANTIATE_TEST_SUITE_P(
    ManifestLoaderTest, PolicyTypesTest,
    ::testing::Values(
        PolicyTypesCase{"NoTypesNoRules", "podSelector: {}", true, false},
        PolicyTypesCase{"NoTypesIngressRules", "podSelector: {}\ningress:\n- {}", true, false},
        PolicyTypesCase{"NoTypesEgressRules", "podSelector: {}\negress:\n- {}", true, true},
        PolicyTypesCase{"NoTypesEmptyEgressList", "podSelector: {}\negress: []", true, false},
        PolicyTypesCase{"EmptyTypesListDefaults", "podSelector: {}\npolicyTypes: []\negress:\n- {}",
                        true, true},
        PolicyTypesCase{"ExplicitEgressOnly", "podSelector: {}\npolicyTypes: [Egress]", false,
                        true},
        PolicyTypesCase{"ExplicitEgressWithIngressRules",
                        "podSelector: {}\npolicyTypes: [Egress]\ningress:\n- {}", false, true},
        PolicyTypesCase{"ExplicitIngressWithEgressRules",
                        "podSelector: {}\npolicyTypes: [Ingress]\negress:\n- {}", true, false},
        PolicyTypesCase{"ExplicitBoth", "podSelector: {}\npolicyTypes:\n- Ingress\n- Egress", true,
                        true}),
    [](const ::testing::TestParamInfo<PolicyTypesCase>& info) { return info.param.name; });

TEST(ManifestLoaderTest, EmptyIngressListVersusOneEmptyRule) {
  NetworkPolicy none = LoadPolicy("podSelector: {}\ningress: []");
  EXPECT_THAT(none.ingress, IsEmpty());
  EXPECT_TRUE(none.affects_ingress);

  NetworkPolicy all = LoadPolicy("podSelector: {}\ningress: [{}]");
  ASSERT_EQ(all.ingress.size(), 1u);
  EXPECT_THAT(all.ingress[0].peers, IsEmpty());
  EXPECT_THAT(all.ingress[0].ports, IsEmpty());

  NetworkPolicy egress_all = LoadPolicy("podSelector: {}\npolicyTypes: [Egress]\negress:\n- {}");
  ASSERT_EQ(egress_all.egress.size(), 1u);
  EXPECT_THAT(egress_all.egress[0].peers, IsEmpty());
}

TEST(ManifestLoaderTest, PolicySelectorAndPeers) {
  NetworkPolicy np = LoadPolicy(R"(
podSelector:
  matchLabels:
    app: web
  matchExpressions:
  - key: tier
    operator: In
    values: [front, edge]
  - key: debug
    operator: DoesNotExist
ingress:
- from:
  - podSelector: {}
  - namespaceSelector: {}
  - namespaceSelector:
      matchLabels:
        team: a
    podSelector:
      matchExpressions:
      - key: role
        operator: NotIn
        values: [admin]
      - key: app
        operator: Exists
  - ipBlock:
      cidr: 10.0.0.0/8
      except:
      - 10.1.0.0/16
      - 10.2.3.4/24
)");
  EXPECT_EQ(np.ns, "team-x");
  EXPECT_EQ(np.name, "np");
  EXPECT_EQ(np.pod_selector.match_labels, (std::map<std::string, std::string>{{"app", "web"}}));
  ASSERT_EQ(np.pod_selector.match_expressions.size(), 2u);
  EXPECT_EQ(np.pod_selector.match_expressions[0].key, "tier");
  EXPECT_EQ(np.pod_selector.match_expressions[0].op, SelectorOp::kIn);
  EXPECT_THAT(np.pod_selector.match_expressions[0].values, ElementsAre("front", "edge"));
  EXPECT_EQ(np.pod_selector.match_expressions[1].op, SelectorOp::kDoesNotExist);
  EXPECT_THAT(np.pod_selector.match_expressions[1].values, IsEmpty());

  ASSERT_EQ(np.ingress.size(), 1u);
  const auto& peers = np.ingress[0].peers;
  ASSERT_EQ(peers.size(), 4u);
  // podSelector: {} alone: present and empty; namespaceSelector absent.
  ASSERT_TRUE(peers[0].pod_selector.has_value());
  EXPECT_TRUE(peers[0].pod_selector->Empty());
  EXPECT_FALSE(peers[0].namespace_selector.has_value());
  EXPECT_FALSE(peers[0].ip_block.has_value());
  // namespaceSelector: {} alone: podSelector absent.
  EXPECT_FALSE(peers[1].pod_selector.has_value());
  ASSERT_TRUE(peers[1].namespace_selector.has_value());
  EXPECT_TRUE(peers[1].namespace_selector->Empty());
  // Both selectors.
  ASSERT_TRUE(peers[2].pod_selector.has_value());
  ASSERT_TRUE(peers[2].namespace_selector.has_value());
  EXPECT_EQ(peers[2].namespace_selector->match_labels,
            (std::map<std::string, std::string>{{"team", "a"}}));
  ASSERT_EQ(peers[2].pod_selector->match_expressions.size(), 2u);
  EXPECT_EQ(peers[2].pod_selector->match_expressions[0].op, SelectorOp::kNotIn);
  EXPECT_EQ(peers[2].pod_selector->match_expressions[1].op, SelectorOp::kExists);
  // ipBlock: except host bits cleared.
  EXPECT_FALSE(peers[3].pod_selector.has_value());
  EXPECT_FALSE(peers[3].namespace_selector.has_value());
  ASSERT_TRUE(peers[3].ip_block.has_value());
  EXPECT_EQ(peers[3].ip_block->cidr, Net("10.0.0.0/8"));
  EXPECT_THAT(peers[3].ip_block->except, ElementsAre(Net("10.1.0.0/16"), Net("10.2.3.0/24")));
}

TEST(ManifestLoaderTest, PolicyPorts) {
  NetworkPolicy np = LoadPolicy(R"(
podSelector: {}
egress:
- ports:
  - port: 80
  - port: http
    protocol: TCP
  - protocol: UDP
  - port: 8000
    endPort: 8100
  - port: 9000
    endPort: 9000
  - {}
  - protocol: SCTP
    port: 5000
)");
  ASSERT_EQ(np.egress.size(), 1u);
  const auto& p = np.egress[0].ports;
  ASSERT_EQ(p.size(), 7u);
  EXPECT_EQ(p[0].protocol, Protocol::kTCP);  // default
  ASSERT_TRUE(std::holds_alternative<int>(p[0].port));
  EXPECT_EQ(std::get<int>(p[0].port), 80);
  EXPECT_FALSE(p[0].end_port.has_value());
  ASSERT_TRUE(std::holds_alternative<std::string>(p[1].port));
  EXPECT_EQ(std::get<std::string>(p[1].port), "http");
  EXPECT_EQ(p[2].protocol, Protocol::kUDP);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(p[2].port));
  ASSERT_TRUE(std::holds_alternative<int>(p[3].port));
  EXPECT_EQ(std::get<int>(p[3].port), 8000);
  EXPECT_EQ(p[3].end_port, 8100);
  EXPECT_EQ(p[4].end_port, 9000);  // endPort == port is allowed
  EXPECT_EQ(p[5].protocol, Protocol::kTCP);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(p[5].port));
  EXPECT_EQ(p[6].protocol, Protocol::kSCTP);
  EXPECT_EQ(std::get<int>(p[6].port), 5000);
  EXPECT_THAT(np.egress[0].peers, IsEmpty());
}

TEST(ManifestLoaderTest, PortBounds) {
  NetworkPolicy np = LoadPolicy(
      "podSelector: {}\ningress:\n- ports:\n  - port: 1\n  - port: 65535\n  - port: 1\n    "
      "endPort: 65535");
  ASSERT_EQ(np.ingress.size(), 1u);
  ASSERT_EQ(np.ingress[0].ports.size(), 3u);
  EXPECT_EQ(std::get<int>(np.ingress[0].ports[0].port), 1);
  EXPECT_EQ(std::get<int>(np.ingress[0].ports[1].port), 65535);
  EXPECT_EQ(np.ingress[0].ports[2].end_port, 65535);
}

TEST(ManifestLoaderTest, UnknownKindsAreCountedNotRead) {
  LoadResult r = Load(R"(apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
---
apiVersion: v1
kind: Service
metadata:
  name: web
---
apiVersion: v1
kind: Pod
metadata:
  name: p
)");
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  EXPECT_EQ(r.state.pods.size(), 1u);
  EXPECT_THAT(r.ignored, ElementsAre(Pair("apps/v1 Deployment", 1), Pair("v1 Service", 1)));
}

// A kind Warden reads, in a version of its group that Warden does not decode, is refused (the
// file is not applied): passing over a NetworkPolicy would leave its pods open. The same kind
// name in another API group is another kind, counted as not read.
TEST(ManifestLoaderTest, AReadKindInAnUnreadVersionIsAnErrorNotIgnored) {
  for (const char* v : {"networking.k8s.io/v1beta1", "extensions/v1beta1"}) {
    LoadResult r = Load(absl::StrCat("apiVersion: ", v, R"(
kind: NetworkPolicy
metadata: {name: np, namespace: a}
spec: {podSelector: {}}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
)"));
    ASSERT_EQ(r.errors.size(), 1u) << v;
    EXPECT_EQ(r.errors[0].line, 1) << v;
    EXPECT_EQ(r.errors[0].object, "NetworkPolicy np") << v;
    EXPECT_EQ(r.errors[0].field, "apiVersion") << v;
    EXPECT_THAT(r.errors[0].message, HasSubstr("networking.k8s.io/v1")) << v;
    EXPECT_TRUE(r.state.pods.empty()) << v << ": a file with an error is not applied";
  }
  LoadResult r = Load(R"(
apiVersion: v2
kind: Pod
metadata: {name: p}
)");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "apiVersion");
  r = Load(R"(
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: g}
)");
  EXPECT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  EXPECT_THAT(r.ignored, ElementsAre(Pair("gateway.networking.k8s.io/v1 Gateway", 1)));
}

// ---- validation errors --------------------------------------------------------------------

struct ErrorCase {
  std::string name;
  std::string yaml;    // the offending line carries the comment "#<-"
  std::string object;  // "NetworkPolicy team-x/np"
  std::string field;
  std::string message;  // a substring of the message
};

std::string Np(const std::string& spec) { return PolicyYaml("team-x", "np", spec); }
const char kNp[] = "NetworkPolicy team-x/np";

std::vector<ErrorCase> ErrorCases() {
  return {
      // ipBlock
      {"BadCidr", Np(R"(
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: 10.0.0.0/33 #<-
)"),
       kNp, "spec.ingress[0].from[0].ipBlock.cidr", "not a valid CIDR"},
      {"CidrWithoutPrefix", Np(R"(
podSelector: {}
egress:
- to:
  - ipBlock:
      cidr: 10.0.0.1 #<-
)"),
       kNp, "spec.egress[0].to[0].ipBlock.cidr", "not a valid CIDR"},
      {"BadExcept", Np(R"(
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: 10.0.0.0/8
      except:
      - 10.0.0.0/99 #<-
)"),
       kNp, "spec.ingress[0].from[0].ipBlock.except[0]", "not a valid CIDR"},
      {"ExceptOutsideCidr", Np(R"(
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: 10.0.0.0/8
      except:
      - 10.1.0.0/16
      - 11.0.0.0/16 #<-
)"),
       kNp, "spec.ingress[0].from[0].ipBlock.except[1]", "strict subset"},
      {"ExceptEqualToCidr", Np(R"(
podSelector: {}
egress:
- to:
  - ipBlock:
      cidr: 10.0.0.0/8
      except:
      - 10.0.0.0/8 #<-
)"),
       kNp, "spec.egress[0].to[0].ipBlock.except[0]", "strict subset"},
      {"ExceptEqualToCidrAfterMasking", Np(R"(
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: 10.0.0.0/8
      except:
      - 10.9.9.9/8 #<-
)"),
       kNp, "spec.ingress[0].from[0].ipBlock.except[0]", "strict subset"},
      {"ExceptWiderThanCidr", Np(R"(
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: 10.1.0.0/16
      except:
      - 10.0.0.0/8 #<-
)"),
       kNp, "spec.ingress[0].from[0].ipBlock.except[0]", "strict subset"},
      {"ExceptOtherFamily", Np(R"(
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: 10.0.0.0/8
      except:
      - fd00::/64 #<-
)"),
       kNp, "spec.ingress[0].from[0].ipBlock.except[0]", "strict subset"},
      {"IpBlockWithPodSelector", Np(R"(
podSelector: {}
ingress:
- from:
  - podSelector: {} #<-
    ipBlock:
      cidr: 10.0.0.0/8
)"),
       kNp, "spec.ingress[0].from[0]", "more than 1 peer type"},
      {"IpBlockWithNamespaceSelector", Np(R"(
podSelector: {}
egress:
- to:
  - ipBlock: #<-
      cidr: 10.0.0.0/8
    namespaceSelector: {}
)"),
       kNp, "spec.egress[0].to[0]", "more than 1 peer type"},
      {"EmptyPeer", Np(R"(
podSelector: {}
ingress:
- from:
  - podSelector: {}
  - {} #<-
)"),
       kNp, "spec.ingress[0].from[1]", "must specify a peer"},
      // ports
      {"EndPortWithoutPort", Np(R"(
podSelector: {}
egress:
- ports:
  - protocol: TCP
    endPort: 90 #<-
)"),
       kNp, "spec.egress[0].ports[0].endPort", "Required value"},
      {"EndPortWithNamedPort", Np(R"(
podSelector: {}
ingress:
- ports:
  - port: http
    endPort: 90 #<-
)"),
       kNp, "spec.ingress[0].ports[0].endPort", "non-numeric"},
      {"EndPortBelowPort", Np(R"(
podSelector: {}
ingress:
- ports:
  - port: 80
  - port: 90
    endPort: 89 #<-
)"),
       kNp, "spec.ingress[0].ports[1].endPort", "greater than or equal"},
      {"EndPortAbove65535", Np(R"(
podSelector: {}
ingress:
- ports:
  - port: 80
    endPort: 65536 #<-
)"),
       kNp, "spec.ingress[0].ports[0].endPort", "between 1 and 65535"},
      {"EndPortQuoted", Np(R"(
podSelector: {}
ingress:
- ports:
  - port: 80
    endPort: "90" #<-
)"),
       kNp, "spec.ingress[0].ports[0].endPort", "must be an integer"},
      {"PortZero", Np(R"(
podSelector: {}
ingress:
- ports:
  - port: 0 #<-
)"),
       kNp, "spec.ingress[0].ports[0].port", "between 1 and 65535"},
      {"Port70000", Np(R"(
podSelector: {}
egress:
- ports:
  - port: 70000 #<-
)"),
       kNp, "spec.egress[0].ports[0].port", "between 1 and 65535"},
      {"PortNegative", Np(R"(
podSelector: {}
egress:
- ports:
  - port: -1 #<-
)"),
       kNp, "spec.egress[0].ports[0].port", "between 1 and 65535"},
      {"QuotedNumericPortIsAnInvalidName", Np(R"(
podSelector: {}
ingress:
- ports:
  - port: "80" #<-
)"),
       kNp, "spec.ingress[0].ports[0].port", "at least one letter"},
      {"PortNameTooLong", Np(R"(
podSelector: {}
ingress:
- ports:
  - port: abcdefghijklmnop #<-
)"),
       kNp, "spec.ingress[0].ports[0].port", "no more than 15"},
      {"PortNameUppercase", Np(R"(
podSelector: {}
ingress:
- ports:
  - port: HTTP #<-
)"),
       kNp, "spec.ingress[0].ports[0].port", "lowercase"},
      {"UnknownProtocol", Np(R"(
podSelector: {}
ingress:
- ports:
  - protocol: ICMP #<-
    port: 80
)"),
       kNp, "spec.ingress[0].ports[0].protocol", "Unsupported value"},
      {"LowercaseProtocol", Np(R"(
podSelector: {}
egress:
- ports:
  - port: 53
  - protocol: tcp #<-
    port: 80
)"),
       kNp, "spec.egress[0].ports[1].protocol", "Unsupported value: \"tcp\""},
      // selectors
      {"UnknownSelectorOperator", Np(R"(
podSelector:
  matchExpressions:
  - key: app
    operator: Equals #<-
    values: [web]
)"),
       kNp, "spec.podSelector.matchExpressions[0].operator", "not a valid selector operator"},
      {"MissingSelectorOperator", Np(R"(
podSelector:
  matchExpressions:
  - key: app #<-
    values: [web]
)"),
       kNp, "spec.podSelector.matchExpressions[0].operator", "Required value"},
      {"ValuesWithExists", Np(R"(
podSelector: {}
ingress:
- from:
  - podSelector:
      matchExpressions:
      - key: app
        operator: Exists
        values: [web] #<-
)"),
       kNp, "spec.ingress[0].from[0].podSelector.matchExpressions[0].values", "Forbidden"},
      {"ValuesWithDoesNotExist", Np(R"(
podSelector: {}
egress:
- to:
  - namespaceSelector:
      matchExpressions:
      - key: team
        operator: DoesNotExist
        values: [a] #<-
)"),
       kNp, "spec.egress[0].to[0].namespaceSelector.matchExpressions[0].values", "Forbidden"},
      {"InWithoutValues", Np(R"(
podSelector:
  matchExpressions:
  - key: tier
    operator: In
  - key: app #<-
    operator: In
)"),
       kNp, "spec.podSelector.matchExpressions[1].values", "Required value"},
      {"NotInWithEmptyValues", Np(R"(
podSelector: {}
ingress:
- from:
  - namespaceSelector:
      matchExpressions:
      - key: team #<-
        operator: NotIn
        values: []
)"),
       kNp, "spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values",
       "Required value"},
      {"BadExpressionKey", Np(R"(
podSelector:
  matchExpressions:
  - key: bad key #<-
    operator: Exists
)"),
       kNp, "spec.podSelector.matchExpressions[0].key", "Invalid value"},
      {"BadExpressionValue", Np(R"(
podSelector:
  matchExpressions:
  - key: app
    operator: In
    values:
    - web
    - "-web" #<-
)"),
       kNp, "spec.podSelector.matchExpressions[0].values[1]", "Invalid value"},
      {"BadMatchLabelsKey", Np(R"(
podSelector:
  matchLabels:
    app!: web #<-
)"),
       kNp, "spec.podSelector.matchLabels.app!", "Invalid value"},
      {"BadMatchLabelsValue", Np(R"(
podSelector: {}
ingress:
- from:
  - podSelector:
      matchLabels:
        app: "web." #<-
)"),
       kNp, "spec.ingress[0].from[0].podSelector.matchLabels.app", "Invalid value"},
      {"LabelKeyWithTwoSlashes", PodP(R"(  labels:
    a.io/b/c: x #<-
)"),
       kPodP, "metadata.labels.a.io/b/c", "Invalid value"},
      {"LabelKeyUppercasePrefix", PodP(R"(  labels:
    Example.com/app: web #<-
)"),
       kPodP, "metadata.labels.Example.com/app", "prefix part"},
      {"LabelKeyEmptyPrefix", PodP(R"(  labels:
    /app: web #<-
)"),
       kPodP, "metadata.labels./app", "prefix part must be non-empty"},
      {"LabelKeyPrefixTooLong",
       PodP(absl::StrCat(R"(  labels:
    )",
                         std::string(254, 'a'), R"(/app: web #<-
)")),
       kPodP, absl::StrCat("metadata.labels.", std::string(254, 'a'), "/app"), "no more than 253"},
      {"LabelKeyNameTooLong",
       absl::StrCat(R"(apiVersion: v1
kind: Node
metadata:
  name: n
  labels:
    example.com/)",
                    std::string(64, 'k'), R"(: x #<-
)"),
       "Node n", absl::StrCat("metadata.labels.example.com/", std::string(64, 'k')),
       "no more than 63"},
      {"LabelValueEndsWithADash", PodP(R"(  labels:
    app: web- #<-
)"),
       kPodP, "metadata.labels.app", "start and end with an alphanumeric"},
      {"LabelValueMapping", PodP(R"(  labels:
    app: {name: web} #<-
)"),
       kPodP, "metadata.labels.app", "must be strings"},
      // annotations: keys qualified names (case aside), values strings, 256 KiB in all
      {"AnnotationKeyWithSpace", R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np
  namespace: team-x
  annotations:
    owner: team-x
    "who owns": team-x #<-
spec:
  podSelector: {}
)",
       kNp, "metadata.annotations.who owns", "name part must consist of"},
      {"AnnotationKeyTwoSlashes", R"(apiVersion: v1
kind: Namespace
metadata:
  name: shop
  annotations:
    example.com/a/b: x #<-
)",
       "Namespace shop", "metadata.annotations.example.com/a/b", "qualified name"},
      {"AnnotationKeyBadPrefix", R"(apiVersion: v1
kind: Node
metadata:
  name: n
  annotations:
    example_com/owner: x #<-
)",
       "Node n", "metadata.annotations.example_com/owner", "prefix part"},
      {"AnnotationValueNumber", PodP(R"(  annotations:
    replicas: 3 #<-
)"),
       kPodP, "metadata.annotations.replicas", "annotation values must be strings"},
      {"AnnotationValueList", PodP(R"(  annotations:
    owners: [a, b] #<-
)"),
       kPodP, "metadata.annotations.owners", "annotation values must be strings"},
      {"AnnotationsNotAMapping", PodP(R"(  annotations: owner=a #<-
)"),
       kPodP, "metadata.annotations", "must be an object"},
      // One byte over: the key "a" and a value of 262144 bytes.
      {"AnnotationsTooLarge",
       PodP(absl::StrCat(R"(  annotations:
    a: )",
                         std::string(262144, 'x'), R"( #<-
)")),
       kPodP, "metadata.annotations", "Too long: must have at most 262144 bytes"},
      {"LabelValueTooLong", R"(apiVersion: v1
kind: Namespace
metadata:
  name: ns1
  labels:
    team: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa #<-
)",
       "Namespace ns1", "metadata.labels.team", "no more than 63"},
      // policyTypes and unknown fields
      {"BadPolicyType", Np(R"(
podSelector: {}
policyTypes:
- Ingress
- egress #<-
)"),
       kNp, "spec.policyTypes[1]", "Unsupported value: \"egress\""},
      {"TooManyPolicyTypes", Np(R"(
podSelector: {}
policyTypes: [Ingress, Egress, Ingress] #<-
)"),
       kNp, "spec.policyTypes", "Too many"},
      {"MisspeltSpecField", Np(R"(
podSelecter: #<-
  matchLabels:
    app: web
)"),
       kNp, "spec.podSelecter", "unknown field \"podSelecter\""},
      {"MisspeltRuleField", Np(R"(
podSelector: {}
ingress:
- form: #<-
  - podSelector: {}
)"),
       kNp, "spec.ingress[0].form", "unknown field"},
      {"MisspeltIpBlockField", Np(R"(
podSelector: {}
ingress:
- from:
  - ipBlock:
      cidr: 10.0.0.0/8
      exept: [10.1.0.0/16] #<-
)"),
       kNp, "spec.ingress[0].from[0].ipBlock.exept", "unknown field"},
      {"MisspeltPortField", Np(R"(
podSelector: {}
ingress:
- ports:
  - port: 80
    endport: 90 #<-
)"),
       kNp, "spec.ingress[0].ports[0].endport", "unknown field"},
      // A misspelt metadata.namespace would silently move the policy to namespace "default".
      {"MisspeltMetadataNamespace", R"(apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np
  namepsace: team-x #<-
spec:
  podSelector: {}
)",
       "NetworkPolicy default/np", "metadata.namepsace", "unknown field"},
      // Label values are strings: an unquoted number or boolean is refused as by the API server.
      {"NumericLabelValue", R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: team-x
  labels:
    version: 1 #<-
)",
       "Pod team-x/p", "metadata.labels.version", "must be strings"},
      {"BooleanSelectorValue", PolicyYaml("team-x", "np", R"(podSelector:
    matchExpressions:
    - key: canary
      operator: In
      values: [true] #<-)"),
       "NetworkPolicy team-x/np", "spec.podSelector.matchExpressions[0].values[0]",
       "must be a string"},
      // names
      {"InvalidPodNamespace", R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: Team_X #<-
)",
       "Pod Team_X/p", "metadata.namespace", "RFC 1123 label"},
      {"InvalidPolicyNamespace", PolicyYaml("team.x #<-", "np", "podSelector: {}"),
       "NetworkPolicy team.x/np", "metadata.namespace", "RFC 1123 label"},
      {"InvalidNamespaceName", R"(apiVersion: v1
kind: Namespace
metadata:
  name: Team-X #<-
)",
       "Namespace Team-X", "metadata.name", "RFC 1123"},
      {"InvalidPodName", R"(apiVersion: v1
kind: Pod
metadata:
  name: My_Pod #<-
  namespace: shop
)",
       "Pod shop/My_Pod", "metadata.name", "RFC 1123 subdomain"},
      {"MissingPolicySpec", R"(apiVersion: networking.k8s.io/v1 #<-
kind: NetworkPolicy
metadata:
  name: np
  namespace: team-x
)",
       kNp, "spec", "Required value"},
      // pods
      // Port names are unique within one container (the same name in two containers is
      // valid: see ValidPodMetadataAndContainers).
      {"DuplicatePortNameInOneContainer", R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: shop
spec:
  containers:
  - name: a
    ports:
    - name: metrics
      containerPort: 9090
  - name: b
    ports:
    - name: http
      containerPort: 80
    - name: http #<-
      containerPort: 81
)",
       "Pod shop/p", "spec.containers[1].ports[1].name", "Duplicate value: \"http\""},
      // An init container that is not a sidecar serves no port, but the API server validates
      // its ports all the same.
      {"DuplicatePortNameInInitContainer", PodP(R"(spec:
  containers:
  - name: a
  initContainers:
  - name: setup
    ports:
    - name: http
      containerPort: 80
    - name: http #<-
      containerPort: 81
)"),
       kPodP, "spec.initContainers[0].ports[1].name", "Duplicate value: \"http\""},
      {"BadPortNameInInitContainer", PodP(R"(spec:
  containers:
  - name: a
  initContainers:
  - name: setup
    ports:
    - name: HTTP #<-
      containerPort: 80
)"),
       kPodP, "spec.initContainers[0].ports[0].name", "lowercase"},
      // container names: required, DNS-1123 labels, unique across containers, init and
      // ephemeral containers
      {"ContainerNameMissing", PodP(R"(spec:
  containers:
  - name: a
  - image: busybox #<-
)"),
       kPodP, "spec.containers[1].name", "Required value"},
      {"ContainerNameEmpty", PodP(R"(spec:
  containers:
  - name: "" #<-
)"),
       kPodP, "spec.containers[0].name", "Required value"},
      {"ContainerNameNotALabel", PodP(R"(spec:
  containers:
  - name: web.server #<-
)"),
       kPodP, "spec.containers[0].name", "RFC 1123 label"},
      {"ContainerNameUppercase", PodP(R"(spec:
  containers:
  - name: Main #<-
)"),
       kPodP, "spec.containers[0].name", "RFC 1123 label"},
      {"DuplicateContainerName", PodP(R"(spec:
  containers:
  - name: app
  - name: app #<-
)"),
       kPodP, "spec.containers[1].name", "Duplicate value: \"app\""},
      {"InitContainerNamedLikeAContainer", PodP(R"(spec:
  containers:
  - name: app
  initContainers:
  - name: setup
  - name: app #<-
)"),
       kPodP, "spec.initContainers[1].name", "Duplicate value: \"app\""},
      {"EphemeralContainerNamedLikeAnInitContainer", PodP(R"(spec:
  containers:
  - name: app
  initContainers:
  - name: setup
  ephemeralContainers:
  - name: setup #<-
)"),
       kPodP, "spec.ephemeralContainers[0].name", "Duplicate value: \"setup\""},
      {"ContainerThatIsNotAMapping", PodP(R"(spec:
  containers:
  - app #<-
)"),
       kPodP, "spec.containers[0]", "must be an object"},
      {"ContainerPortZero", PodP(R"(spec:
  containers:
  - name: a
    ports:
    - containerPort: 0 #<-
)"),
       kPodP, "spec.containers[0].ports[0].containerPort", "between 1 and 65535"},
      {"ContainerPortLowercaseProtocol", PodP(R"(spec:
  containers:
  - name: a
    ports:
    - containerPort: 53
      protocol: udp #<-
)"),
       kPodP, "spec.containers[0].ports[0].protocol", "Unsupported value"},
      {"ContainerPortBadName", PodP(R"(spec:
  containers:
  - name: a
    ports:
    - containerPort: 80
      name: http--alt #<-
)"),
       kPodP, "spec.containers[0].ports[0].name", "consecutive hyphens"},
      {"BadPodIp", PodP(R"(status:
  podIP: 10.0.0.300 #<-
)"),
       kPodP, "status.podIP", "not a valid IP"},
      {"BadPodIpsEntry", PodP(R"(status:
  podIPs:
  - ip: 10.0.0.1
  - ip: fd00::zz #<-
)"),
       kPodP, "status.podIPs[1].ip", "not a valid IP"},
      {"TwoIpv4PodIps", PodP(R"(status:
  podIPs: #<-
  - ip: 10.0.0.1
  - ip: 10.0.0.2
)"),
       kPodP, "status.podIPs", "at most one IPv4 and one IPv6"},
      // nodes
      {"BadNodePodCidr", R"(apiVersion: v1
kind: Node
metadata:
  name: node-1
spec:
  podCIDR: 10.244.0.0/40 #<-
)",
       "Node node-1", "spec.podCIDR", "not a valid CIDR"},
      {"BadNodePodCidrs", R"(apiVersion: v1
kind: Node
metadata:
  name: node-1
spec:
  podCIDRs:
  - 10.244.0.0/24
  - fd00::/200 #<-
)",
       "Node node-1", "spec.podCIDRs[1]", "not a valid CIDR"},
      {"BadNodeAddress", R"(apiVersion: v1
kind: Node
metadata:
  name: node-1
status:
  addresses:
  - type: InternalIP
    address: 192.168.0 #<-
)",
       "Node node-1", "status.addresses[0].address", "not a valid IP"},
  };
}

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

class ManifestErrorTest : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ManifestErrorTest, NamesFileLineObjectAndField) {
  const ErrorCase& c = GetParam();
  const std::string file = absl::StrCat("manifests/", c.name, ".yaml");
  LoadResult r = LoadManifestTexts({{file, c.yaml}});
  ASSERT_FALSE(r.errors.empty()) << "no error for:\n" << c.yaml;
  const int line = LineOf(c.yaml, "#<-");
  ASSERT_GT(line, 0) << "test case has no #<- marker";

  const ManifestError* match = nullptr;
  for (const auto& e : r.errors) {
    if (e.field == c.field) match = &e;
  }
  ASSERT_NE(match, nullptr) << "no error on field " << c.field << "; errors:\n" << ErrorsText(r);
  EXPECT_EQ(match->file, file);
  EXPECT_EQ(match->line, line) << match->ToString();
  EXPECT_EQ(match->object, c.object);
  EXPECT_THAT(match->message, HasSubstr(c.message));
  EXPECT_EQ(match->ToString(),
            absl::StrCat(file, ":", line, ": ", c.object, ": ", c.field, ": ", match->message));
  // Every error names the file and a line; the invalid object contributes nothing.
  for (const auto& e : r.errors) {
    EXPECT_EQ(e.file, file);
    EXPECT_GT(e.line, 0) << e.ToString();
  }
  EXPECT_THAT(r.state.pods, IsEmpty());
  EXPECT_THAT(r.state.policies, IsEmpty());
  EXPECT_THAT(r.state.nodes, IsEmpty());
  EXPECT_THAT(r.state.namespaces, IsEmpty());
}

INSTANTIATE_TEST_SUITE_P(ManifestLoaderTest, ManifestErrorTest, ::testing::ValuesIn(ErrorCases()),
                         [](const ::testing::TestParamInfo<ErrorCase>& info) {
                           return info.param.name;
                         });

// ---- duplicates, file isolation, syntax errors -------------------------------------------

const char kPodA[] = R"(apiVersion: v1
kind: Pod
metadata:
  name: a
  namespace: shop
)";

TEST(ManifestLoaderTest, DuplicateNameInOneFileRejectsTheFile) {
  const std::string text = absl::StrCat(kPodA, R"(---
apiVersion: v1
kind: Pod
metadata:
  name: other
  namespace: shop
---
apiVersion: v1 #<-
kind: Pod
metadata:
  name: a
  namespace: shop
)");
  LoadResult r = Load(text, "dup.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << ErrorsText(r);
  const ManifestError& e = r.errors[0];
  EXPECT_EQ(e.file, "dup.yaml");
  EXPECT_EQ(e.line, LineOf(text, "#<-"));
  EXPECT_EQ(e.object, "Pod shop/a");
  EXPECT_EQ(e.field, "metadata.name");
  EXPECT_THAT(e.message, HasSubstr("Duplicate value"));
  EXPECT_THAT(r.state.pods, IsEmpty());
}

TEST(ManifestLoaderTest, SameNameInDifferentNamespacesOrKindsIsNotADuplicate) {
  LoadResult r = Load(absl::StrCat(kPodA, R"(---
apiVersion: v1
kind: Pod
metadata:
  name: a
  namespace: other
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: a
  namespace: shop
spec:
  podSelector: {}
)"));
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  EXPECT_EQ(r.state.pods.size(), 2u);
  EXPECT_EQ(r.state.policies.size(), 1u);
}

TEST(ManifestLoaderTest, DuplicateAcrossFilesRejectsTheSecondFile) {
  const std::string second = R"(apiVersion: v1
kind: Pod
metadata:
  name: b
  namespace: shop
---
apiVersion: v1 #<-
kind: Pod
metadata:
  name: a
  namespace: shop
)";
  LoadResult r = LoadManifestTexts({{"one.yaml", kPodA}, {"two.yaml", second}});
  EXPECT_EQ(r.files_read, 2);
  ASSERT_EQ(r.errors.size(), 1u) << ErrorsText(r);
  const ManifestError& e = r.errors[0];
  EXPECT_EQ(e.file, "two.yaml");
  EXPECT_EQ(e.line, LineOf(second, "#<-"));
  EXPECT_EQ(e.object, "Pod shop/a");
  EXPECT_EQ(e.field, "metadata.name");
  EXPECT_THAT(e.message, HasSubstr("one.yaml:1"));
  // The first file's pod stays; nothing of the second file is loaded.
  ASSERT_EQ(r.state.pods.size(), 1u);
  EXPECT_EQ(r.state.pods.at("shop/a").source.file, "one.yaml");
  EXPECT_EQ(r.state.pods.count("shop/b"), 0u);
}

TEST(ManifestLoaderTest, InvalidObjectRejectsItsWholeFileOnly) {
  const std::string bad = absl::StrCat(R"(apiVersion: v1
kind: Namespace
metadata:
  name: bad-ns
---
apiVersion: v1
kind: Pod
metadata:
  name: valid
  namespace: shop
---
)",
                                       PolicyYaml("shop", "broken", R"(
podSelector: {}
ingress:
- ports:
  - port: 0
)"));
  const std::string good = absl::StrCat(R"(apiVersion: v1
kind: Pod
metadata:
  name: other
  namespace: shop
---
)",
                                        PolicyYaml("shop", "fine", "podSelector: {}"));
  LoadResult r = LoadManifestTexts({{"a-bad.yaml", bad}, {"b-good.yaml", good}});
  ASSERT_EQ(r.errors.size(), 1u) << ErrorsText(r);
  EXPECT_EQ(r.errors[0].file, "a-bad.yaml");
  EXPECT_EQ(r.errors[0].object, "NetworkPolicy shop/broken");
  EXPECT_EQ(r.state.namespaces.count("bad-ns"), 0u);
  EXPECT_EQ(r.state.pods.count("shop/valid"), 0u);
  EXPECT_EQ(r.state.policies.count("shop/broken"), 0u);
  EXPECT_EQ(r.state.pods.count("shop/other"), 1u);
  EXPECT_EQ(r.state.policies.count("shop/fine"), 1u);
  EXPECT_EQ(r.files_read, 2);
}

// The same key twice in one mapping: kubectl's strict decoding rejects it ("key already set in
// map"), and a lenient JSON decoder keeps the last one. Taking either silently would enforce
// something the author may not mean, so it must be an error.
TEST(ManifestLoaderTest, DuplicateMappingKeyIsAnError) {
  const std::string text = Np(R"(
podSelector: {}
ingress:
- from: [{podSelector: {matchLabels: {app: a}}}]
ingress: [] #<-
)");
  LoadResult r = Load(text, "dupkey.yaml");
  ASSERT_EQ(r.errors.size(), 1u)
      << ErrorsText(r) << "\nloaded policies: " << r.state.policies.size()
      << (r.state.policies.empty()
              ? std::string()
              : absl::StrCat(", ingress rules: ", r.state.policies.begin()->second.ingress.size()));
  EXPECT_EQ(r.errors[0].file, "dupkey.yaml");
  EXPECT_EQ(r.errors[0].line, LineOf(text, "#<-"));
  EXPECT_EQ(r.errors[0].object, kNp);
  EXPECT_EQ(r.errors[0].field, "spec.ingress");
  EXPECT_THAT(r.state.policies, IsEmpty());
}

TEST(ManifestLoaderTest, EveryErrorOfAFileIsReported) {
  LoadResult r = Load(Np(R"(
podSelector: {}
ingress:
- ports:
  - port: 0
  - protocol: tcp
)"));
  ASSERT_EQ(r.errors.size(), 2u) << ErrorsText(r);
  EXPECT_EQ(r.errors[0].field, "spec.ingress[0].ports[0].port");
  EXPECT_EQ(r.errors[1].field, "spec.ingress[0].ports[1].protocol");
}

TEST(ManifestLoaderTest, YamlSyntaxErrorNamesFileAndLine) {
  const std::string broken = R"(apiVersion: v1
kind: Pod
metadata:
  name: p
  labels: {app: web
spec: {}
)";
  LoadResult r = LoadManifestTexts({{"broken.yaml", broken}, {"ok.yaml", kPodA}});
  ASSERT_EQ(r.errors.size(), 1u) << ErrorsText(r);
  const ManifestError& e = r.errors[0];
  EXPECT_EQ(e.file, "broken.yaml");
  EXPECT_GE(e.line, 5);
  EXPECT_LE(e.line, 7);
  EXPECT_EQ(e.object, "");
  EXPECT_THAT(e.message, HasSubstr("cannot parse"));
  EXPECT_THAT(e.ToString(), ::testing::StartsWith(absl::StrCat("broken.yaml:", e.line, ": ")));
  EXPECT_EQ(r.state.pods.count("default/p"), 0u);
  EXPECT_EQ(r.state.pods.count("shop/a"), 1u);
}

TEST(ManifestLoaderTest, YamlSyntaxErrorOnAKnownLine) {
  const std::string broken = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n   bad: indent\n";
  LoadResult r = Load(broken, "indent.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << ErrorsText(r);
  EXPECT_EQ(r.errors[0].file, "indent.yaml");
  EXPECT_EQ(r.errors[0].line, 5) << r.errors[0].ToString();
}

TEST(ManifestLoaderTest, DocumentThatIsNotAMapping) {
  LoadResult r = Load("- just\n- a list\n", "list.yaml");
  ASSERT_EQ(r.errors.size(), 1u) << ErrorsText(r);
  EXPECT_EQ(r.errors[0].file, "list.yaml");
  EXPECT_EQ(r.errors[0].line, 1);
  EXPECT_THAT(r.errors[0].message, HasSubstr("mapping"));
}

TEST(ManifestErrorToStringTest, Format) {
  EXPECT_EQ((ManifestError{"f.yaml", 3, "Pod a/b", "spec.x", "bad"}).ToString(),
            "f.yaml:3: Pod a/b: spec.x: bad");
  EXPECT_EQ((ManifestError{"f.yaml", 0, "", "", "bad"}).ToString(), "f.yaml: bad");
}

}  // namespace
}  // namespace warden::policy

namespace warden::policy {
namespace {

// Megabytes of manifests decode on several threads: every file's objects land as its own, and
// an invalid file is reported by its name and line and contributes nothing, as one by one.
TEST(ManifestLoaderTest, ManyFilesDecodeInParallelAsOneByOne) {
  std::vector<std::pair<std::string, std::string>> files;
  constexpr int kFiles = 24, kPods = 150;  // about 3 MB
  for (int f = 0; f < kFiles; ++f) {
    std::string text;
    for (int p = 0; p < kPods; ++p) {
      absl::StrAppend(&text, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p", p,
                      "\n  namespace: ns", f, "\n  labels: {file: \"", f, "\", pod: \"", p,
                      "\", filler: \"", std::string(40, 'x'), "\"}\nspec:\n  nodeName: n", f,
                      "\n  containers:\n  - name: c\n    image: registry.example/", f, "-", p,
                      ":1.0\n    ports: [{name: http, containerPort: ", 8000 + p, "}]\n",
                      "status:\n  podIP: 10.", f, ".", p / 250, ".", p % 250 + 1, "\n",
                      std::string(600, '#'), "\n");
    }
    // File 7 has an invalid pod in the middle.
    if (f == 7)
      absl::StrAppend(&text, "---\napiVersion: v1\nkind: Pod\nmetadata: {name: \"Bad_Name\"}\n");
    files.emplace_back(absl::StrCat("dir/f", f < 10 ? "0" : "", f, ".yaml"), std::move(text));
  }
  LoadResult r = LoadManifestTexts(files);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].file, "dir/f07.yaml");
  EXPECT_EQ(r.state.pods.size(), static_cast<size_t>((kFiles - 1) * kPods));
  for (int f = 0; f < kFiles; ++f) {
    const Pod* pod = r.state.FindPod(absl::StrCat("ns", f, "/p", kPods - 1));
    if (f == 7) {
      EXPECT_EQ(pod, nullptr) << "a file with an error contributes nothing";
      continue;
    }
    ASSERT_NE(pod, nullptr) << f;
    EXPECT_EQ(pod->labels.at("file"), absl::StrCat(f));
    EXPECT_EQ(pod->node_name, absl::StrCat("n", f));
    EXPECT_EQ(pod->ports.at(0).port, 8000 + kPods - 1);
  }
}

}  // namespace
}  // namespace warden::policy

namespace warden::policy {
namespace {

// Streams yaml-cpp 0.7 would never finish reading (a fuzzer found the first: it loops,
// allocating) or would recurse through without bound: refused by the syntax check, naming the
// file and line, at once.
TEST(ManifestSyntaxTest, MalformedStreamsAreRefusedBeforeYamlCppReadsThem) {
  std::string looped;
  {
    std::ifstream in(std::string(WARDEN_SOURCE_DIR) +
                     "/tests/fuzz/corpus/fuzz_manifest/yaml-cpp-loop-1");
    looped.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(looped.size(), 400u);
  // The same stream with its control bytes made spaces still loops yaml-cpp: the check is about
  // structure, not only bytes.
  std::string printable = looped;
  for (char& c : printable) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\n' && u != '\t') || u >= 0x7f) c = ' ';
  }
  for (const std::string& text : {looped, printable}) {
    LoadResult r = LoadManifestTexts({{"bad.yaml", text}});
    ASSERT_EQ(r.errors.size(), 1u);
    EXPECT_THAT(r.errors[0].ToString(), testing::HasSubstr("bad.yaml:1: cannot parse"));
  }
  // A tag of its own on a scalar: yaml-cpp loops on this one too (45 bytes, fuzz_manifest).
  {
    std::ifstream in(std::string(WARDEN_SOURCE_DIR) +
                     "/tests/fuzz/corpus/fuzz_manifest/yaml-cpp-loop-2-tag");
    std::string tagged((std::istreambuf_iterator<char>(in)), {});
    LoadResult t = LoadManifestTexts({{"tag.yaml", tagged}});
    ASSERT_EQ(t.errors.size(), 1u);
    EXPECT_THAT(t.errors[0].ToString(), testing::HasSubstr("tags are not supported"));
  }
  LoadResult anchored = LoadManifestTexts({{"anchor.yaml", "&s podSelec\n? TT"}});
  ASSERT_EQ(anchored.errors.size(), 1u);
  EXPECT_THAT(anchored.errors[0].ToString(), testing::HasSubstr("anchors and aliases"));
  {
    std::ifstream in(std::string(WARDEN_SOURCE_DIR) +
                     "/tests/fuzz/corpus/fuzz_manifest/yaml-cpp-loop-5-anchor");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    LoadResult t = LoadManifestTexts({{"anchor2.yaml", text}});
    ASSERT_EQ(t.errors.size(), 1u);
    EXPECT_THAT(t.errors[0].ToString(), testing::HasSubstr("anchors and aliases"));
  }
  EXPECT_EQ(LoadManifestTexts({{"alias.yaml", "a: &x 1\nb: *x\n"}}).errors.size(), 1u);
  LoadResult key = LoadManifestTexts({{"key.yaml", "? [a, b]\n: c\n"}});
  ASSERT_EQ(key.errors.size(), 1u);
  EXPECT_THAT(key.errors[0].ToString(), testing::HasSubstr("a mapping key that is not a scalar"));
  // Even a standard tag: yaml-cpp loops on `!!str` before some scalars (fuzz_manifest again).
  {
    std::ifstream in(std::string(WARDEN_SOURCE_DIR) +
                     "/tests/fuzz/corpus/fuzz_manifest/yaml-cpp-loop-3-str");
    std::string tagged((std::istreambuf_iterator<char>(in)), {});
    LoadResult t = LoadManifestTexts({{"str.yaml", tagged}});
    ASSERT_EQ(t.errors.size(), 1u);
    EXPECT_THAT(t.errors[0].ToString(), testing::HasSubstr("tags are not supported"));
  }
  std::string deep = "a: " + std::string(200, '[') + std::string(200, ']') + "\n";
  LoadResult r = LoadManifestTexts({{"deep.yaml", deep}});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_THAT(r.errors[0].ToString(), testing::HasSubstr("nested deeper than 64 levels"));
}

}  // namespace
}  // namespace warden::policy
