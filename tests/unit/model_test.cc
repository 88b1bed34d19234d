// Table-driven NetworkPolicy semantics. Every flow is checked twice: through the model
// (Model::Evaluate, egress at the source and ingress at the destination) and through the compiled
// tables (Compile + Explainer, which reads them with the datapath twin and must agree with the
// model: `consistent`). Pod-to-pod flows are also checked through Explainer::ExplainPods.
#include "agent/policy/model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/policy/compiler.h"
#include "agent/policy/explain.h"
#include "agent/policy/ip.h"
#include "agent/policy/lookup.h"
#include "agent/policy/manifest_loader.h"
#include "tests/lib/yaml_text.h"

namespace warden::policy {
namespace {

using ::testing::IsEmpty;
using ::warden::testlib::PolicyYaml;

constexpr Protocol TCP = Protocol::kTCP;
constexpr Protocol UDP = Protocol::kUDP;
constexpr Protocol SCTP = Protocol::kSCTP;

// Namespaces prod (team=a) and dev (team=b) are declared; "other" exists only because pods name it.
// prod/web and prod/web2 share labels but declare the named port "http" on different numbers.
const char kCluster[] = R"(apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels: {team: a, env: prod}
---
apiVersion: v1
kind: Namespace
metadata:
  name: dev
  labels: {team: b, env: dev}
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
spec:
  podCIDRs: [10.244.1.0/24, "fd00:1::/64"]
status:
  addresses: [{type: InternalIP, address: 192.168.0.1}]
---
apiVersion: v1
kind: Node
metadata: {name: node-2}
spec:
  podCIDRs: [10.244.2.0/24, "fd00:2::/64"]
status:
  addresses: [{type: InternalIP, address: 192.168.0.2}]
---
apiVersion: v1
kind: Node
metadata: {name: node-3}
spec:
  podCIDR: 10.244.3.0/24
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: prod
  labels: {app: web, tier: front}
spec:
  nodeName: node-1
  containers:
  - name: main
    ports:
    - {name: http, containerPort: 8080}
    - {name: dns, containerPort: 53, protocol: UDP}
    - {name: sig, containerPort: 9000, protocol: SCTP}
status:
  podIPs: [{ip: 10.244.1.10}, {ip: "fd00:1::10"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web2
  namespace: prod
  labels: {app: web, tier: front}
spec:
  nodeName: node-1
  containers:
  - name: main
    ports:
    - {name: http, containerPort: 9090}
status:
  podIPs: [{ip: 10.244.1.11}, {ip: "fd00:1::11"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: db
  namespace: prod
  labels: {app: db, tier: back}
spec:
  containers:
  - name: main
    ports:
    - {name: pg, containerPort: 5432}
status:
  podIP: 10.244.1.20
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: prod
  labels: {app: client}
status:
  podIPs: [{ip: 10.244.1.30}, {ip: "fd00:1::30"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: pending
  namespace: prod
  labels: {app: client}
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: dev
  labels: {app: client}
status:
  podIPs: [{ip: 10.244.2.30}, {ip: "fd00:2::30"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: tool
  namespace: dev
  labels: {app: tool}
status:
  podIP: 10.244.2.40
---
apiVersion: v1
kind: Pod
metadata:
  name: client
  namespace: other
  labels: {app: client}
status:
  podIP: 10.244.3.30
)";

// What one side of a flow should be.
enum class Side {
  kNA,     // that end is not a pod: the side does not apply
  kOpen,   // a pod not isolated in this direction: allowed
  kAllow,  // isolated, and a rule allows it
  kDeny,   // isolated, and no rule allows it
};

const char* SideName(Side s) {
  switch (s) {
    case Side::kNA:
      return "n/a";
    case Side::kOpen:
      return "open";
    case Side::kAllow:
      return "allow";
    case Side::kDeny:
      return "deny";
  }
  return "?";
}

bool SideAllows(Side s) { return s != Side::kDeny; }

struct Flow {
  std::string from, to;  // "ns/pod" or an address
  std::string port;      // a number or a port name (resolved on the destination)
  Protocol proto = TCP;
  Side egress = Side::kOpen;
  Side ingress = Side::kOpen;
  std::string egress_policy = "";  // expected allowing policy when not empty
  std::string ingress_policy = "";
};

std::string FlowText(const Flow& f) {
  return absl::StrCat(f.from, " -> ", f.to, " ", ProtocolName(f.proto), "/", f.port,
                      " (expect egress ", SideName(f.egress), ", ingress ", SideName(f.ingress),
                      ")");
}

struct Case {
  std::string name;
  std::string policies;  // YAML documents, appended to kCluster
  std::vector<Flow> flows;
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::string P(const std::string& ns, const std::string& name, const std::string& spec) {
  return absl::StrCat("---\n", PolicyYaml(ns, name, spec));
}

// Web pods isolated for ingress with no rule.
const std::string kDenyWeb = P("prod", "deny-web", "podSelector: {matchLabels: {app: web}}");

std::vector<Case> Cases() {
  return {
      {"NoPolicyAllowsEverything",
       "",
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kOpen},
           {"dev/tool", "prod/db", "5432", TCP, Side::kOpen, Side::kOpen},
           {"prod/client", "8.8.8.8", "53", UDP, Side::kOpen, Side::kNA},
           {"8.8.8.8", "prod/web", "8080", TCP, Side::kNA, Side::kOpen},
           {"prod/pending", "prod/web", "8080", TCP, Side::kOpen, Side::kOpen},
       }},
      {"IsolationOnlyBySelectingPolicyOfThatType",
       P("prod", "db-deny", "podSelector: {matchLabels: {app: db}}") +
           P("dev", "all-deny", "podSelector: {}\npolicyTypes: [Ingress, Egress]") +
           P("prod", "web-egress", "podSelector: {matchLabels: {app: web}}\npolicyTypes: [Egress]"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kOpen},
           {"prod/client", "prod/db", "5432", TCP, Side::kOpen, Side::kDeny},
           {"prod/web", "prod/client", "80", TCP, Side::kDeny, Side::kOpen},
           {"prod/web", "8.8.8.8", "53", UDP, Side::kDeny, Side::kNA},
           {"prod/client", "dev/client", "80", TCP, Side::kOpen, Side::kDeny},
           {"dev/client", "prod/client", "80", TCP, Side::kDeny, Side::kOpen},
           {"other/client", "prod/client", "80", TCP, Side::kOpen, Side::kOpen},
       }},
      {"PolicyTypesIngressIgnoresEgressRules",
       P("prod", "np", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Ingress]
ingress:
- {}
egress:
- to:
  - podSelector: {matchLabels: {app: nothing}}
)"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kOpen},
           {"prod/web", "prod/client", "80", TCP, Side::kOpen, Side::kAllow, "", "prod/np"},
       }},
      {"DenyAllIngress",
       P("prod", "deny", "podSelector: {}"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"prod/web", "prod/client", "80", TCP, Side::kOpen, Side::kDeny},
           {"dev/client", "prod/db", "5432", TCP, Side::kOpen, Side::kDeny},
           {"prod/web", "dev/client", "80", TCP, Side::kOpen, Side::kOpen},
           {"8.8.8.8", "prod/web", "8080", TCP, Side::kNA, Side::kDeny},
           {"prod/web", "8.8.8.8", "443", TCP, Side::kOpen, Side::kNA},
       }},
      {"AllowAllIngress",
       P("prod", "deny", "podSelector: {}") +
           P("prod", "allow-all", "podSelector: {}\ningress: [{}]"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow, "",
            "prod/allow-all"},
           {"other/client", "prod/db", "5432", TCP, Side::kOpen, Side::kAllow},
           {"203.0.113.9", "prod/web", "8080", TCP, Side::kNA, Side::kAllow},
           {"prod/client", "prod/web", "53", UDP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "9000", SCTP, Side::kOpen, Side::kAllow},
           {"prod/pending", "prod/web", "1", TCP, Side::kOpen, Side::kAllow},
       }},
      {"PoliciesAreAdditive",
       kDenyWeb + P("prod", "web-8080", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{podSelector: {matchLabels: {app: client}}}]
  ports: [{port: 8080}]
)") + P("prod", "web-dns", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{namespaceSelector: {matchLabels: {team: b}}}]
  ports: [{port: 53, protocol: UDP}]
)"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow, "", "prod/web-8080"},
           {"prod/client", "prod/web", "53", UDP, Side::kOpen, Side::kDeny},
           {"dev/tool", "prod/web", "53", UDP, Side::kOpen, Side::kAllow, "", "prod/web-dns"},
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/db", "5432", TCP, Side::kOpen, Side::kOpen},
       }},
      {"EgressIsolation",
       P("prod", "client-egress", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to: [{podSelector: {matchLabels: {app: db}}}]
  ports: [{port: 5432}]
)"),
       {
           {"prod/client", "prod/db", "5432", TCP, Side::kAllow, Side::kOpen, "prod/client-egress",
            ""},
           {"prod/client", "prod/db", "5433", TCP, Side::kDeny, Side::kOpen},
           {"prod/client", "prod/web", "8080", TCP, Side::kDeny, Side::kOpen},
           {"prod/client", "8.8.8.8", "53", UDP, Side::kDeny, Side::kNA},
           {"prod/web", "prod/client", "80", TCP, Side::kOpen, Side::kOpen},
           {"dev/client", "prod/db", "5432", TCP, Side::kOpen, Side::kOpen},
       }},
      {"EgressDenyAllWithEmptyList",
       P("prod", "no-egress", "podSelector: {}\npolicyTypes: [Egress]\negress: []"),
       {
           {"prod/client", "prod/db", "5432", TCP, Side::kDeny, Side::kOpen},
           {"prod/client", "8.8.8.8", "443", TCP, Side::kDeny, Side::kNA},
           {"dev/client", "prod/db", "5432", TCP, Side::kOpen, Side::kOpen},
       }},
      {"BothSidesMustAllow",
       P("prod", "client-egress", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to: [{podSelector: {matchLabels: {app: web}}}]
- to: [{podSelector: {matchLabels: {app: db}}}]
  ports: [{port: 5432}]
)") + P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{podSelector: {matchLabels: {app: client}}}]
  ports: [{port: 9090}]
)") + P("prod", "db-in", R"(
podSelector: {matchLabels: {app: db}}
ingress:
- from: [{podSelector: {matchLabels: {app: client}}}]
)"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kAllow, Side::kDeny},
           {"prod/client", "prod/web2", "9090", TCP, Side::kAllow, Side::kAllow,
            "prod/client-egress", "prod/web-in"},
           {"prod/client", "prod/db", "5432", TCP, Side::kAllow, Side::kAllow},
           {"prod/client", "prod/db", "6000", TCP, Side::kDeny, Side::kAllow},
       }},
      {"PodSelectorPeerIsLimitedToPolicyNamespace",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{podSelector: {matchLabels: {app: client}}}]
)") + P("dev", "tool-out", R"(
podSelector: {matchLabels: {app: tool}}
policyTypes: [Egress]
egress:
- to: [{podSelector: {matchLabels: {app: client}}}]
)"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"prod/db", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"prod/pending", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/tool", "dev/client", "80", TCP, Side::kAllow, Side::kOpen},
           {"dev/tool", "prod/client", "80", TCP, Side::kDeny, Side::kOpen},
       }},
      {"NamespaceSelectorAloneSelectsAllPodsOfMatchingNamespaces",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{namespaceSelector: {matchLabels: {team: b}}}]
)"),
       {
           {"dev/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"192.168.0.2", "prod/web", "8080", TCP, Side::kNA, Side::kDeny},
       }},
      {"BothSelectorsInOnePeerAreAnd",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {team: b}}
    podSelector: {matchLabels: {app: client}}
)"),
       {
           {"dev/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"TwoPeersAreOr",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from:
  - namespaceSelector: {matchLabels: {team: b}}
  - podSelector: {matchLabels: {app: client}}
)"),
       {
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"prod/db", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"EmptyNamespaceSelectorIsEveryNamespace",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{namespaceSelector: {}}]
)"),
       {
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/db", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           // Selectors select pods only, never outside addresses or nodes.
           {"8.8.8.8", "prod/web", "8080", TCP, Side::kNA, Side::kDeny},
           {"192.168.0.2", "prod/web", "8080", TCP, Side::kNA, Side::kDeny},
           {"10.244.3.99", "prod/web", "8080", TCP, Side::kNA, Side::kDeny},
       }},
      {"EmptyNamespaceSelectorWithPodSelector",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from:
  - namespaceSelector: {}
    podSelector: {matchLabels: {app: client}}
)"),
       {
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"NamespaceNameLabelOfImplicitNamespace",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: other}}}]
)"),
       {
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"MatchExpressionIn",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{namespaceSelector: {matchExpressions: [{key: team, operator: In, values: [b, c]}]}}]
)"),
       {
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"MatchExpressionNotInMatchesMissingKey",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: [a]}]}}]
)"),
       {
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"MatchExpressionExists",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{namespaceSelector: {matchExpressions: [{key: team, operator: Exists}]}}]
)"),
       {
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"MatchExpressionDoesNotExist",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{namespaceSelector: {matchExpressions: [{key: team, operator: DoesNotExist}]}}]
)"),
       {
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"MatchExpressionsInPolicyPodSelector",
       // tier NotIn [front] selects db (tier=back) and the client pods (no tier key), not web.
       P("prod", "not-front", R"(
podSelector:
  matchExpressions:
  - {key: tier, operator: NotIn, values: [front]}
)") + P("prod", "db-from-tierless", R"(
podSelector:
  matchExpressions:
  - {key: app, operator: In, values: [db]}
ingress:
- from:
  - podSelector:
      matchExpressions:
      - {key: tier, operator: DoesNotExist}
      - {key: app, operator: Exists}
)"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kOpen},
           {"prod/client", "prod/web2", "9090", TCP, Side::kOpen, Side::kOpen},
           {"prod/db", "prod/client", "80", TCP, Side::kOpen, Side::kDeny},
           {"prod/web", "prod/db", "5432", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/db", "5432", TCP, Side::kOpen, Side::kAllow, "",
            "prod/db-from-tierless"},
           {"prod/pending", "prod/db", "5432", TCP, Side::kOpen, Side::kAllow},
           {"dev/client", "prod/db", "5432", TCP, Side::kOpen, Side::kDeny},
       }},
      {"IpBlockWithExcept",
       P("prod", "client-out", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to:
  - ipBlock:
      cidr: 203.0.113.0/24
      except: [203.0.113.128/25]
)"),
       {
           {"prod/client", "203.0.113.5", "443", TCP, Side::kAllow, Side::kNA},
           {"prod/client", "203.0.113.0", "443", TCP, Side::kAllow, Side::kNA},
           {"prod/client", "203.0.113.127", "443", TCP, Side::kAllow, Side::kNA},
           {"prod/client", "203.0.113.128", "443", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "203.0.113.255", "443", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "203.0.114.1", "443", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "prod/web", "8080", TCP, Side::kDeny, Side::kOpen},
       }},
      {"IpBlockMatchesPodAddressesOnEgress",
       P("dev", "client-out", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to: [{ipBlock: {cidr: 10.244.1.0/24}}]
)"),
       {
           {"dev/client", "prod/web", "8080", TCP, Side::kAllow, Side::kOpen},
           {"dev/client", "10.244.1.20", "5432", TCP, Side::kAllow, Side::kOpen},
           {"dev/client", "10.244.1.99", "80", TCP, Side::kAllow, Side::kNA},
           {"dev/client", "dev/tool", "80", TCP, Side::kDeny, Side::kOpen},
           {"dev/client", "10.244.2.40", "80", TCP, Side::kDeny, Side::kOpen},
           {"dev/client", "8.8.8.8", "53", UDP, Side::kDeny, Side::kNA},
       }},
      {"IpBlockMatchesPodAddressesOnIngress",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{ipBlock: {cidr: 10.244.2.0/24}}]
)"),
       {
           {"dev/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"10.244.2.99", "prod/web", "8080", TCP, Side::kNA, Side::kAllow},
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           // A pod without an address is in no ipBlock.
           {"prod/pending", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"ExceptExcludesAPodAddress",
       P("dev", "client-out", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to:
  - ipBlock: {cidr: 10.244.1.0/24, except: [10.244.1.10/32]}
)") + P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from:
  - ipBlock: {cidr: 10.244.0.0/16, except: [10.244.2.30/32]}
)"),
       {
           {"dev/client", "prod/web", "8080", TCP, Side::kDeny, Side::kDeny},
           {"dev/client", "10.244.1.10", "8080", TCP, Side::kDeny, Side::kDeny},
           {"dev/client", "prod/web2", "9090", TCP, Side::kAllow, Side::kDeny},
           {"dev/client", "prod/db", "5432", TCP, Side::kAllow, Side::kOpen},
           {"dev/tool", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web2", "9090", TCP, Side::kOpen, Side::kAllow},
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
       }},
      {"Ipv6IpBlock",
       P("prod", "client-out", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to:
  - ipBlock: {cidr: "2001:db8::/32", except: ["2001:db8:ffff::/48"]}
  - ipBlock: {cidr: "fd00:1::/64", except: ["fd00:1::10/128"]}
)") + P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{ipBlock: {cidr: "fd00:2::/64"}}]
)"),
       {
           {"prod/client", "2001:db8::1", "443", TCP, Side::kAllow, Side::kNA},
           {"prod/client", "2001:db8:ffff::1", "443", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "2001:db9::1", "443", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "203.0.113.5", "443", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "fd00:1::11", "9090", TCP, Side::kAllow, Side::kDeny},
           {"prod/client", "fd00:1::10", "8080", TCP, Side::kDeny, Side::kDeny},
           // The same pods over IPv4: the IPv6 blocks do not apply.
           {"prod/client", "prod/web2", "9090", TCP, Side::kDeny, Side::kDeny},
           {"dev/client", "fd00:1::10", "8080", TCP, Side::kOpen, Side::kAllow},
           {"dev/client", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
           {"fd00:2::99", "fd00:1::10", "8080", TCP, Side::kNA, Side::kAllow},
           {"fd00:1::99", "fd00:1::10", "8080", TCP, Side::kNA, Side::kDeny},
       }},
      {"Ipv4CatchAllDoesNotMatchIpv6",
       P("prod", "client-out", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to: [{ipBlock: {cidr: 0.0.0.0/0}}]
)"),
       {
           {"prod/client", "8.8.8.8", "53", UDP, Side::kAllow, Side::kNA},
           {"prod/client", "prod/web", "8080", TCP, Side::kAllow, Side::kOpen},
           {"prod/client", "2001:db8::1", "443", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "fd00:1::10", "8080", TCP, Side::kDeny, Side::kOpen},
       }},
      {"IpBlockMatchesNodeAndClusterAddresses",
       P("prod", "client-out", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to: [{ipBlock: {cidr: 192.168.0.0/31}}]
  ports: [{port: 10250}]
- to: [{ipBlock: {cidr: 10.244.3.0/25}}]
  ports: [{port: 80}]
)"),
       {
           {"prod/client", "192.168.0.1", "10250", TCP, Side::kAllow, Side::kNA},
           {"prod/client", "192.168.0.2", "10250", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "192.168.0.1", "22", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "10.244.3.99", "80", TCP, Side::kAllow, Side::kNA},
           {"prod/client", "10.244.3.200", "80", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "other/client", "80", TCP, Side::kAllow, Side::kOpen},
       }},
      {"IpBlocksOfDifferentPoliciesNest",
       // One policy's except is wider than another policy's cidr: each block keeps its meaning.
       P("prod", "wide", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.244.0.0/16]}}]
  ports: [{port: 80}]
)") + P("prod", "narrow", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to: [{ipBlock: {cidr: 10.244.1.0/24}}]
  ports: [{port: 443}]
)"),
       {
           {"prod/client", "prod/web", "80", TCP, Side::kDeny, Side::kOpen},
           {"prod/client", "prod/web", "443", TCP, Side::kAllow, Side::kOpen, "prod/narrow", ""},
           {"prod/client", "10.1.1.1", "80", TCP, Side::kAllow, Side::kNA, "prod/wide", ""},
           {"prod/client", "10.1.1.1", "443", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "dev/tool", "80", TCP, Side::kDeny, Side::kOpen},
           {"prod/client", "dev/tool", "443", TCP, Side::kDeny, Side::kOpen},
           {"prod/client", "10.245.0.1", "80", TCP, Side::kAllow, Side::kNA},
       }},
      {"EmptyFromListIsEveryPeer",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: []
  ports: [{port: 8080}]
)"),
       {
           {"8.8.8.8", "prod/web", "8080", TCP, Side::kNA, Side::kAllow},
           {"other/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/pending", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"192.168.0.2", "prod/web", "8080", TCP, Side::kNA, Side::kAllow},
           {"192.168.0.2", "prod/web", "8081", TCP, Side::kNA, Side::kDeny},
           {"other/client", "prod/web", "8081", TCP, Side::kOpen, Side::kDeny},
       }},
      {"NumericPort",
       P("prod", "web-in",
         "podSelector: {matchLabels: {app: web}}\ningress:\n- ports: [{port: 8080}]"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "8081", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "8079", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "8080", UDP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "8080", SCTP, Side::kOpen, Side::kDeny},
           {"8.8.8.8", "prod/web", "8080", TCP, Side::kNA, Side::kAllow},
       }},
      {"NamedPortResolvesPerDestinationPodOnIngress",
       P("prod", "web-in",
         "podSelector: {matchLabels: {app: web}}\ningress:\n- ports: [{port: http}]"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "9090", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web2", "9090", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web2", "8080", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "http", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web2", "http", TCP, Side::kOpen, Side::kAllow},
           {"8.8.8.8", "prod/web2", "9090", TCP, Side::kNA, Side::kAllow},
       }},
      {"NamedPortResolvesPerDestinationPodOnEgress",
       P("prod", "client-out", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to: [{podSelector: {matchLabels: {app: web}}}]
  ports: [{port: http}]
)"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kAllow, Side::kOpen},
           {"prod/client", "prod/web2", "9090", TCP, Side::kAllow, Side::kOpen},
           {"prod/client", "prod/web2", "8080", TCP, Side::kDeny, Side::kOpen},
           {"prod/client", "prod/web", "9090", TCP, Side::kDeny, Side::kOpen},
           {"prod/client", "10.244.1.11", "9090", TCP, Side::kAllow, Side::kOpen},
           {"prod/client", "prod/db", "5432", TCP, Side::kDeny, Side::kOpen},
       }},
      {"NamedPortWithIpBlockPeer",
       P("prod", "client-out", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to: [{ipBlock: {cidr: 10.244.1.0/24}}]
  ports: [{port: http}]
)"),
       {
           {"prod/client", "prod/web", "8080", TCP, Side::kAllow, Side::kOpen},
           {"prod/client", "prod/web2", "9090", TCP, Side::kAllow, Side::kOpen},
           {"prod/client", "prod/web2", "8080", TCP, Side::kDeny, Side::kOpen},
           // Not a pod: a named port resolves on nothing.
           {"prod/client", "10.244.1.99", "8080", TCP, Side::kDeny, Side::kNA},
       }},
      {"NamedPortWithoutPeers",
       P("prod", "client-out", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- ports: [{port: http}]
)"),
       {
           {"prod/client", "prod/web2", "9090", TCP, Side::kAllow, Side::kOpen},
           {"prod/client", "prod/web", "8080", TCP, Side::kAllow, Side::kOpen},
           {"prod/client", "prod/web", "9090", TCP, Side::kDeny, Side::kOpen},
           {"prod/client", "8.8.8.8", "8080", TCP, Side::kDeny, Side::kNA},
           {"prod/client", "prod/db", "5432", TCP, Side::kDeny, Side::kOpen},
           {"prod/pending", "prod/web2", "9090", TCP, Side::kAllow, Side::kOpen},
       }},
      {"NamedPortWithWrongProtocolDoesNotMatch",
       // "dns" is declared as UDP 53 on prod/web.
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- ports: [{port: dns, protocol: TCP}]
)"),
       {
           {"prod/client", "prod/web", "53", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "53", UDP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "dns", UDP, Side::kOpen, Side::kDeny},
       }},
      {"NamedPortWithRightProtocol",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- ports: [{port: dns, protocol: UDP}, {port: sig, protocol: SCTP}]
)"),
       {
           {"prod/client", "prod/web", "53", UDP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "dns", UDP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "53", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "9000", SCTP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "9000", TCP, Side::kOpen, Side::kDeny},
           // web2 declares neither name.
           {"prod/client", "prod/web2", "53", UDP, Side::kOpen, Side::kDeny},
       }},
      {"EndPortRangeIsInclusive",
       P("prod", "db-in", R"(
podSelector: {matchLabels: {app: db}}
ingress:
- ports:
  - {port: 5000, endPort: 5432}
  - {port: 65000, endPort: 65535, protocol: UDP}
)"),
       {
           {"prod/client", "prod/db", "4999", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/db", "5000", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/db", "5200", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/db", "5432", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/db", "5433", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/db", "5000", UDP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/db", "64999", UDP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/db", "65000", UDP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/db", "65535", UDP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/db", "65535", TCP, Side::kOpen, Side::kDeny},
       }},
      {"EndPortOnEgressToWorld",
       P("prod", "client-out", R"(
podSelector: {matchLabels: {app: client}}
policyTypes: [Egress]
egress:
- to: [{ipBlock: {cidr: 0.0.0.0/0}}]
  ports: [{port: 1, endPort: 1023}]
)"),
       {
           {"prod/client", "8.8.8.8", "1", TCP, Side::kAllow, Side::kNA},
           {"prod/client", "8.8.8.8", "1023", TCP, Side::kAllow, Side::kNA},
           {"prod/client", "8.8.8.8", "1024", TCP, Side::kDeny, Side::kNA},
       }},
      {"PortEntryWithOnlyAProtocol",
       P("prod", "web-in",
         "podSelector: {matchLabels: {app: web}}\ningress:\n- ports: [{protocol: UDP}]"),
       {
           {"prod/client", "prod/web", "1", UDP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "53", UDP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "65535", UDP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "53", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "9000", SCTP, Side::kOpen, Side::kDeny},
       }},
      {"EmptyPortEntryIsAllTcp",
       P("prod", "web-in", "podSelector: {matchLabels: {app: web}}\ningress:\n- ports: [{}]"),
       {
           {"prod/client", "prod/web", "1", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "65535", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "53", UDP, Side::kOpen, Side::kDeny},
       }},
      {"UdpTcpSctpAreDistinct",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- ports: [{protocol: SCTP, port: 9000}, {protocol: UDP, port: 53}, {protocol: TCP, port: 80}]
)"),
       {
           {"prod/client", "prod/web", "9000", SCTP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "9000", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "9000", UDP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "53", UDP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "53", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "53", SCTP, Side::kOpen, Side::kDeny},
           {"prod/client", "prod/web", "80", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "80", UDP, Side::kOpen, Side::kDeny},
       }},
      {"RuleWithoutPortsAllowsEveryProtocol",
       P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{podSelector: {matchLabels: {app: client}}}]
)"),
       {
           {"prod/client", "prod/web", "1", TCP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "65535", UDP, Side::kOpen, Side::kAllow},
           {"prod/client", "prod/web", "9000", SCTP, Side::kOpen, Side::kAllow},
           {"prod/db", "prod/web", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"ToAnAddressOfAPodIsThatPod",
       kDenyWeb,
       {
           {"prod/client", "10.244.1.10", "8080", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "fd00:1::11", "9090", TCP, Side::kOpen, Side::kDeny},
           {"prod/client", "10.244.1.20", "5432", TCP, Side::kOpen, Side::kOpen},
           {"10.244.1.30", "10.244.1.10", "8080", TCP, Side::kOpen, Side::kDeny},
       }},
      {"ToAWorldAddressOnlyEgressApplies",
       kDenyWeb + P("prod", "web-out", R"(
podSelector: {matchLabels: {app: web}}
policyTypes: [Egress]
egress:
- to: [{ipBlock: {cidr: 0.0.0.0/0, except: [10.0.0.0/8]}}]
  ports: [{port: 443}]
)"),
       {
           {"prod/web", "8.8.8.8", "443", TCP, Side::kAllow, Side::kNA},
           {"prod/web", "8.8.8.8", "80", TCP, Side::kDeny, Side::kNA},
           {"prod/web", "10.1.2.3", "443", TCP, Side::kDeny, Side::kNA},
           {"prod/web", "prod/db", "443", TCP, Side::kDeny, Side::kOpen},
           {"prod/client", "8.8.8.8", "443", TCP, Side::kOpen, Side::kNA},
           {"8.8.8.8", "prod/web", "443", TCP, Side::kNA, Side::kDeny},
       }},
  };
}

// ---- the checks ---------------------------------------------------------------------------

struct Cluster {
  LoadResult loaded;
  Snapshot snap;
};

std::unique_ptr<Cluster> Build(const std::string& policies) {
  auto c = std::make_unique<Cluster>();
  c->loaded = LoadManifestTexts({{"cluster.yaml", kCluster}, {"policies.yaml", policies}});
  c->snap = Compile(c->loaded.state).value();
  return c;
}

std::string ErrorsText(const LoadResult& r) {
  std::vector<std::string> lines;
  for (const auto& e : r.errors) lines.push_back(e.ToString());
  return absl::StrJoin(lines, "\n");
}

void ExpectSide(const char* what, const SideReport& got, Side want) {
  SCOPED_TRACE(what);
  EXPECT_EQ(got.applies, want != Side::kNA) << got.reason;
  EXPECT_EQ(got.isolated, want == Side::kAllow || want == Side::kDeny) << got.reason;
  EXPECT_EQ(got.allowed, SideAllows(want)) << got.reason;
  if (want == Side::kAllow || want == Side::kDeny) {
    EXPECT_FALSE(got.isolating_policies.empty());
  }
  if (want == Side::kAllow) {
    EXPECT_FALSE(got.policy.empty());
    EXPECT_GE(got.rule, 0);
  }
}

void ExpectDecision(const char* what, const SideDecision& got, Side want) {
  SCOPED_TRACE(what);
  ASSERT_NE(want, Side::kNA);
  EXPECT_EQ(got.isolated, want == Side::kAllow || want == Side::kDeny) << got.reason;
  EXPECT_EQ(got.allowed, SideAllows(want)) << got.reason;
}

std::optional<IpAddress> MaybeIp(const std::string& s) {
  if (s.empty()) return std::nullopt;
  auto ip = ParseIp(s);
  EXPECT_TRUE(ip.ok()) << s;
  if (!ip.ok()) return std::nullopt;
  return *ip;
}

void CheckFlow(const ClusterState& st, const Snapshot& snap, const Flow& f) {
  SCOPED_TRACE(FlowText(f));
  Explainer explainer(st, snap);
  absl::StatusOr<FlowExplanation> fx = explainer.Explain(f.from, f.to, f.port, f.proto);
  ASSERT_TRUE(fx.ok()) << fx.status();
  EXPECT_TRUE(fx->consistent) << fx->reason;
  ExpectSide("explain egress", fx->egress, f.egress);
  ExpectSide("explain ingress", fx->ingress, f.ingress);
  const bool want_allowed = SideAllows(f.egress) && SideAllows(f.ingress);
  EXPECT_EQ(fx->allowed, want_allowed) << fx->reason;
  if (!f.egress_policy.empty()) {
    EXPECT_EQ(fx->egress.policy, f.egress_policy);
  }
  if (!f.ingress_policy.empty()) {
    EXPECT_EQ(fx->ingress.policy, f.ingress_policy);
  }

  // The model on its own, with the addresses Explain chose.
  Model model(st);
  const Pod* from_pod = st.FindPod(fx->from);
  const Pod* to_pod = st.FindPod(fx->to);
  EXPECT_EQ(from_pod != nullptr, f.egress != Side::kNA);
  EXPECT_EQ(to_pod != nullptr, f.ingress != Side::kNA);
  Endpoint from_ep{from_pod, MaybeIp(fx->from_ip)};
  Endpoint to_ep{to_pod, MaybeIp(fx->to_ip)};
  L4 l4{f.proto, fx->port};
  if (from_pod)
    ExpectDecision("model egress", model.Evaluate(Direction::kEgress, *from_pod, to_ep, l4),
                   f.egress);
  if (to_pod)
    ExpectDecision("model ingress", model.Evaluate(Direction::kIngress, *to_pod, from_ep, l4),
                   f.ingress);

  // Pod to pod: the matrix entry point must say the same.
  const Pod* from_named = st.FindPod(f.from);
  const Pod* to_named = st.FindPod(f.to);
  if (from_named && to_named) {
    FlowExplanation px = explainer.ExplainPods(*from_named, *to_named, f.port, f.proto);
    EXPECT_TRUE(px.consistent) << px.reason;
    EXPECT_EQ(px.allowed, want_allowed) << px.reason;
    ExpectSide("pods egress", px.egress, f.egress);
    ExpectSide("pods ingress", px.ingress, f.ingress);
  }
}

class SemanticsTest : public ::testing::TestWithParam<Case> {};

TEST_P(SemanticsTest, Flows) {
  const Case& c = GetParam();
  auto cluster = Build(c.policies);
  ASSERT_THAT(cluster->loaded.errors, IsEmpty()) << ErrorsText(cluster->loaded);
  for (const Flow& f : c.flows) CheckFlow(cluster->loaded.state, cluster->snap, f);
}

// Beyond the table: the tables agree with the model for every pod pair and a spread of ports.
TEST_P(SemanticsTest, EveryPodPairIsConsistent) {
  auto cluster = Build(GetParam().policies);
  ASSERT_THAT(cluster->loaded.errors, IsEmpty()) << ErrorsText(cluster->loaded);
  const ClusterState& st = cluster->loaded.state;
  Explainer explainer(st, cluster->snap);
  const std::vector<std::pair<std::string, Protocol>> ports = {
      {"80", TCP}, {"8080", TCP},  {"9090", TCP},  {"5432", TCP}, {"53", UDP},
      {"53", TCP}, {"9000", SCTP}, {"65535", UDP}, {"http", TCP}, {"dns", UDP}};
  for (const auto& [_, from] : st.pods) {
    for (const auto& [__, to] : st.pods) {
      for (const auto& [port, proto] : ports) {
        FlowExplanation fx = explainer.ExplainPods(from, to, port, proto);
        EXPECT_TRUE(fx.consistent) << from.Key() << " -> " << to.Key() << " " << ProtocolName(proto)
                                   << "/" << port << ": " << fx.reason;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(ModelTest, SemanticsTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

// ---- single checks ------------------------------------------------------------------------

TEST(ModelTest, ToAnAddressOfAPodNamesThePod) {
  auto cluster = Build(kDenyWeb);
  ASSERT_THAT(cluster->loaded.errors, IsEmpty()) << ErrorsText(cluster->loaded);
  Explainer explainer(cluster->loaded.state, cluster->snap);
  auto fx = explainer.Explain("10.244.1.30", "10.244.1.10", "8080", TCP);
  ASSERT_TRUE(fx.ok()) << fx.status();
  EXPECT_EQ(fx->from, "prod/client");
  EXPECT_EQ(fx->to, "prod/web");
  EXPECT_EQ(fx->from_ip, "10.244.1.30");
  EXPECT_EQ(fx->to_ip, "10.244.1.10");
  EXPECT_EQ(fx->to_identity, cluster->snap.pods.at("prod/web").identity);
  EXPECT_EQ(fx->ingress.isolating_policies, (std::vector<std::string>{"prod/deny-web"}));
  EXPECT_FALSE(fx->allowed);
}

// A bare IPv6 address talking to a dual-stack pod: the pod's IPv6 address is the one a client
// of that family uses.
TEST(ModelTest, FromAnIpv6AddressToADualStackPodUsesItsIpv6Address) {
  auto cluster = Build(P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{ipBlock: {cidr: "fd00:2::/64"}}]
)"));
  ASSERT_THAT(cluster->loaded.errors, IsEmpty()) << ErrorsText(cluster->loaded);
  Explainer explainer(cluster->loaded.state, cluster->snap);
  auto fx = explainer.Explain("fd00:2::99", "prod/web", "8080", TCP);
  ASSERT_TRUE(fx.ok()) << fx.status();
  EXPECT_EQ(fx->to_ip, "fd00:1::10") << fx->reason;
  EXPECT_TRUE(fx->ingress.applies) << fx->reason;
  EXPECT_TRUE(fx->allowed) << fx->reason;
}

TEST(ModelTest, NamedPortResolvesToEachPodsOwnNumber) {
  auto cluster =
      Build(P("prod", "web-in",
              "podSelector: {matchLabels: {app: web}}\ningress:\n- ports: [{port: http}]"));
  ASSERT_THAT(cluster->loaded.errors, IsEmpty()) << ErrorsText(cluster->loaded);
  Explainer explainer(cluster->loaded.state, cluster->snap);
  auto web = explainer.Explain("prod/client", "prod/web", "http", TCP);
  auto web2 = explainer.Explain("prod/client", "prod/web2", "http", TCP);
  ASSERT_TRUE(web.ok() && web2.ok());
  EXPECT_EQ(web->port, 8080);
  EXPECT_EQ(web2->port, 9090);
  EXPECT_TRUE(web->allowed);
  EXPECT_TRUE(web2->allowed);
  // Same labels, different named ports: different identities.
  EXPECT_NE(cluster->snap.pods.at("prod/web").identity,
            cluster->snap.pods.at("prod/web2").identity);
  // A name the destination does not declare (for that protocol) is an error for Explain and a
  // deny for the matrix.
  EXPECT_FALSE(explainer.Explain("prod/client", "prod/web", "dns", TCP).ok());
  EXPECT_FALSE(explainer.Explain("prod/client", "prod/db", "http", TCP).ok());
  const ClusterState& st = cluster->loaded.state;
  FlowExplanation px =
      explainer.ExplainPods(*st.FindPod("prod/client"), *st.FindPod("prod/db"), "http", TCP);
  EXPECT_FALSE(px.allowed);
  EXPECT_EQ(px.port, 0);
}

// Port names are unique per container only: two containers of one pod may both name a port
// "http". The name then stands for each of those ports, in the model as in the tables.
TEST(ModelTest, NamedPortSharedByTwoContainersMeansEachOfTheirPorts) {
  const std::string pod = R"(apiVersion: v1
kind: Pod
metadata: {name: multi, namespace: prod, labels: {app: multi}}
spec:
  containers:
  - name: a
    ports: [{name: http, containerPort: 8080}]
  - name: b
    ports: [{name: http, containerPort: 9090}]
status: {podIP: 10.244.1.50}
)";
  LoadResult loaded = LoadManifestTexts(
      {{"cluster.yaml", kCluster},
       {"multi.yaml", pod},
       {"policies.yaml", P("prod", "multi-in",
                           "podSelector: {matchLabels: {app: multi}}\ningress:\n- ports: "
                           "[{port: http}]")}});
  ASSERT_THAT(loaded.errors, IsEmpty()) << ErrorsText(loaded);
  const Pod* multi = loaded.state.FindPod("prod/multi");
  ASSERT_NE(multi, nullptr);
  PolicyPort named{TCP, std::string("http"), std::nullopt};
  EXPECT_TRUE(Model::PortMatches(named, L4{TCP, 8080}, multi));
  EXPECT_TRUE(Model::PortMatches(named, L4{TCP, 9090}, multi));
  EXPECT_FALSE(Model::PortMatches(named, L4{TCP, 7000}, multi));
  Snapshot snap = Compile(loaded.state).value();
  Explainer explainer(loaded.state, snap);
  const Pod& client = *loaded.state.FindPod("prod/client");
  for (const auto& [port, allowed] :
       std::vector<std::pair<std::string, bool>>{{"8080", true}, {"9090", true}, {"7000", false}}) {
    FlowExplanation fx = explainer.ExplainPods(client, *multi, port, TCP);
    EXPECT_TRUE(fx.consistent) << port << ": " << fx.reason;
    EXPECT_EQ(fx.allowed, allowed) << port << ": " << fx.reason;
  }
}

TEST(ModelTest, OtherL4ProtocolsOnlyByRulesWithoutPorts) {
  auto cluster = Build(kDenyWeb + P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{podSelector: {matchLabels: {app: client}}}]
- from: [{podSelector: {matchLabels: {app: db}}}]
  ports: [{protocol: TCP}, {protocol: UDP}, {protocol: SCTP}]
)"));
  ASSERT_THAT(cluster->loaded.errors, IsEmpty()) << ErrorsText(cluster->loaded);
  const ClusterState& st = cluster->loaded.state;
  Model model(st);
  DatapathTwin twin(cluster->snap);
  const Pod& web = *st.FindPod("prod/web");
  const uint32_t web_id = cluster->snap.pods.at("prod/web").identity;
  const L4 icmp{std::nullopt, 0};
  for (const auto& [key, allowed] :
       std::vector<std::pair<std::string, bool>>{{"prod/client", true}, {"prod/db", false}}) {
    SCOPED_TRACE(key);
    const Pod& peer = *st.FindPod(key);
    SideDecision d =
        model.Evaluate(Direction::kIngress, web, Endpoint{&peer, peer.ips.front()}, icmp);
    EXPECT_TRUE(d.isolated);
    EXPECT_EQ(d.allowed, allowed) << d.reason;
    auto remote = twin.LookupIpcache(peer.ips.front());
    ASSERT_TRUE(remote.has_value());
    TwinVerdict tv = twin.Lookup(web_id, *remote, WD_DIR_INGRESS, std::nullopt, 0);
    EXPECT_TRUE(tv.isolated);
    EXPECT_EQ(tv.allowed, allowed);
    // Every TCP/UDP/SCTP port is open to both.
    EXPECT_TRUE(twin.Lookup(web_id, *remote, WD_DIR_INGRESS, Protocol::kUDP, 65535).allowed);
    EXPECT_TRUE(
        model.Evaluate(Direction::kIngress, web, Endpoint{&peer, peer.ips.front()}, L4{SCTP, 1})
            .allowed);
  }
}

TEST(ModelTest, ReasonsNameThePolicyAndRule) {
  auto cluster = Build(kDenyWeb + P("prod", "web-in", R"(
podSelector: {matchLabels: {app: web}}
ingress:
- from: [{podSelector: {matchLabels: {app: db}}}]
- from: [{podSelector: {matchLabels: {app: client}}}]
  ports: [{port: 8080}]
)"));
  ASSERT_THAT(cluster->loaded.errors, IsEmpty()) << ErrorsText(cluster->loaded);
  const ClusterState& st = cluster->loaded.state;
  Model model(st);
  const Pod& web = *st.FindPod("prod/web");
  const Pod& client = *st.FindPod("prod/client");
  SideDecision d = model.Evaluate(Direction::kIngress, web, Endpoint{&client, client.ips.front()},
                                  L4{TCP, 8080});
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.allowing_policy, "prod/web-in");
  EXPECT_EQ(d.rule_index, 1);
  EXPECT_EQ(d.isolating_policies, (std::vector<std::string>{"prod/deny-web", "prod/web-in"}));
  SideDecision no = model.Evaluate(Direction::kIngress, web, Endpoint{&client, client.ips.front()},
                                   L4{TCP, 8081});
  EXPECT_FALSE(no.allowed);
  EXPECT_EQ(no.allowing_policy, "");
  EXPECT_THAT(no.reason,
              ::testing::HasSubstr("isolated for Ingress by prod/deny-web, prod/web-in"));
}

TEST(ModelTest, SelectsOnlyPodsOfThePolicyNamespace) {
  auto cluster = Build(P("dev", "all", "podSelector: {}"));
  ASSERT_THAT(cluster->loaded.errors, IsEmpty()) << ErrorsText(cluster->loaded);
  const ClusterState& st = cluster->loaded.state;
  Model model(st);
  const NetworkPolicy& np = st.policies.at("dev/all");
  EXPECT_TRUE(model.Selects(np, *st.FindPod("dev/client")));
  EXPECT_TRUE(model.Selects(np, *st.FindPod("dev/tool")));
  EXPECT_FALSE(model.Selects(np, *st.FindPod("prod/client")));
  EXPECT_FALSE(model.Selects(np, *st.FindPod("other/client")));
}

TEST(ModelTest, PortMatches) {
  LoadResult r = LoadManifestTexts({{"cluster.yaml", kCluster}});
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  const Pod* web = r.state.FindPod("prod/web");
  const Pod* web2 = r.state.FindPod("prod/web2");
  PolicyPort range{TCP, 100, 200};
  EXPECT_FALSE(Model::PortMatches(range, L4{TCP, 99}, nullptr));
  EXPECT_TRUE(Model::PortMatches(range, L4{TCP, 100}, nullptr));
  EXPECT_TRUE(Model::PortMatches(range, L4{TCP, 200}, nullptr));
  EXPECT_FALSE(Model::PortMatches(range, L4{TCP, 201}, nullptr));
  EXPECT_FALSE(Model::PortMatches(range, L4{UDP, 150}, nullptr));
  EXPECT_FALSE(Model::PortMatches(range, L4{std::nullopt, 150}, nullptr));
  PolicyPort single{UDP, 53, std::nullopt};
  EXPECT_TRUE(Model::PortMatches(single, L4{UDP, 53}, nullptr));
  EXPECT_FALSE(Model::PortMatches(single, L4{UDP, 54}, nullptr));
  PolicyPort all_sctp{SCTP, std::monostate{}, std::nullopt};
  EXPECT_TRUE(Model::PortMatches(all_sctp, L4{SCTP, 1}, nullptr));
  EXPECT_TRUE(Model::PortMatches(all_sctp, L4{SCTP, 65535}, nullptr));
  EXPECT_FALSE(Model::PortMatches(all_sctp, L4{TCP, 1}, nullptr));
  PolicyPort named{TCP, std::string("http"), std::nullopt};
  EXPECT_TRUE(Model::PortMatches(named, L4{TCP, 8080}, web));
  EXPECT_FALSE(Model::PortMatches(named, L4{TCP, 8080}, web2));
  EXPECT_TRUE(Model::PortMatches(named, L4{TCP, 9090}, web2));
  EXPECT_FALSE(Model::PortMatches(named, L4{TCP, 8080}, nullptr));
  EXPECT_EQ(Model::ResolveNamedPort(*web, "dns", UDP), 53);
  EXPECT_EQ(Model::ResolveNamedPort(*web, "dns", TCP), std::nullopt);
  EXPECT_EQ(Model::ResolveNamedPort(*web, "nope", TCP), std::nullopt);
}

}  // namespace
}  // namespace warden::policy

namespace warden::policy {
namespace {

// "Pods cannot block access from their resident node": ingress from the addresses of the node a
// pod runs on is always admitted; other nodes are ordinary addresses.
TEST(OwnNode, APodCannotBlockItsNode) {
  LoadResult r = LoadManifestTexts({{"c.yaml", R"(
apiVersion: v1
kind: Node
metadata: {name: n1}
status: {addresses: [{type: InternalIP, address: 192.168.9.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: n2}
status: {addresses: [{type: InternalIP, address: 192.168.9.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: p}
spec: {nodeName: n1}
status: {podIP: 10.9.0.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: p}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
)"}});
  ASSERT_TRUE(r.errors.empty());
  Snapshot snap = Compile(r.state).value();
  Explainer ex(r.state, snap);
  auto own = ex.Explain("192.168.9.1", "p/web", "8080", Protocol::kTCP);
  ASSERT_TRUE(own.ok());
  EXPECT_TRUE(own->allowed);
  EXPECT_TRUE(own->ingress.isolated);
  EXPECT_NE(own->ingress.reason.find("own node n1"), std::string::npos) << own->ingress.reason;
  auto other = ex.Explain("192.168.9.2", "p/web", "8080", Protocol::kTCP);
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(other->allowed);
  EXPECT_TRUE(other->consistent);
  // Egress to the own node stays under policy.
  auto out = ex.Explain("p/web", "192.168.9.1", "22", Protocol::kTCP);
  ASSERT_TRUE(out.ok());
  EXPECT_FALSE(out->allowed);
}

// "What you can't do with network policies: prevent loopback": a flow to or from a loopback
// address is allowed on both sides, by default deny and by a default-pool node's lockdown alike,
// as the kernel's cgroup programs allow it (bpf/warden.bpf.c, wd_decide_on).
TEST(Loopback, NeitherPolicyNorTheLockdownBlocksLocalhost) {
  for (const char* text : {"127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"})
    EXPECT_TRUE(IsLoopback(*ParseIp(text))) << text;
  for (const char* text : {"128.0.0.1", "126.255.255.255", "::", "::2", "::ffff:128.0.0.1",
                           "::127.0.0.1", "fe80::1", "10.0.0.1"})
    EXPECT_FALSE(IsLoopback(*ParseIp(text))) << text;

  // p/web: IPv4 only, default deny both ways, on a default-pool node without allowances.
  LoadResult r = LoadManifestTexts({{"c.yaml", R"(
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: p}
status: {podIP: 10.9.0.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: p}
spec: {podSelector: {}, policyTypes: [Ingress, Egress]}
)"}});
  ASSERT_TRUE(r.errors.empty());
  Snapshot snap = Compile(r.state).value();
  Explainer ex(r.state, snap, LockdownOptions{});
  for (const char* to : {"127.0.0.1", "127.0.0.53", "::1", "::ffff:127.0.0.1"}) {
    for (Protocol proto : {Protocol::kTCP, Protocol::kUDP}) {
      auto fx = ex.Explain("p/web", to, "8080", proto);
      ASSERT_TRUE(fx.ok()) << to << ": " << fx.status();
      EXPECT_TRUE(fx->allowed) << to << ": " << fx->reason;
      EXPECT_TRUE(fx->consistent) << to;
      EXPECT_TRUE(fx->egress.applies) << to;
      EXPECT_TRUE(fx->egress.isolated) << to;
      EXPECT_THAT(fx->egress.isolating_policies, ::testing::ElementsAre("p/deny")) << to;
      EXPECT_FALSE(fx->egress.default_pool_lockdown) << to;
      EXPECT_TRUE(fx->ingress.allowed) << to;
      for (const SideReport* side : {&fx->egress, &fx->ingress})
        EXPECT_THAT(side->reason, ::testing::StartsWith("loopback: ")) << to;
      EXPECT_THAT(fx->egress.reason, ::testing::HasSubstr("NetworkPolicy cannot block localhost"));
    }
  }
  // The pod's own addresses play no part: to ::1 it sends from ::1, though it has no IPv6.
  auto six = ex.Explain("p/web", "::1", "8080", Protocol::kTCP);
  ASSERT_TRUE(six.ok());
  EXPECT_EQ(six->from_ip, "::1");
  auto four = ex.Explain("p/web", "127.0.0.53", "8080", Protocol::kTCP);
  ASSERT_TRUE(four.ok());
  EXPECT_EQ(four->from_ip, "127.0.0.1");
  EXPECT_EQ(four->to_ip, "127.0.0.53");
  // To the unspecified address the kernel connects to loopback: so does explain.
  for (auto [to, lo] :
       {std::pair{"0.0.0.0", "127.0.0.1"}, {"::", "::1"}, {"::ffff:0.0.0.0", "::ffff:127.0.0.1"}}) {
    auto any = ex.Explain("p/web", to, "8080", Protocol::kTCP);
    ASSERT_TRUE(any.ok()) << to;
    EXPECT_TRUE(any->allowed) << to << ": " << any->reason;
    EXPECT_EQ(any->to_ip, lo) << to;
    EXPECT_THAT(any->egress.reason, ::testing::StartsWith("loopback: ")) << to;
  }
  // Loopback coming in: the pod's isolated ingress has no say either.
  auto in = ex.Explain("127.0.0.1", "p/web", "8080", Protocol::kTCP);
  ASSERT_TRUE(in.ok());
  EXPECT_TRUE(in->allowed) << in->reason;
  EXPECT_TRUE(in->ingress.applies);
  EXPECT_THAT(in->ingress.reason, ::testing::StartsWith("loopback: "));
  // Next to loopback, an address that is not: the lockdown refuses it, and the policy would.
  for (const char* to : {"128.0.0.1", "126.255.255.255", "::2", "0.0.0.1", "::ffff:0.0.0.1"}) {
    auto world = ex.Explain("p/web", to, "8080", Protocol::kTCP);
    ASSERT_TRUE(world.ok()) << to;
    EXPECT_FALSE(world->allowed) << to;
    EXPECT_THAT(world->egress.reason, ::testing::Not(::testing::HasSubstr("loopback"))) << to;
  }
  auto world = ex.Explain("p/web", "128.0.0.1", "8080", Protocol::kTCP);
  ASSERT_TRUE(world.ok());
  EXPECT_TRUE(world->egress.default_pool_lockdown) << world->egress.reason;
  auto from_world = ex.Explain("128.0.0.1", "p/web", "8080", Protocol::kTCP);
  ASSERT_TRUE(from_world.ok());
  EXPECT_FALSE(from_world->allowed) << from_world->reason;
}

}  // namespace
}  // namespace warden::policy
