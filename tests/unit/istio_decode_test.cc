// Tests of the Istio kinds read from manifests (ServiceEntry, DestinationRule,
// AuthorizationPolicy): what each field becomes, and Istio's validation with its messages, case
// by case (istio/istio pkg/config/validation).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/policy/manifest_loader.h"

namespace warden::policy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

LoadResult Load(const std::string& text) { return LoadManifestTexts({{"istio.yaml", text}}); }

std::string ErrorsText(const LoadResult& r) {
  std::vector<std::string> lines;
  for (const auto& e : r.errors) lines.push_back(e.ToString());
  return absl::StrJoin(lines, "\n");
}

// An object of `kind` named "o" in namespace team-x, with `spec` (YAML at two spaces' indent)
// and `meta` (more metadata lines).
std::string Object(const std::string& api, const std::string& kind, const std::string& spec,
                   const std::string& meta = "") {
  return absl::StrCat("apiVersion: ", api, "\nkind: ", kind,
                      "\nmetadata:\n  name: o\n  namespace: team-x\n", meta, "spec:\n", spec);
}

std::string Se(const std::string& spec) {
  return Object("networking.istio.io/v1", "ServiceEntry", spec);
}
std::string Dr(const std::string& spec) {
  return Object("networking.istio.io/v1", "DestinationRule", spec);
}
std::string Ap(const std::string& spec, const std::string& meta = "") {
  return Object("security.istio.io/v1", "AuthorizationPolicy", spec, meta);
}

// One case: the manifest, and the error expected (field and message part), or none.
struct Case {
  std::string name;
  std::string text;
  std::string field;    // empty: valid
  std::string message;  // a part of the message
};

void Check(const Case& c) {
  LoadResult r = Load(c.text);
  if (c.field.empty()) {
    EXPECT_THAT(r.errors, IsEmpty()) << c.name << "\n" << ErrorsText(r);
    return;
  }
  bool found = false;
  for (const auto& e : r.errors)
    found |= e.field == c.field && absl::StrContains(e.message, c.message);
  EXPECT_TRUE(found) << c.name << ": expected " << c.field << ": " << c.message << "\ngot:\n"
                     << ErrorsText(r);
  // A file with an invalid object contributes nothing.
  EXPECT_TRUE(r.state.service_entries.empty() && r.state.destination_rules.empty() &&
              r.state.authorization_policies.empty())
      << c.name;
}

const char kPorts[] = "  ports:\n  - number: 80\n    name: http\n    protocol: HTTP\n";

// ---- ServiceEntry ---------------------------------------------------------------------------

TEST(IstioDecodeTest, ServiceEntryFields) {
  LoadResult r = Load(Se(
      absl::StrCat("  hosts: [Example.COM, API.example.com]\n", kPorts,
                   "  - number: 443\n    name: tls\n    protocol: tls\n    targetPort: 8443\n"
                   "  resolution: DNS\n  location: MESH_EXTERNAL\n  exportTo: [\".\", team-y]\n")));
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  ASSERT_EQ(r.state.service_entries.size(), 1u);
  const ServiceEntry& se = r.state.service_entries.at("team-x/o");
  EXPECT_THAT(se.hosts, ElementsAre("example.com", "api.example.com"));
  ASSERT_EQ(se.ports.size(), 2u);
  EXPECT_EQ(se.ports[0].protocol, IstioProtocol::kHTTP);
  EXPECT_EQ(se.ports[1].protocol, IstioProtocol::kTLS);
  EXPECT_EQ(se.ports[1].protocol_name, "TLS");
  EXPECT_EQ(se.ports[1].target_port, 8443u);
  EXPECT_EQ(se.resolution, Resolution::kDns);
  EXPECT_FALSE(se.mesh_internal);
  EXPECT_THAT(se.export_to, ElementsAre(".", "team-y"));
  EXPECT_EQ(se.source.line, 1);
}

TEST(IstioDecodeTest, ServiceEntryValidation) {
  const std::string h = "  hosts: [example.com]\n";
  const std::vector<Case> cases = {
      {"no hosts", Se(kPorts), "spec.hosts", "service entry must have at least one host"},
      {"bare star", Se(absl::StrCat("  hosts: [\"*\"]\n", kPorts)), "spec.hosts[0]",
       "invalid host *"},
      {"wildcard in the middle", Se(absl::StrCat("  hosts: [foo.*.com]\n", kPorts)),
       "spec.hosts[0]", "label \"*\" invalid"},
      {"ip literal host", Se(absl::StrCat("  hosts: [1.2.3.4]\n", kPorts)), "spec.hosts[0]",
       "top level domain \"4\" cannot be all-numeric"},
      {"any-suffix wildcard", Se(absl::StrCat("  hosts: [\"*.com\"]\n", kPorts)), "", ""},
      {"port name required", Se(absl::StrCat(h, "  ports:\n  - number: 80\n    protocol: HTTP\n")),
       "spec.ports[0].name", "invalid port name"},
      {"port out of range", Se(absl::StrCat(h, "  ports:\n  - number: 70000\n    name: a\n")),
       "spec.ports[0].number", "must be in the range 1..65535"},
      {"duplicate port number", Se(absl::StrCat(h, kPorts, "  - number: 80\n    name: other\n")),
       "spec.ports[1].number", "service entry port 80 already defined"},
      {"duplicate port name", Se(absl::StrCat(h, kPorts, "  - number: 81\n    name: http\n")),
       "spec.ports[1].name", "service entry port name \"http\" already defined"},
      {"unknown protocol",
       Se(absl::StrCat(h, "  ports:\n  - number: 80\n    name: a\n    protocol: QUIC\n")),
       "spec.ports[0].protocol", "unsupported protocol: QUIC"},
      {"protocol in any case",
       Se(absl::StrCat(h, "  ports:\n  - number: 80\n    name: a\n    protocol: hTtP\n")), "", ""},
      {"endpoints with NONE", Se(absl::StrCat(h, kPorts, "  endpoints:\n  - address: 192.0.2.1\n")),
       "spec.endpoints", "no endpoints should be provided for resolution type none"},
      {"STATIC takes IPs",
       Se(absl::StrCat(h, kPorts, "  resolution: STATIC\n  endpoints:\n  - address: a.example\n")),
       "spec.endpoints[0].address", "is not a valid IP address"},
      {"DNS takes names",
       Se(absl::StrCat(h, kPorts, "  resolution: DNS\n  endpoints:\n  - address: a.example\n")), "",
       ""},
      {"DNS without endpoints needs FQDN hosts",
       Se(absl::StrCat("  hosts: [\"*.example.com\"]\n", kPorts, "  resolution: DNS\n")),
       "spec.hosts[0]", "hosts must be FQDN if no endpoints are provided for resolution mode DNS"},
      {"DNS_ROUND_ROBIN takes one endpoint",
       Se(absl::StrCat(h, kPorts,
                       "  resolution: DNS_ROUND_ROBIN\n  endpoints:\n  - address: 192.0.2.1\n"
                       "  - address: 192.0.2.2\n")),
       "spec.endpoints", "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN"},
      {"endpoint port must be a service port",
       Se(absl::StrCat(h, kPorts,
                       "  resolution: STATIC\n  endpoints:\n  - address: 192.0.2.1\n"
                       "    ports:\n      https: 8443\n")),
       "spec.endpoints[0].ports.https", "endpoint port https is not defined by the service entry"},
      {"unknown resolution", Se(absl::StrCat(h, kPorts, "  resolution: dns\n")), "spec.resolution",
       "unsupported value \"dns\""},
      {"CIDR with DNS",
       Se(absl::StrCat(h, kPorts, "  addresses: [192.0.2.0/24]\n  resolution: DNS\n")),
       "spec.addresses[0]", "CIDR addresses are allowed only for NONE/STATIC resolution types"},
      {"bad address", Se(absl::StrCat(h, kPorts, "  addresses: [192.0.2.300]\n")),
       "spec.addresses[0]", "192.0.2.300 is not a valid IP"},
      {"two hosts, TCP port, DNS",
       Se("  hosts: [a.example, b.example]\n  ports:\n  - number: 5432\n    name: pg\n"
          "    protocol: TCP\n  resolution: DNS\n"),
       "spec.ports", "multiple hosts provided with non-HTTP, non-TLS ports"},
      {"two hosts, TCP port, NONE",
       Se("  hosts: [a.example, b.example]\n  ports:\n  - number: 5432\n    name: pg\n"
          "    protocol: TCP\n"),
       "", ""},
      {"exportTo own namespace and .", Se(absl::StrCat(h, kPorts, "  exportTo: [team-x, \".\"]\n")),
       "spec.exportTo[1]", "duplicate entries in exportTo: . and current namespace team-x"},
      {"exportTo . and own namespace", Se(absl::StrCat(h, kPorts, "  exportTo: [\".\", team-x]\n")),
       "spec.exportTo[1]", "duplicate entries in exportTo for entry team-x"},
      {"exportTo * with others", Se(absl::StrCat(h, kPorts, "  exportTo: [\"*\", team-y]\n")),
       "spec.exportTo", "cannot have both public (*) and non-public exportTo values"},
      {"exportTo ~ with others", Se(absl::StrCat(h, kPorts, "  exportTo: [\"~\", team-y]\n")),
       "spec.exportTo", "cannot export service entry to no one (~) and someone"},
      {"exportTo ~ alone", Se(absl::StrCat(h, kPorts, "  exportTo: [\"~\"]\n")), "", ""},
      {"exportTo not a label", Se(absl::StrCat(h, kPorts, "  exportTo: [Team_Y]\n")),
       "spec.exportTo[0]", "only .,*, or a valid DNS 1123 label is allowed"},
      {"selector and endpoints",
       Se(absl::StrCat(h, kPorts,
                       "  resolution: STATIC\n  workloadSelector:\n    labels: {app: a}\n"
                       "  endpoints:\n  - address: 192.0.2.1\n")),
       "spec", "only one of WorkloadSelector or Endpoints is allowed in Service Entry"},
      {"selector with matchLabels (the security kinds' form)",
       Se(absl::StrCat(h, kPorts, "  workloadSelector:\n    matchLabels: {app: a}\n")),
       "spec.workloadSelector.matchLabels", "unknown field"},
      {"unknown spec field", Se(absl::StrCat(h, kPorts, "  resolutoin: DNS\n")), "spec.resolutoin",
       "unknown field"},
      {"dry-run annotation",
       Object("networking.istio.io/v1beta1", "ServiceEntry", absl::StrCat(h, kPorts),
              "  annotations:\n    istio.io/dry-run: \"true\"\n"),
       "metadata.annotations", "has unsupported annotation istio.io/dry-run"},
  };
  for (const Case& c : cases) Check(c);
}

// ---- DestinationRule ------------------------------------------------------------------------

TEST(IstioDecodeTest, DestinationRuleFields) {
  LoadResult r = Load(
      Dr("  host: Example.com\n  trafficPolicy:\n    tls:\n      mode: SIMPLE\n"
         "      sni: example.com\n      caCertificates: /etc/ca.pem\n"
         "    portLevelSettings:\n    - port:\n        number: 80\n      tls:\n"
         "        mode: MUTUAL\n        clientCertificate: /c.pem\n        privateKey: /k.pem\n"));
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  const DestinationRule& dr = r.state.destination_rules.at("team-x/o");
  EXPECT_EQ(dr.host, "example.com");
  ASSERT_TRUE(dr.tls.has_value());
  EXPECT_EQ(dr.tls->mode, TlsMode::kSimple);
  EXPECT_EQ(dr.tls->sni, "example.com");
  EXPECT_EQ(dr.tls->ca_certificates, "/etc/ca.pem");
  ASSERT_EQ(dr.port_level.size(), 1u);
  EXPECT_EQ(dr.port_level[0].port, 80u);
  ASSERT_TRUE(dr.port_level[0].tls.has_value());
  EXPECT_EQ(dr.port_level[0].tls->mode, TlsMode::kMutual);
}

TEST(IstioDecodeTest, DestinationRuleValidation) {
  auto tls = [](const std::string& body) {
    return Dr(absl::StrCat("  host: example.com\n  trafficPolicy:\n    tls:\n", body));
  };
  const std::vector<Case> cases = {
      {"bare star host", Dr("  host: \"*\"\n"), "", ""},
      {"no host", Dr("  exportTo: [\".\"]\n"), "spec.host", "empty domain name not allowed"},
      {"empty traffic policy", Dr("  host: a.example\n  trafficPolicy: {}\n"), "spec.trafficPolicy",
       "traffic policy must have at least one field"},
      {"MUTUAL needs a certificate", tls("      mode: MUTUAL\n      privateKey: /k.pem\n"),
       "spec.trafficPolicy.tls.clientCertificate", "client certificate required for mutual tls"},
      {"MUTUAL needs a key", tls("      mode: MUTUAL\n      clientCertificate: /c.pem\n"),
       "spec.trafficPolicy.tls.privateKey", "private key required for mutual tls"},
      {"skip verify with a CA",
       tls("      mode: SIMPLE\n      insecureSkipVerify: true\n      caCertificates: /ca.pem\n"),
       "spec.trafficPolicy.tls",
       "cannot specify CaCertificates or CredentialName or SubjectAltNames when "
       "InsecureSkipVerify is set true"},
      {"skip verify with SANs on MUTUAL",
       tls("      mode: MUTUAL\n      insecureSkipVerify: true\n      subjectAltNames: [a]\n"
           "      clientCertificate: /c.pem\n      privateKey: /k.pem\n"),
       "spec.trafficPolicy.tls", "cannot specify CaCertificates or SubjectAltNames"},
      {"credentialName with files",
       tls("      mode: SIMPLE\n      credentialName: s\n      caCertificates: /ca.pem\n"),
       "spec.trafficPolicy.tls", "cannot specify client certificates or CA certificate"},
      {"credentialName: a secret warden cannot read",
       tls("      mode: SIMPLE\n      credentialName: s\n"),
       "spec.trafficPolicy.tls.credentialName", "not supported by warden gateway"},
      {"unknown mode", tls("      mode: STRICT\n"), "spec.trafficPolicy.tls.mode",
       "unsupported value \"STRICT\""},
      {"port level without a port",
       Dr("  host: a.example\n  trafficPolicy:\n    portLevelSettings:\n    - tls:\n"
          "        mode: SIMPLE\n"),
       "spec.trafficPolicy.portLevelSettings[0].port", "portTrafficPolicy must have valid port"},
      {"port level with nothing",
       Dr("  host: a.example\n  trafficPolicy:\n    portLevelSettings:\n    - port:\n"
          "        number: 80\n"),
       "spec.trafficPolicy.portLevelSettings[0]",
       "port traffic policy must have at least one field"},
      {"exportTo ~", Dr("  host: a.example\n  exportTo: [\"~\"]\n"), "spec.exportTo[0]",
       "exportTo ~ (none) is not allowed for Istio configuration objects"},
      {"selector exported beyond its namespace",
       Dr("  host: a.example\n  workloadSelector:\n    matchLabels: {app: a}\n"
          "  exportTo: [team-y]\n"),
       "spec.exportTo", "cannot have exportTo beyond current namespace"},
      {"duplicate subsets", Dr("  host: a.example\n  subsets:\n  - name: v1\n  - name: v1\n"),
       "spec.subsets[1].name", "duplicate subset names: v1"},
  };
  for (const Case& c : cases) Check(c);
}

// ---- AuthorizationPolicy --------------------------------------------------------------------

TEST(IstioDecodeTest, AuthorizationPolicyFields) {
  LoadResult r = Load(
      Ap("  selector:\n    matchLabels: {app: gateway}\n  action: DENY\n  rules:\n"
         "  - from:\n    - source:\n        namespaces: [team-y]\n        notPrincipals: [\"*\"]\n"
         "    to:\n    - operation:\n        hosts: [httpbin.org]\n        paths: [/status/*]\n"
         "        ports: [\"80\"]\n"
         "    when:\n    - key: request.headers[x-team]\n      values: [a, b]\n  - {}\n",
         "  annotations:\n    istio.io/dry-run: \"True\"\n"));
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  const AuthorizationPolicy& ap = r.state.authorization_policies.at("team-x/o");
  EXPECT_EQ(ap.action, AuthzAction::kDeny);
  EXPECT_TRUE(ap.dry_run);
  ASSERT_TRUE(ap.selector.has_value());
  EXPECT_EQ(ap.selector->match_labels.at("app"), "gateway");
  ASSERT_EQ(ap.rules.size(), 2u);
  const AuthzRule& rule = ap.rules[0];
  ASSERT_EQ(rule.from.size(), 1u);
  EXPECT_THAT(rule.from[0].namespaces, ElementsAre("team-y"));
  EXPECT_THAT(rule.from[0].not_principals, ElementsAre("*"));
  ASSERT_EQ(rule.to.size(), 1u);
  EXPECT_THAT(rule.to[0].paths, ElementsAre("/status/*"));
  ASSERT_EQ(rule.when.size(), 1u);
  EXPECT_EQ(rule.when[0].key, "request.headers[x-team]");
  EXPECT_TRUE(ap.rules[1] == AuthzRule{});  // `{}`: matches every request
}

TEST(IstioDecodeTest, AuthorizationPolicyWithoutSpecAllowsNothing) {
  LoadResult r = Load(
      "apiVersion: security.istio.io/v1beta1\nkind: AuthorizationPolicy\nmetadata:\n  name: o\n"
      "  namespace: team-x\n");
  ASSERT_THAT(r.errors, IsEmpty()) << ErrorsText(r);
  const AuthorizationPolicy& ap = r.state.authorization_policies.at("team-x/o");
  EXPECT_EQ(ap.action, AuthzAction::kAllow);
  EXPECT_THAT(ap.rules, IsEmpty());
  EXPECT_FALSE(ap.selector.has_value());
}

TEST(IstioDecodeTest, AuthorizationPolicyValidation) {
  auto rule = [](const std::string& body) { return Ap(absl::StrCat("  rules:\n", body)); };
  const std::vector<Case> cases = {
      {"selector and targetRef",
       Ap("  selector:\n    matchLabels: {app: a}\n  targetRef:\n    kind: Gateway\n"
          "    group: gateway.networking.k8s.io\n    name: g\n"),
       "spec", "only one of targetRefs or workloadSelector can be set"},
      {"targetRef without a name",
       Ap("  targetRef:\n    kind: Gateway\n    group: gateway.networking.k8s.io\n"),
       "spec.targetRef.name", "targetRef name must be set"},
      {"targetRef to another namespace",
       Ap("  targetRef:\n    kind: Gateway\n    group: gateway.networking.k8s.io\n    name: g\n"
          "    namespace: other\n"),
       "spec.targetRef.namespace", "cross namespace referencing is not supported"},
      {"targetRef to a Pod", Ap("  targetRef:\n    kind: Pod\n    name: g\n"), "spec.targetRef",
       "targetRef must be to one of"},
      {"selector wildcard", Ap("  selector:\n    matchLabels: {app: \"a*\"}\n"),
       "spec.selector.matchLabels.app", "wildcard is not supported in selector"},
      {"DENY without rules", Ap("  action: DENY\n"), "spec.rules",
       "DENY action without `rules` is meaningless"},
      {"DENY with rules: []", Ap("  action: DENY\n  rules: []\n"), "spec.rules",
       "DENY action without `rules` is meaningless"},
      {"AUDIT without rules", Ap("  action: AUDIT\n"), "", ""},
      {"CUSTOM refused", Ap("  action: CUSTOM\n  provider:\n    name: ext\n  rules:\n  - {}\n"),
       "spec.action", "CUSTOM is not supported by warden gateway"},
      {"provider without CUSTOM", Ap("  provider:\n    name: ext\n  rules:\n  - {}\n"),
       "spec.provider", "`provider` must not be with non CUSTOM action, found ALLOW"},
      {"from without source", rule("  - from:\n    - {}\n"), "spec.rules[0].from[0].source",
       "`from.source` must not be nil, found at rule 0"},
      {"empty source", rule("  - from:\n    - source: {}\n"), "spec.rules[0].from[0].source",
       "`from.source` must not be empty, found at rule 0"},
      {"empty principal", rule("  - from:\n    - source:\n        principals: [\"\"]\n"),
       "spec.rules[0].from[0].source.principals[0]",
       "empty value not allowed, found in Principals"},
      {"bad ipBlock", rule("  - from:\n    - source:\n        ipBlocks: [10.0.0.0/33]\n"),
       "spec.rules[0].from[0].source.ipBlocks[0]", "bad CIDR range (10.0.0.0/33)"},
      {"ipBlock with host bits", rule("  - from:\n    - source:\n        ipBlocks: [10.1.2.3/8]\n"),
       "", ""},
      {"bad IP", rule("  - from:\n    - source:\n        notIpBlocks: [300.1.1.1]\n"),
       "spec.rules[0].from[0].source.notIpBlocks[0]", "bad IP address (300.1.1.1)"},
      {"requestPrincipals", rule("  - from:\n    - source:\n        requestPrincipals: [\"*\"]\n"),
       "spec.rules[0].from[0].source.requestPrincipals", "not supported by warden gateway"},
      {"serviceAccounts with namespaces",
       rule("  - from:\n    - source:\n        serviceAccounts: [a]\n        namespaces: [b]\n"),
       "spec.rules[0].from[0].source", "cannot set serviceAccounts with namespaces or principals"},
      {"serviceAccounts wildcard",
       rule("  - from:\n    - source:\n        serviceAccounts: [\"a*\"]\n"),
       "spec.rules[0].from[0].source.serviceAccounts[0]", "wildcard not allowed"},
      {"to without operation", rule("  - to:\n    - {}\n"), "spec.rules[0].to[0].operation",
       "`to.operation` must not be nil, found at rule 0"},
      {"empty operation", rule("  - to:\n    - operation: {}\n"), "spec.rules[0].to[0].operation",
       "`to.operation` must not be empty, found at rule 0"},
      {"port range", rule("  - to:\n    - operation:\n        ports: [\"80-90\"]\n"),
       "spec.rules[0].to[0].operation.ports[0]", "bad port (80-90)"},
      {"port above 65535", rule("  - to:\n    - operation:\n        notPorts: [\"65536\"]\n"),
       "spec.rules[0].to[0].operation.notPorts[0]", "bad port (65536)"},
      {"port 0 validates", rule("  - to:\n    - operation:\n        ports: [\"0\"]\n"), "", ""},
      {"port as a number", rule("  - to:\n    - operation:\n        ports: [80]\n"),
       "spec.rules[0].to[0].operation.ports[0]", "must be a string"},
      {"path template with a literal star",
       rule("  - to:\n    - operation:\n        paths: [\"/a/{*}/b*\"]\n"),
       "spec.rules[0].to[0].operation.paths[0]", "with invalid string literal"},
      {"path template {**} not last",
       rule("  - to:\n    - operation:\n        paths: [\"/{**}/{*}\"]\n"),
       "spec.rules[0].to[0].operation.paths[0]", "{**} is not the last operator"},
      {"brace outside a template", rule("  - to:\n    - operation:\n        paths: [\"/a{b}\"]\n"),
       "spec.rules[0].to[0].operation.paths[0]", "beyond a supported path template"},
      {"path template", rule("  - to:\n    - operation:\n        paths: [\"/api/{*}/x/{**}\"]\n"),
       "", ""},
      {"when without key", rule("  - when:\n    - values: [a]\n"), "spec.rules[0].when[0].key",
       "`key` must not be empty"},
      {"when without values", rule("  - when:\n    - key: source.ip\n"), "spec.rules[0].when[0]",
       "at least one of `values` or `notValues` must be set for key source.ip"},
      {"when unknown key", rule("  - when:\n    - key: source.name\n      values: [a]\n"),
       "spec.rules[0].when[0].key", "unknown attribute: source.name"},
      {"when header key form", rule("  - when:\n    - key: request.headers\n      values: [a]\n"),
       "spec.rules[0].when[0].key", "bad key (request.headers): should have format a[b]"},
      {"when source.ip", rule("  - when:\n    - key: source.ip\n      values: [10.0.0.0/333]\n"),
       "spec.rules[0].when[0].values[0]", "invalid `value` for `key` source.ip"},
      {"when destination.port",
       rule("  - when:\n    - key: destination.port\n      notValues: [\"http\"]\n"),
       "spec.rules[0].when[0].notValues[0]", "invalid `notValue` for `key` destination.port"},
      {"when JWT claim",
       rule("  - when:\n    - key: request.auth.claims[iss]\n      values: [a]\n"),
       "spec.rules[0].when[0].key", "not supported by warden gateway"},
      {"when destination.namespace",
       rule("  - when:\n    - key: destination.namespace\n      values: [a]\n"),
       "spec.rules[0].when[0].key", "replaced by the metadata.namespace"},
      {"when connection.sni",
       rule("  - when:\n    - key: connection.sni\n      values: [\"*.com\"]\n"), "", ""},
      {"null rule", rule("  - null\n"), "spec.rules[0]", "`rule` must not be nil, found at rule 0"},
      {"dry-run on AUDIT",
       Ap("  action: AUDIT\n", "  annotations:\n    istio.io/dry-run: \"true\"\n"),
       "metadata.annotations.istio.io/dry-run",
       "the annotation istio.io/dry-run currently only supports action ALLOW/DENY"},
      {"dry-run not a boolean",
       Ap("  rules:\n  - {}\n", "  annotations:\n    istio.io/dry-run: \"yes\"\n"),
       "metadata.annotations.istio.io/dry-run", "with invalid value (yes)"},
      {"unknown action", Ap("  action: allow\n"), "spec.action", "unsupported value \"allow\""},
      {"unknown field", rule("  - to:\n    - operation:\n        host: [a]\n"),
       "spec.rules[0].to[0].operation.host", "unknown field"},
  };
  for (const Case& c : cases) Check(c);
}

TEST(IstioDecodeTest, IstioApiVersions) {
  for (const char* v :
       {"networking.istio.io/v1", "networking.istio.io/v1beta1", "networking.istio.io/v1alpha3"}) {
    LoadResult r = Load(Object(v, "ServiceEntry", absl::StrCat("  hosts: [a.example]\n", kPorts)));
    EXPECT_THAT(r.errors, IsEmpty()) << v << ErrorsText(r);
    EXPECT_EQ(r.state.service_entries.size(), 1u) << v;
  }
  for (const char* v : {"security.istio.io/v1", "security.istio.io/v1beta1"}) {
    LoadResult r = Load(Object(v, "AuthorizationPolicy", "  rules:\n  - {}\n"));
    EXPECT_THAT(r.errors, IsEmpty()) << v << ErrorsText(r);
    EXPECT_EQ(r.state.authorization_policies.size(), 1u) << v;
  }
  // Not a version Istio serves: refused, never passed over (a DENY policy ignored would loosen
  // enforcement).
  LoadResult r = Load(Object("security.istio.io/v1alpha1", "AuthorizationPolicy", "  {}\n"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].field, "apiVersion");
  EXPECT_THAT(r.errors[0].message, HasSubstr("security.istio.io/v1, security.istio.io/v1beta1"));
  EXPECT_TRUE(r.state.authorization_policies.empty());
}

TEST(IstioDecodeTest, RoutingKindsAreReadAndReportedAsNotNeeded) {
  const std::pair<const char*, const char*> valid[] = {
      {"Gateway",
       "  selector: {istio: egressgateway}\n  servers:\n  - port: {number: 443, name: tls, "
       "protocol: TLS}\n    hosts: [\"*.example.com\"]\n    tls: {mode: PASSTHROUGH}\n"},
      {"VirtualService",
       "  hosts: [example.com]\n  gateways: [mesh, istio-system/egress]\n  http:\n"
       "  - route:\n    - destination: {host: example.com}\n"},
      {"Sidecar",
       "  egress:\n  - hosts: [\"./*\", \"istio-system/*\"]\n  outboundTrafficPolicy: "
       "{mode: REGISTRY_ONLY}\n"}};
  for (const auto& [kind, spec] : valid) {
    LoadResult r = Load(Object("networking.istio.io/v1", kind, spec));
    EXPECT_THAT(r.errors, IsEmpty()) << kind << "\n" << ErrorsText(r);
    EXPECT_THAT(absl::StrJoin(r.notes, "\n"), HasSubstr(absl::StrCat(kind, " read; not needed")))
        << kind;
  }
  // Checked as Istio checks them: a file holding a broken one contributes nothing.
  auto gw = [](const std::string& s) { return Object("networking.istio.io/v1", "Gateway", s); };
  auto vs = [](const std::string& s) {
    return Object("networking.istio.io/v1beta1", "VirtualService", s);
  };
  auto sc = [](const std::string& s) { return Object("networking.istio.io/v1", "Sidecar", s); };
  const std::vector<Case> cases = {
      {"gateway without servers", gw("  selector: {a: b}\n"), "spec.servers",
       "gateway must have at least one server"},
      {"server without hosts", gw("  servers:\n  - port: {number: 80, name: h, protocol: HTTP}\n"),
       "spec.servers[0].hosts", "server config must contain at least one host"},
      {"server port protocol",
       gw("  servers:\n  - port: {number: 80, name: h, protocol: QUIC}\n    hosts: [a.example]\n"),
       "spec.servers[0].port.protocol", "invalid protocol \"QUIC\""},
      {"HTTPS server without tls",
       gw("  servers:\n  - port: {number: 443, name: h, protocol: HTTPS}\n    hosts: "
          "[a.example]\n"),
       "spec.servers[0].tls", "server must have TLS settings for HTTPS/TLS protocols"},
      {"server host namespace",
       gw("  servers:\n  - port: {number: 80, name: h, protocol: HTTP}\n    hosts: "
          "[Bad_NS/a.example]\n"),
       "spec.servers[0].hosts[0]", "invalid namespace value Bad_NS"},
      {"virtual service without hosts", vs("  http:\n  - route:\n    - destination: {host: a}\n"),
       "spec.hosts", "virtual service must have at least one host"},
      {"virtual service without routes", vs("  hosts: [a.example]\n"), "spec",
       "http, tcp or tls must be provided in virtual service"},
      {"http route going nowhere", vs("  hosts: [a.example]\n  http:\n  - match: []\n"),
       "spec.http[0].route", "HTTP route, redirect or direct response is required"},
      {"destination without host",
       vs("  hosts: [a.example]\n  http:\n  - route:\n    - destination: {subset: v1}\n"),
       "spec.http[0].route[0].destination.host", "empty domain name not allowed"},
      {"sidecar host without namespace", sc("  egress:\n  - hosts: [a.example]\n"),
       "spec.egress[0].hosts[0]", "sidecar: hosts must be of form namespace/dnsName"},
      {"sidecar listener without hosts", sc("  egress:\n  - port: {number: 80}\n"),
       "spec.egress[0].hosts", "sidecar: egress listener must contain at least one host"},
      {"sidecar traffic policy", sc("  outboundTrafficPolicy: {mode: DENY}\n"),
       "spec.outboundTrafficPolicy.mode", "unsupported value \"DENY\""},
      {"malformed spec", gw("  - a\n"), "spec", "must be an object"},
  };
  for (const Case& c : cases) Check(c);
}

// Mangled Istio objects (characters replaced by ones YAML gives meaning to, lines cut) never
// crash the reader: each load ends with objects or with errors naming the file, and a file
// with errors contributes nothing.
TEST(IstioDecodeTest, MangledObjectsAreErrorsNotCrashes) {
  const std::string base =
      Se(absl::StrCat("  hosts: [a.example, \"*.b.example\"]\n", kPorts,
                      "  resolution: STATIC\n  endpoints:\n  - address: 192.0.2.1\n"
                      "    ports: {http: 8080}\n  exportTo: [\".\"]\n")) +
      "---\n" +
      Dr("  host: a.example\n  trafficPolicy:\n    tls: {mode: SIMPLE, sni: a.example}\n"
         "    portLevelSettings:\n    - port: {number: 80}\n      tls: {mode: DISABLE}\n") +
      "---\n" +
      Ap("  selector: {matchLabels: {app: g}}\n  action: DENY\n  rules:\n  - from:\n"
         "    - source: {namespaces: [x], ipBlocks: [10.0.0.0/8]}\n    to:\n"
         "    - operation: {hosts: [a.example], paths: [\"/api/{*}\"], ports: [\"80\"]}\n"
         "    when:\n    - key: request.headers[x]\n      values: [\"*\"]\n",
         "  annotations: {istio.io/dry-run: \"true\"}\n");
  ASSERT_THAT(Load(base).errors, IsEmpty()) << ErrorsText(Load(base));
  std::mt19937 rng(3);
  const std::string specials = "{}[]:,-#&*!|>'\"%@` \n\t0x.";
  int with_errors = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text = base;
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % text.size();
      if (rng() % 5 == 0)
        text.resize(at);
      else
        text[at] = specials[rng() % specials.size()];
      if (text.empty()) break;
    }
    LoadResult r = Load(text);
    if (!r.errors.empty()) {
      ++with_errors;
      for (const auto& e : r.errors) EXPECT_EQ(e.file, "istio.yaml");
      EXPECT_TRUE(r.state.service_entries.empty() && r.state.destination_rules.empty() &&
                  r.state.authorization_policies.empty());
    }
  }
  EXPECT_GT(with_errors, 1000);  // the mangling reached the readers' checks
}

}  // namespace
}  // namespace warden::policy
