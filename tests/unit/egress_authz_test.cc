// Tests of the gateway's authorization semantics (agent/egress/): Istio's value forms, path
// normalization, how sources, operations and conditions combine, DENY before ALLOW, AUDIT and
// dry-run, requests without an attested identity, and connections that are not HTTP.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/egress/authz.h"
#include "agent/egress/path_normalize.h"
#include "agent/egress/string_match.h"
#include "agent/policy/manifest_loader.h"

namespace warden::egress {
namespace {

using policy::AuthorizationPolicy;

// ---- value forms ----------------------------------------------------------------------------

TEST(EgressStringMatchTest, Forms) {
  struct Case {
    const char* value;
    const char* actual;
    bool ignore_case;
    bool want;
  };
  const Case cases[] = {
      {"example.com", "example.com", false, true},
      {"example.com", "Example.COM", true, true},
      {"example.com", "Example.COM", false, false},
      {"example.com", "example.com:80", true, false},  // Istio does not strip the port
      {"*.example.com", "a.example.com", true, true},
      {"*.example.com", "a.b.example.com", true, true},
      {"*.example.com", "example.com", true, false},
      {"*example.com", "badexample.com", false, true},
      {"example.*", "example.org", false, true},
      {"/status/*", "/status/418", false, true},
      {"/status/*", "/status", false, false},
      {"*", "x", false, true},
      {"*", "", false, false},
      {"a*b", "a*b", false, true},  // a star inside is a literal
      {"a*b", "axxb", false, false},
  };
  for (const Case& c : cases)
    EXPECT_EQ(StringMatches(c.value, c.actual, StringMatchOptions{.ignore_case = c.ignore_case}),
              c.want)
        << c.value << " vs " << c.actual;
}

TEST(EgressStringMatchTest, PathTemplates) {
  EXPECT_TRUE(PathMatches("/api/{*}/items", "/api/v1/items"));
  EXPECT_FALSE(PathMatches("/api/{*}/items", "/api/v1/x/items"));  // one segment
  EXPECT_FALSE(PathMatches("/api/{*}/items", "/api//items"));      // not empty
  EXPECT_TRUE(PathMatches("/foo/{**}", "/foo/"));
  EXPECT_TRUE(PathMatches("/foo/{**}", "/foo/a/b"));
  EXPECT_FALSE(PathMatches("/foo/{**}", "/foo"));
  EXPECT_TRUE(PathMatches("/{**}/x", "/a/b/x"));
  EXPECT_FALSE(PathMatches("/{*}", "/a?b"));  // '?' is not a path character
}

TEST(EgressStringMatchTest, NamespaceGlob) {
  const std::string uri = "spiffe://cluster.local/ns/team-x/sa/default";
  EXPECT_TRUE(GlobMatches("*/ns/team-x/*", uri));
  EXPECT_TRUE(GlobMatches("*/ns/team-*/*", uri));
  EXPECT_TRUE(GlobMatches("*/ns/*-x/*", uri));
  EXPECT_TRUE(GlobMatches("*/ns/*/*", uri));
  EXPECT_FALSE(GlobMatches("*/ns/team-y/*", uri));
  EXPECT_FALSE(GlobMatches("*/ns/team/*", uri));
}

// ---- path normalization ---------------------------------------------------------------------

TEST(EgressPathTest, NormalizesAsIstiosBase) {
  struct Case {
    const char* target;
    const char* want;
  };
  const Case cases[] = {
      {"/status/418", "/status/418"},
      {"/a/./b/../c", "/a/c"},
      {"/a/b/..", "/a/"},
      {"/..", "/"},
      {"/../../etc/passwd", "/etc/passwd"},
      {"/%2E%2E/admin", "/admin"},
      {"/a/%2e/b", "/a/b"},
      {"\\admin", "/admin"},
      {"/a\\..\\admin", "/admin"},
      {"/%61dmin", "/admin"},
      {"/a%2fb", "/a%2Fb"},  // an encoded slash stays encoded (BASE)
      {"/a//b", "/a//b"},    // BASE does not merge slashes
      {"/a%7Eb", "/a~b"},
      {"/status/418?x=1#f", "/status/418"},
  };
  for (const Case& c : cases) {
    auto got = NormalizePath(c.target);
    ASSERT_TRUE(got.ok()) << c.target << ": " << got.status();
    EXPECT_EQ(*got, c.want) << c.target;
  }
  EXPECT_EQ(QueryOf("/a?x=1&y=2#f"), "x=1&y=2");
  for (const char* bad : {"", "status", "/a%00b", "/a b", "/a\x01", "/caf\xc3\xa9", "http://x/",
                          "/a%zz", "/a%4", "/%%41"})
    EXPECT_FALSE(NormalizePath(bad).ok()) << bad;
}

// Random targets: a normalized path never errs on a second pass, is its own normalization, holds
// no "." or ".." segment, no backslash, and no escape of an unreserved character; the query is
// never part of it.
TEST(EgressPathTest, NormalizationInvariantsOnRandomTargets) {
  std::mt19937 rng(5);
  const std::vector<std::string> atoms = {"/",   "\\",  ".",   "..",  "a",   "B",   "%2e",
                                          "%2E", "%2f", "%41", "%7e", "%zz", "%",   "?",
                                          "#",   "~",   "-",   "%00", " ",   "\x7f"};
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string t = "/";
    const int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) t += atoms[rng() % atoms.size()];
    auto p = NormalizePath(t);
    if (!p.ok()) continue;
    ++accepted;
    auto again = NormalizePath(*p);
    ASSERT_TRUE(again.ok()) << t << " -> " << *p;
    EXPECT_EQ(*again, *p) << t;
    EXPECT_EQ(p->front(), '/') << t;
    EXPECT_EQ(p->find('\\'), std::string::npos) << t;
    EXPECT_EQ(p->find_first_of("?#"), std::string::npos) << t;
    for (const char* bad : {"/./", "/../"})
      EXPECT_EQ((*p + "/").find(bad), std::string::npos) << t << " -> " << *p;
    for (const char* esc : {"%2e", "%2E", "%41", "%7e"})
      EXPECT_EQ(p->find(esc), std::string::npos) << t << " -> " << *p;
  }
  EXPECT_GT(accepted, 5000);  // the invariants were checked on many paths
}

// ---- policies -------------------------------------------------------------------------------

// The policies of `yaml` (AuthorizationPolicies, read as the manifests loader reads them).
class Policies {
 public:
  explicit Policies(const std::string& yaml) {
    result_ = policy::LoadManifestTexts({{"p.yaml", yaml}});
    EXPECT_THAT(result_.errors, testing::IsEmpty())
        << (result_.errors.empty() ? "" : result_.errors[0].ToString());
    for (const auto& [k, p] : result_.state.authorization_policies) list_.push_back(&p);
  }
  const std::vector<const AuthorizationPolicy*>& list() const { return list_; }

 private:
  policy::LoadResult result_;
  std::vector<const AuthorizationPolicy*> list_;
};

std::string Policy(const std::string& name, const std::string& spec, const std::string& meta = "") {
  return absl::StrCat("---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n",
                      "metadata:\n  name: ", name, "\n  namespace: istio-system\n", meta, "spec:\n",
                      spec);
}

Request Http(const std::string& ns, const std::string& method, const std::string& authority,
             const std::string& path) {
  Request r;
  r.source = SourceIdentity{ns, "default", ns + "/app"};
  r.source_ip = *policy::ParseIp("10.0.1.5");
  r.destination_ip = *policy::ParseIp("203.0.113.20");
  r.port = 80;
  r.method = method;
  r.authority = authority;
  r.path = *NormalizePath(path);
  return r;
}

bool Allowed(const Policies& p, const Request& r) { return Authorize(p.list(), r, {}).allowed; }

// The reference scenario's policies: team-x may reach example.com; team-y only
// httpbin.org/status/418.
TEST(EgressAuthzTest, TheScenariosPolicies) {
  Policies p(Policy("team-x",
                    "  rules:\n  - from:\n    - source:\n        namespaces: [team-x]\n"
                    "    to:\n    - operation:\n        hosts: [example.com]\n") +
             Policy("team-y",
                    "  rules:\n  - from:\n    - source:\n        namespaces: [team-y]\n"
                    "    to:\n    - operation:\n        hosts: [httpbin.org]\n"
                    "        paths: [/status/418]\n"));
  EXPECT_TRUE(Allowed(p, Http("team-x", "GET", "example.com", "/")));
  EXPECT_FALSE(Allowed(p, Http("team-x", "GET", "httpbin.org", "/status/418")));
  EXPECT_TRUE(Allowed(p, Http("team-y", "GET", "httpbin.org", "/status/418")));
  EXPECT_FALSE(Allowed(p, Http("team-y", "GET", "httpbin.org", "/get")));
  EXPECT_FALSE(Allowed(p, Http("team-y", "GET", "example.com", "/")));
  // The path is normalized before it is matched; the query is not part of it.
  EXPECT_TRUE(Allowed(p, Http("team-y", "GET", "httpbin.org", "/x/../status/418?a=1")));
  EXPECT_TRUE(Allowed(p, Http("team-y", "GET", "httpbin.org", "/status/%34%31%38")));
  EXPECT_FALSE(Allowed(p, Http("team-y", "GET", "httpbin.org", "/status/418/")));
  // The authority is compared as sent (case aside): a port makes it another host.
  EXPECT_TRUE(Allowed(p, Http("team-x", "GET", "EXAMPLE.com", "/")));
  EXPECT_FALSE(Allowed(p, Http("team-x", "GET", "example.com:80", "/")));
  AuthzDecision d = Authorize(p.list(), Http("team-x", "GET", "example.com", "/"), {});
  ASSERT_TRUE(d.decided_by.has_value());
  EXPECT_EQ(d.decided_by->Name(), "istio-system/team-x rule 0");
  d = Authorize(p.list(), Http("team-x", "GET", "httpbin.org", "/"), {});
  EXPECT_FALSE(d.decided_by.has_value());
  EXPECT_EQ(d.reason, "denied: no ALLOW policy matched");
}

TEST(EgressAuthzTest, NoPoliciesAllowEverything) {
  Policies none("");
  AuthzDecision d = Authorize(none.list(), Http("team-x", "GET", "a.example", "/"), {});
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.reason, "allowed: no ALLOW policy applies");
}

TEST(EgressAuthzTest, AllowWithoutRulesAllowsNothingAndEmptyRuleAllowsAll) {
  EXPECT_FALSE(Allowed(Policies(Policy("none", "  {}\n")), Http("a", "GET", "h", "/")));
  EXPECT_TRUE(Allowed(Policies(Policy("all", "  rules:\n  - {}\n")), Http("a", "GET", "h", "/")));
  EXPECT_FALSE(Allowed(Policies(Policy("deny-all", "  action: DENY\n  rules:\n  - {}\n") +
                                Policy("all", "  rules:\n  - {}\n")),
                       Http("a", "GET", "h", "/")));
}

TEST(EgressAuthzTest, DenyComesBeforeAllow) {
  Policies p(Policy("allow", "  rules:\n  - to:\n    - operation:\n        hosts: [\"*\"]\n") +
             Policy("deny",
                    "  action: DENY\n  rules:\n  - to:\n    - operation:\n"
                    "        methods: [DELETE]\n"));
  EXPECT_TRUE(Allowed(p, Http("a", "GET", "h", "/")));
  AuthzDecision d = Authorize(p.list(), Http("a", "DELETE", "h", "/"), {});
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.reason, "denied by DENY policy istio-system/deny rule 0");
  EXPECT_TRUE(Allowed(p, Http("a", "delete", "h", "/")));  // methods are case-sensitive
}

TEST(EgressAuthzTest, AuditAndDryRunNeverDecide) {
  Policies p(Policy("audit", "  action: AUDIT\n  rules:\n  - {}\n") +
             Policy("dry", "  action: DENY\n  rules:\n  - {}\n",
                    "  annotations:\n    istio.io/dry-run: \"true\"\n"));
  AuthzDecision d = Authorize(p.list(), Http("a", "GET", "h", "/"), {});
  EXPECT_TRUE(d.allowed);
  ASSERT_EQ(d.audited.size(), 1u);
  EXPECT_EQ(d.audited[0].policy->name, "audit");
  ASSERT_EQ(d.dry_run_matched.size(), 1u);
  EXPECT_EQ(d.dry_run_allowed, false);
  // Only dry-run ALLOW policies: none enforced, so the request is allowed.
  Policies dry_allow(Policy("dry", "  rules:\n  - to:\n    - operation:\n        hosts: [x]\n",
                            "  annotations:\n    istio.io/dry-run: \"true\"\n"));
  d = Authorize(dry_allow.list(), Http("a", "GET", "h", "/"), {});
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.dry_run_allowed, false);
}

TEST(EgressAuthzTest, FromToWhenCombine) {
  // Two sources (OR), fields inside one (AND), values inside one field (OR), notValues.
  Policies p(Policy(
      "p",
      "  rules:\n  - from:\n    - source:\n        namespaces: [team-x]\n"
      "        notIpBlocks: [10.0.9.0/24]\n    - source:\n        ipBlocks: [10.0.2.0/24]\n"
      "    to:\n    - operation:\n        methods: [GET, HEAD]\n        notPaths: [/admin*]\n"
      "    when:\n    - key: request.headers[x-team]\n      values: [\"*\"]\n"
      "    - key: destination.port\n      values: [\"80\"]\n"));
  Request r = Http("team-x", "GET", "h", "/");
  r.headers.emplace("x-team", "a");
  EXPECT_TRUE(Allowed(p, r));
  Request no_header = Http("team-x", "GET", "h", "/");
  EXPECT_FALSE(Allowed(p, no_header));
  Request admin = r;
  admin.path = *NormalizePath("/./admin/x");
  EXPECT_FALSE(Allowed(p, admin));
  Request post = r;
  post.method = "POST";
  EXPECT_FALSE(Allowed(p, post));
  Request other_ns = r;
  other_ns.source->ns = "team-y";
  EXPECT_FALSE(Allowed(p, other_ns));
  other_ns.source_ip = *policy::ParseIp("10.0.2.7");  // the second source
  EXPECT_TRUE(Allowed(p, other_ns));
  Request excluded = r;
  excluded.source_ip = *policy::ParseIp("10.0.9.1");
  EXPECT_FALSE(Allowed(p, excluded));
  Request port = r;
  port.port = 8080;
  EXPECT_FALSE(Allowed(p, port));
}

TEST(EgressAuthzTest, RepeatedHeadersAreJoined) {
  Policies p(Policy("p",
                    "  rules:\n  - when:\n    - key: request.headers[X-Env]\n"
                    "      values: [\"prod,canary\"]\n"));
  Request r = Http("a", "GET", "h", "/");
  r.headers.emplace("x-env", "prod");
  r.headers.emplace("x-env", "canary");
  EXPECT_TRUE(Allowed(p, r));
  Request one = Http("a", "GET", "h", "/");
  one.headers.emplace("x-env", "prod");
  EXPECT_FALSE(Allowed(p, one));
}

TEST(EgressAuthzTest, PrincipalsAndServiceAccounts) {
  Policies p(
      Policy("p",
             "  rules:\n  - from:\n    - source:\n"
             "        principals: [cluster.local/ns/team-x/sa/app]\n") +
      Policy("sa", "  rules:\n  - from:\n    - source:\n        serviceAccounts: [team-y/api]\n"));
  Request r = Http("team-x", "GET", "h", "/");
  r.source->service_account = "app";
  EXPECT_TRUE(Allowed(p, r));
  // Another trust domain for the mesh: cluster.local in a policy still means this mesh.
  EXPECT_TRUE(Authorize(p.list(), r,
                        AuthzOptions{.trust_domain = "corp.example", .trust_domain_aliases = {}})
                  .allowed);
  // A policy naming an alias of the mesh's trust domain means this mesh too; another does not.
  Policies alias(Policy("p",
                        "  rules:\n  - from:\n    - source:\n"
                        "        principals: [old.example/ns/team-x/sa/app]\n"));
  EXPECT_FALSE(Authorize(alias.list(), r,
                         AuthzOptions{.trust_domain = "corp.example", .trust_domain_aliases = {}})
                   .allowed);
  EXPECT_TRUE(Authorize(alias.list(), r,
                        AuthzOptions{.trust_domain = "corp.example",
                                     .trust_domain_aliases = {"old.example"}})
                  .allowed);
  r.source->service_account = "default";
  EXPECT_FALSE(Allowed(p, r));
  Request y = Http("team-y", "GET", "h", "/");
  y.source->service_account = "api";
  EXPECT_TRUE(Allowed(p, y));
  // A prefix form over the spiffe URI.
  Policies prefix(Policy("p",
                         "  rules:\n  - from:\n    - source:\n"
                         "        principals: [cluster.local/ns/team-x/*]\n"));
  EXPECT_TRUE(Allowed(prefix, Http("team-x", "GET", "h", "/")));
  EXPECT_FALSE(Allowed(prefix, Http("team-xy", "GET", "h", "/")));
}

TEST(EgressAuthzTest, WithoutAnAttestedIdentity) {
  Policies p(Policy("p", "  rules:\n  - from:\n    - source:\n        namespaces: [\"*\"]\n"));
  Request anon = Http("a", "GET", "h", "/");
  anon.source.reset();
  EXPECT_FALSE(Allowed(p, anon));
  // notNamespaces matches a request with no identity (NOT of a failed match).
  Policies not_ns(Policy("p", "  rules:\n  - from:\n    - source:\n        notNamespaces: [a]\n"));
  EXPECT_TRUE(Allowed(not_ns, anon));
  EXPECT_FALSE(Allowed(not_ns, Http("a", "GET", "h", "/")));
  // A rule naming no identity still applies.
  Policies ip(Policy("p", "  rules:\n  - from:\n    - source:\n        ipBlocks: [10.0.1.0/24]\n"));
  EXPECT_TRUE(Allowed(ip, anon));
}

TEST(EgressAuthzTest, ConnectionsThatAreNotHttp) {
  Request tls;
  tls.source = SourceIdentity{"team-x", "default", "team-x/app"};
  tls.source_ip = *policy::ParseIp("10.0.1.5");
  tls.port = 443;
  tls.http = false;
  tls.sni = "api.example.com";
  // ALLOW: a rule using an HTTP field is skipped on a TLS or TCP connection.
  Policies hosts(
      Policy("p", "  rules:\n  - to:\n    - operation:\n        hosts: [api.example.com]\n"));
  EXPECT_FALSE(Allowed(hosts, tls));
  Policies sni(Policy("p",
                      "  rules:\n  - when:\n    - key: connection.sni\n"
                      "      values: [\"*.example.com\"]\n"));
  EXPECT_TRUE(Allowed(sni, tls));
  tls.sni = "api.example.org";
  EXPECT_FALSE(Allowed(sni, tls));
  // DENY: the HTTP field is dropped, so the rule matches every connection on the port.
  Policies deny(Policy("all", "  rules:\n  - {}\n") +
                Policy("d",
                       "  action: DENY\n  rules:\n  - to:\n    - operation:\n"
                       "        methods: [GET]\n        ports: [\"443\"]\n"));
  EXPECT_FALSE(Allowed(deny, tls));
  tls.port = 8443;
  EXPECT_TRUE(Allowed(deny, tls));
}

}  // namespace
}  // namespace warden::egress
