// Tests of what the gateway evaluates (agent/egress/gateway_config.h): which hosts a namespace
// may reach (ServiceEntry hosts, ports and exportTo), how it connects upstream (DestinationRule
// lookup, port-level settings), which policies apply to the gateway, and the decision order.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/egress/gateway_config.h"
#include "agent/egress/path_normalize.h"
#include "agent/policy/manifest_loader.h"

namespace warden::egress {
namespace {

using policy::TlsMode;

std::string Se(const std::string& ns, const std::string& name, const std::string& spec) {
  return absl::StrCat("---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n",
                      "  name: ", name, "\n  namespace: ", ns, "\nspec:\n", spec);
}
std::string Dr(const std::string& ns, const std::string& name, const std::string& spec) {
  return absl::StrCat("---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n",
                      "metadata:\n  name: ", name, "\n  namespace: ", ns, "\nspec:\n", spec);
}
std::string Ap(const std::string& ns, const std::string& name, const std::string& spec) {
  return absl::StrCat("---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n",
                      "metadata:\n  name: ", name, "\n  namespace: ", ns, "\nspec:\n", spec);
}

const char kHttp80[] = "  ports:\n  - number: 80\n    name: http\n    protocol: HTTP\n";
const char kTls443[] = "  ports:\n  - number: 443\n    name: tls\n    protocol: TLS\n";

class Gateway {
 public:
  explicit Gateway(const std::string& yaml, GatewayOptions o = {}) {
    r_ = policy::LoadManifestTexts({{"g.yaml", yaml}});
    EXPECT_THAT(r_.errors, testing::IsEmpty())
        << (r_.errors.empty() ? "" : r_.errors[0].ToString());
    config_ = std::make_unique<GatewayConfig>(r_.state, std::move(o));
  }
  const GatewayConfig& operator*() const { return *config_; }
  const GatewayConfig* operator->() const { return config_.get(); }

 private:
  policy::LoadResult r_;
  std::unique_ptr<GatewayConfig> config_;
};

Request Get(const std::string& ns, const std::string& authority, const std::string& path = "/",
            uint32_t port = 80) {
  Request r;
  r.source = SourceIdentity{ns, "default", ns + "/app"};
  r.source_ip = *policy::ParseIp("10.0.1.5");
  r.port = port;
  r.method = "GET";
  r.authority = authority;
  r.path = *NormalizePath(path);
  return r;
}

TEST(EgressRegistryTest, HostPatterns) {
  EXPECT_TRUE(HostPatternMatches("example.com", "example.com"));
  EXPECT_TRUE(HostPatternMatches("*.example.com", "a.example.com"));
  EXPECT_TRUE(HostPatternMatches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(HostPatternMatches("*.example.com", "example.com"));
  EXPECT_TRUE(HostPatternMatches("*.com", "anything.com"));
  EXPECT_TRUE(HostPatternMatches("*", "x"));
  auto a = ParseAuthority("Example.COM:8080");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->host, "example.com");
  EXPECT_EQ(a->port, 8080u);
  a = ParseAuthority("[2001:db8::1]:443");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->host, "[2001:db8::1]");
  EXPECT_EQ(a->port, 443u);
  EXPECT_EQ(ParseAuthority("example.com.")->host, "example.com");
  for (const char* bad : {"", ":80", "a:", "a:0", "a:65536", "a:8x", "[::1"})
    EXPECT_FALSE(ParseAuthority(bad).has_value()) << bad;
}

TEST(EgressRegistryTest, RegisteredHostsPortsAndVisibility) {
  Gateway g(Se("team-x", "ex", absl::StrCat("  hosts: [example.com]\n", kHttp80)) +
            Se("istio-system", "wild", absl::StrCat("  hosts: [\"*.example.com\"]\n", kHttp80)) +
            Se("team-y", "private",
               absl::StrCat("  hosts: [httpbin.org]\n", kHttp80, "  exportTo: [\".\"]\n")) +
            Se("team-y", "nobody",
               absl::StrCat("  hosts: [hidden.test]\n", kHttp80, "  exportTo: [\"~\"]\n")) +
            Se("ops", "any", absl::StrCat("  hosts: [\"*.com\"]\n", kTls443)));
  auto verdict = [&](const Request& r) { return g->Decide(r).verdict; };
  EXPECT_EQ(verdict(Get("team-x", "example.com")), Verdict::kAllow);
  EXPECT_EQ(verdict(Get("team-y", "example.com")), Verdict::kAllow);  // exportTo unset: all
  EXPECT_EQ(verdict(Get("team-x", "example.com:80")), Verdict::kAllow);
  EXPECT_EQ(verdict(Get("team-x", "example.com:8080")), Verdict::kUnregistered);
  EXPECT_EQ(verdict(Get("team-x", "example.com", "/", 8080)), Verdict::kUnregistered);
  EXPECT_EQ(verdict(Get("team-x", "api.example.com")), Verdict::kAllow);
  EXPECT_EQ(verdict(Get("team-x", "httpbin.org")), Verdict::kUnregistered);  // exportTo "."
  EXPECT_EQ(verdict(Get("team-y", "httpbin.org")), Verdict::kAllow);
  EXPECT_EQ(verdict(Get("team-y", "hidden.test")), Verdict::kUnregistered);  // exportTo "~"
  EXPECT_EQ(verdict(Get("team-x", "unregistered.test")), Verdict::kUnregistered);
  EXPECT_EQ(g->Decide(Get("team-x", "unregistered.test")).status, 502);
  // *.com registers TLS on 443 only: an HTTP request on 80 for it is not registered.
  EXPECT_EQ(verdict(Get("team-x", "foo.com")), Verdict::kUnregistered);
  Request tls;
  tls.source = SourceIdentity{"team-x", "default", "team-x/app"};
  tls.http = false;
  tls.port = 443;
  tls.sni = "anything.com";
  EXPECT_EQ(verdict(tls), Verdict::kAllow);
  EXPECT_EQ(g->Decide(tls).registration->entry->name, "any");
  tls.sni = "anything.org";
  EXPECT_EQ(verdict(tls), Verdict::kUnregistered);
  // Without an attested identity only what is exported to every namespace is visible.
  Request anon = Get("team-y", "httpbin.org");
  anon.source.reset();
  EXPECT_EQ(verdict(anon), Verdict::kUnregistered);
  EXPECT_EQ(g->Decide(Get("team-x", "bad host")).verdict, Verdict::kBadRequest);
}

TEST(EgressRegistryTest, TheMostSpecificHostAndTheOwnNamespaceWin) {
  Gateway g(Se("a", "broad", absl::StrCat("  hosts: [\"*.example.com\"]\n", kHttp80)) +
            Se("a", "narrow", absl::StrCat("  hosts: [\"*.api.example.com\"]\n", kHttp80)) +
            Se("a", "exact", absl::StrCat("  hosts: [v1.api.example.com]\n", kHttp80)) +
            Se("b", "mine", absl::StrCat("  hosts: [\"*.api.example.com\"]\n", kHttp80)) +
            Se("a", "partial", absl::StrCat("  hosts: [\"*ample.com\"]\n", kHttp80)));
  auto entry = [&](const std::string& ns, const std::string& host) {
    return g->Decide(Get(ns, host)).registration->entry->Key();
  };
  EXPECT_EQ(entry("c", "v1.api.example.com"), "a/exact");
  EXPECT_EQ(entry("c", "v2.api.example.com"), "a/narrow");
  EXPECT_EQ(entry("b", "v2.api.example.com"), "b/mine");  // its own namespace first
  EXPECT_EQ(entry("c", "www.example.com"), "a/broad");
  // A partial wildcard (Istio warns, accepts): a suffix that does not start at a dot.
  EXPECT_EQ(entry("c", "sample.com"), "a/partial");
  EXPECT_EQ(entry("c", "x.example.com"), "a/broad");  // the longer suffix first
}

TEST(EgressRegistryTest, DestinationRuleLookup) {
  const std::string ses =
      Se("team-x", "ex",
         "  hosts: [example.com, api.example.com]\n  ports:\n  - number: 80\n    name: http\n"
         "    protocol: HTTP\n    targetPort: 443\n  - number: 8080\n    name: alt\n"
         "    protocol: HTTP\n");
  auto tls = [](const char* mode) {
    return absl::StrCat("  trafficPolicy:\n    tls:\n      mode: ", mode, "\n");
  };
  {
    Gateway g(ses + Dr("team-x", "simple", absl::StrCat("  host: example.com\n", tls("SIMPLE"))));
    GatewayVerdict v = g->Decide(Get("team-y", "example.com"));
    EXPECT_EQ(v.upstream.tls, TlsMode::kSimple);  // the service's namespace, exported to all
    EXPECT_EQ(v.upstream.port, 443u);             // the port's targetPort
    EXPECT_EQ(g->Decide(Get("team-y", "api.example.com")).upstream.tls, TlsMode::kDisable);
  }
  {
    // The client's namespace comes first, even with a less specific host.
    Gateway g(ses + Dr("team-x", "simple", absl::StrCat("  host: example.com\n", tls("SIMPLE"))) +
              Dr("team-y", "off", absl::StrCat("  host: \"*.com\"\n", tls("DISABLE"))));
    EXPECT_EQ(g->Decide(Get("team-y", "example.com")).upstream.tls, TlsMode::kDisable);
    EXPECT_EQ(g->Decide(Get("team-z", "example.com")).upstream.tls, TlsMode::kSimple);
  }
  {
    // Not exported to the client: the root namespace's applies instead; the most specific host
    // of a namespace is taken before its exportTo is looked at, with no falling back to a less
    // specific host there (Istio's lookup).
    Gateway g(
        ses +
        Dr("team-x", "private",
           absl::StrCat("  host: example.com\n", tls("SIMPLE"), "  exportTo: [\".\"]\n")) +
        Dr("istio-system", "mesh",
           absl::StrCat("  host: \"*.example.com\"\n", tls("SIMPLE"), "  exportTo: [\"*\"]\n")) +
        Dr("istio-system", "only-x",
           absl::StrCat("  host: example.com\n", tls("SIMPLE"), "  exportTo: [team-x]\n")));
    EXPECT_EQ(g->Decide(Get("team-x", "example.com")).upstream.rule->name, "private");
    GatewayVerdict v = g->Decide(Get("team-y", "example.com"));
    EXPECT_EQ(v.upstream.tls, TlsMode::kDisable);
    EXPECT_EQ(v.upstream.rule, nullptr);
    v = g->Decide(Get("team-y", "api.example.com"));
    EXPECT_EQ(v.upstream.tls, TlsMode::kSimple);
    ASSERT_NE(v.upstream.rule, nullptr);
    EXPECT_EQ(v.upstream.rule->name, "mesh");
  }
  {
    // A port's settings replace the whole policy for that port.
    Gateway g(ses + Dr("team-x", "ports",
                       absl::StrCat("  host: example.com\n", tls("SIMPLE"),
                                    "    portLevelSettings:\n    - port:\n        number: 8080\n"
                                    "      loadBalancer:\n        simple: ROUND_ROBIN\n")));
    EXPECT_EQ(g->Decide(Get("team-y", "example.com")).upstream.tls, TlsMode::kSimple);
    EXPECT_EQ(g->Decide(Get("team-y", "example.com", "/", 8080)).upstream.tls, TlsMode::kDisable);
  }
}

TEST(EgressGatewayTest, WhichPoliciesApply) {
  const std::string deny_all = "  action: DENY\n  rules:\n  - {}\n";
  Gateway g(
      Se("team-x", "ex", absl::StrCat("  hosts: [example.com]\n", kHttp80)) +
      Ap("team-x", "elsewhere", deny_all) +  // not the gateway's namespace
      Ap("warden-egress", "other-pods",
         absl::StrCat("  selector:\n    matchLabels: {app: other}\n", deny_all)) +
      Ap("istio-system", "mesh-other",
         absl::StrCat("  selector:\n    matchLabels: {app: other}\n", deny_all)) +
      Ap("warden-egress", "other-gateway",
         absl::StrCat("  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n"
                      "    name: someone-else\n",
                      deny_all)) +
      Ap("warden-egress", "ours",
         "  targetRefs:\n  - kind: Gateway\n    group: gateway.networking.k8s.io\n"
         "    name: warden-gateway\n  rules:\n  - {}\n") +
      Ap("istio-system", "mesh",
         "  rules:\n  - to:\n    - operation:\n"
         "        hosts: [example.com]\n"));
  std::vector<std::string> names;
  for (const auto* p : g->policies()) names.push_back(p->Key());
  EXPECT_THAT(names, testing::ElementsAre("istio-system/mesh", "warden-egress/ours"));
  EXPECT_EQ(g->Decide(Get("team-x", "example.com")).verdict, Verdict::kAllow);
}

TEST(EgressGatewayTest, UnregisteredBeforeAuthorizationAndTheIndex) {
  Gateway g(Se("team-x", "ex", absl::StrCat("  hosts: [example.com, httpbin.org]\n", kHttp80)) +
            Ap("istio-system", "x",
               "  rules:\n  - from:\n    - source:\n"
               "        namespaces: [team-x]\n    to:\n    - operation:\n"
               "        hosts: [example.com]\n") +
            Ap("istio-system", "y",
               "  rules:\n  - from:\n    - source:\n"
               "        namespaces: [team-y]\n    to:\n    - operation:\n"
               "        hosts: [httpbin.org]\n        paths: [/status/418]\n"));
  GatewayVerdict v = g->Decide(Get("team-x", "example.com"));
  EXPECT_EQ(v.verdict, Verdict::kAllow);
  EXPECT_EQ(v.status, 200);
  EXPECT_EQ(v.authz.decided_by->policy->name, "x");
  v = g->Decide(Get("team-x", "httpbin.org", "/status/418"));
  EXPECT_EQ(v.verdict, Verdict::kDeny);
  EXPECT_EQ(v.status, 403);
  // Both policies are indexed by their hosts: a request for httpbin.org is checked against y
  // alone, and still denied when y does not match (an ALLOW policy applies to the gateway).
  EXPECT_EQ(g->Decide(Get("team-y", "httpbin.org", "/get")).verdict, Verdict::kDeny);
  EXPECT_EQ(g->Decide(Get("team-y", "httpbin.org", "/status/418")).verdict, Verdict::kAllow);
  EXPECT_EQ(g->Decide(Get("team-y", "HTTPBIN.org", "/status/418")).verdict, Verdict::kAllow);
  v = g->Decide(Get("team-x", "unregistered.test"));
  EXPECT_EQ(v.verdict, Verdict::kUnregistered);
  EXPECT_EQ(v.status, 502);
}

TEST(EgressGatewayTest, TcpByAddressAndPodsOnNodes) {
  Gateway g(Se("db", "pg",
               "  hosts: [pg.example]\n  addresses: [192.0.2.0/24]\n"
               "  ports:\n  - number: 5432\n    name: pg\n    protocol: TCP\n"
               "  resolution: STATIC\n") +
            Se("db", "pg-one",
               "  hosts: [one.example]\n  addresses: [192.0.2.7]\n"
               "  ports:\n  - number: 5432\n    name: pg\n    protocol: TCP\n"
               "  resolution: STATIC\n") +
            Se("db", "any-3306",
               "  hosts: [mysql.example]\n  ports:\n  - number: 3306\n"
               "    name: my\n    protocol: TCP\n") +
            "---\napiVersion: v1\nkind: Pod\nmetadata: {name: app, namespace: team-x}\n"
            "spec: {nodeName: n1, serviceAccountName: sa1, containers: [{name: c}]}\n"
            "---\napiVersion: v1\nkind: Pod\nmetadata: {name: host, namespace: team-x}\n"
            "spec: {nodeName: n1, hostNetwork: true, containers: [{name: c}]}\n");
  Request tcp;
  tcp.source = SourceIdentity{"team-x", "default", "team-x/app"};
  tcp.http = false;
  tcp.port = 5432;
  tcp.destination_ip = *policy::ParseIp("192.0.2.9");
  EXPECT_EQ(g->Decide(tcp).registration->entry->name, "pg");
  tcp.destination_ip = *policy::ParseIp("192.0.2.7");
  EXPECT_EQ(g->Decide(tcp).registration->entry->name, "pg-one");  // the longer prefix
  tcp.destination_ip = *policy::ParseIp("198.51.100.1");
  EXPECT_EQ(g->Decide(tcp).verdict, Verdict::kUnregistered);
  tcp.port = 3306;  // NONE without addresses: every address on the port
  EXPECT_EQ(g->Decide(tcp).registration->entry->name, "any-3306");
  // The pods a node may speak for.
  auto id = g->PodOnNode("n1", "team-x/app");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->service_account, "sa1");
  EXPECT_EQ(g->PodOnNode("n2", "team-x/app").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(g->PodOnNode("n1", "team-x/host").status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(g->PodOnNode("n1", "team-x/none").status().code(), absl::StatusCode::kNotFound);
}

// The index must not change a decision: the same requests against the same policies, decided
// with the index (by host, by source namespace) and by evaluating every policy; HTTP requests,
// TLS connections, and sources with and without an identity.
TEST(EgressGatewayTest, TheIndexDecidesAsEveryPolicyWould) {
  std::string yaml = Se("a", "hosts",
                        absl::StrCat("  hosts: [\"*.example\"]\n", kHttp80,
                                     "  - number: 443\n    name: tls\n"
                                     "    protocol: TLS\n"));
  const char* hosts[] = {"h1.example", "h2.example", "h3.example", "H1.example"};
  for (int i = 0; i < 24; ++i) {
    std::string spec = i % 3 == 0 ? "  action: DENY\n" : "";
    absl::StrAppend(&spec, "  rules:\n");
    if (i % 6 == 5) {  // by namespace only
      absl::StrAppend(&spec, "  - from:\n    - source:\n        namespaces: [n", i % 2,
                      "]\n    to:\n    - operation:\n        paths: [/p", i % 5, "]\n");
    } else {
      absl::StrAppend(&spec, "  - to:\n    - operation:\n        hosts: [", hosts[i % 4],
                      "]\n        paths: [/p", i % 5, "]\n");
      if (i % 4 == 1)
        absl::StrAppend(&spec, "    from:\n    - source:\n        namespaces: [n", i % 2, "]\n");
      if (i % 8 == 2)
        absl::StrAppend(&spec, "  - from:\n    - source:\n        ipBlocks: [10.0.1.0/24]\n");
    }
    yaml += Ap("istio-system", absl::StrCat("p", i), spec);
  }
  Gateway g(yaml);
  int allowed = 0, denied = 0;
  for (const char* h : {"h1.example", "h2.example", "h3.example", "h4.example", "H2.EXAMPLE"}) {
    for (int p = 0; p < 6; ++p) {
      for (const char* ns : {"n0", "n1", "n2", ""}) {
        for (bool http : {true, false}) {
          Request r = Get(ns, h, absl::StrCat("/p", p), http ? 80 : 443);
          if (!*ns) r.source.reset();
          if (std::string(ns) == "n1") r.source_ip.reset();
          if (!http) {
            r.http = false;
            r.sni = h;
          }
          AuthzDecision all = Authorize(g->policies(), r, {});
          GatewayVerdict v = g->Decide(r);
          ASSERT_NE(v.verdict, Verdict::kUnregistered) << h;
          EXPECT_EQ(v.authz.allowed, all.allowed) << h << " /p" << p << " " << ns << " " << http;
          EXPECT_EQ(v.authz.reason, all.reason) << h << " /p" << p << " " << ns << " " << http;
          (all.allowed ? allowed : denied)++;
        }
      }
    }
  }
  // Both answers occur, so the comparison means something.
  EXPECT_GT(allowed, 10);
  EXPECT_GT(denied, 10);
}

}  // namespace
}  // namespace warden::egress
