#include "agent/egress/authz.h"

#include <functional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/egress/string_match.h"

namespace warden::egress {
namespace {

using policy::AuthorizationPolicy;
using policy::AuthzAction;
using policy::AuthzCondition;
using policy::AuthzOperation;
using policy::AuthzRule;
using policy::AuthzSource;
using policy::Values;

// A condition's verdict; kDropped: it names an HTTP attribute on a connection that is not HTTP,
// in a DENY or AUDIT rule, where Istio leaves the condition out (the rule grows broader).
enum class Match { kNo, kYes, kDropped };

// What evaluating one rule needs besides the request.
struct Context {
  Context(const Request& r, const AuthzOptions& opts) : req(r), o(opts) {}
  // "spiffe://td/ns/NS/sa/SA", empty without an identity; built when first needed.
  const std::string& Uri() const {
    if (!uri && req.source) uri = "spiffe://" + PrincipalOf(*req.source, o.trust_domain);
    if (!uri) uri.emplace();
    return *uri;
  }
  void For(const AuthorizationPolicy& p) {
    policy = &p;
    deny_like = p.action != AuthzAction::kAllow;
  }
  const Request& req;
  const AuthzOptions& o;
  const AuthorizationPolicy* policy = nullptr;  // the one being evaluated
  bool deny_like = false;  // DENY or AUDIT: an HTTP-only condition on TCP is dropped, not failing
  mutable std::optional<std::string> uri;
};

template <typename F>
bool AnyOf(const Values& values, const F& one) {
  for (const auto& v : values) {
    if (one(v)) return true;
  }
  return false;
}

// values and notValues of one field: OR of values (when given) AND NOT OR of notValues.
template <typename F>
Match Field(const Values& values, const Values& not_values, const F& one) {
  if (!values.empty() && !AnyOf(values, one)) return Match::kNo;
  if (!not_values.empty() && AnyOf(not_values, one)) return Match::kNo;
  return Match::kYes;
}

// An HTTP-only field on a connection that is not HTTP: the rule fails for ALLOW, the condition
// is dropped for DENY and AUDIT.
template <typename F>
Match HttpField(const Context& c, const Values& values, const Values& not_values, const F& one) {
  if (values.empty() && not_values.empty()) return Match::kYes;
  if (!c.req.http) return c.deny_like ? Match::kDropped : Match::kNo;
  return Field(values, not_values, one);
}

// ---- the source's identity ------------------------------------------------------------------

// A principal value: "spiffe://" + value with Istio's forms; a trust domain of the mesh (or an
// alias, or cluster.local) names this mesh's.
bool PrincipalMatches(const Context& c, const std::string& value) {
  if (!c.req.source) return false;  // no attested identity: no authenticated principal
  if (value == "*") return true;
  std::string v = value;
  std::vector<absl::string_view> parts = absl::StrSplit(value, '/');
  if (parts.size() == 5 && parts[0] != "*") {
    bool local = parts[0] == c.o.trust_domain || parts[0] == "cluster.local";
    for (const auto& a : c.o.trust_domain_aliases) local |= parts[0] == a;
    if (local)
      v = absl::StrCat(c.o.trust_domain, "/", parts[1], "/", parts[2], "/", parts[3], "/",
                       parts[4]);
  }
  return StringMatches("spiffe://" + v, c.Uri(), StringMatchOptions{});
}

// A namespace value: Istio matches the principal against the regular expression
// ".*/ns/<value>/.*", each '*' of the value standing for ".*".
bool NamespaceMatches(const Context& c, const std::string& value) {
  if (!c.req.source) return false;
  // Without a '*' the expression holds exactly when the namespace is the value: a trust domain,
  // a namespace and a service account hold no '/'.
  if (value.find('*') == std::string::npos) return c.req.source->ns == value;
  return GlobMatches("*/ns/" + value + "/*", c.Uri());
}

// "sa" (the policy's namespace) or "ns/sa".
bool ServiceAccountMatches(const Context& c, const std::string& value) {
  if (!c.req.source) return false;
  const size_t slash = value.find('/');
  const std::string ns = slash == std::string::npos ? c.policy->ns : value.substr(0, slash);
  const std::string sa = slash == std::string::npos ? value : value.substr(slash + 1);
  return c.req.source->ns == ns && c.req.source->service_account == sa;
}

bool IpMatches(const std::optional<policy::IpAddress>& ip, const std::string& value) {
  if (!ip) return false;
  if (value.find('/') != std::string::npos) {
    auto cidr = policy::ParseCidr(value);
    return cidr.ok() && cidr->Contains(*ip);
  }
  auto one = policy::ParseIp(value);
  return one.ok() && *one == *ip;
}

bool PortMatches(uint32_t port, const std::string& value) {
  uint32_t v = 0;
  return absl::SimpleAtoi(value, &v) && v == port;
}

Match SourceMatches(const Context& c, const AuthzSource& s) {
  const Match parts[] = {
      Field(s.principals, s.not_principals,
            [&](const std::string& v) { return PrincipalMatches(c, v); }),
      Field(s.namespaces, s.not_namespaces,
            [&](const std::string& v) { return NamespaceMatches(c, v); }),
      Field(s.service_accounts, s.not_service_accounts,
            [&](const std::string& v) { return ServiceAccountMatches(c, v); }),
      Field(s.ip_blocks, s.not_ip_blocks,
            [&](const std::string& v) { return IpMatches(c.req.source_ip, v); }),
      Field(s.remote_ip_blocks, s.not_remote_ip_blocks,
            [&](const std::string& v) { return IpMatches(c.req.source_ip, v); }),
  };
  for (Match m : parts) {
    if (m == Match::kNo) return Match::kNo;
  }
  return Match::kYes;
}

// ---- the request ----------------------------------------------------------------------------

// Repeated headers are matched as one value, joined with ',' (Envoy's RBAC header matcher).
std::optional<std::string> HeaderValue(const Request& req, const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  auto [from, to] = req.headers.equal_range(lower);
  if (from == to) return std::nullopt;
  std::string joined;
  for (auto it = from; it != to; ++it) absl::StrAppend(&joined, it == from ? "" : ",", it->second);
  return joined;
}

bool HeaderMatches(const std::optional<std::string>& actual, const std::string& value,
                   bool ignore_case) {
  if (!actual) return false;
  if (value == "*") return true;  // presence
  return StringMatches(value, *actual, StringMatchOptions{.ignore_case = ignore_case});
}

Match OperationMatches(const Context& c, const AuthzOperation& op) {
  const Request& r = c.req;
  const Match parts[] = {
      Field(op.ports, op.not_ports, [&](const std::string& v) { return PortMatches(r.port, v); }),
      HttpField(c, op.hosts, op.not_hosts,
                [&](const std::string& v) { return HeaderMatches(r.authority, v, true); }),
      HttpField(c, op.methods, op.not_methods,
                [&](const std::string& v) { return HeaderMatches(r.method, v, false); }),
      HttpField(c, op.paths, op.not_paths,
                [&](const std::string& v) { return PathMatches(v, r.path); }),
  };
  // An operation whose conditions were all dropped matches every connection.
  for (Match m : parts) {
    if (m == Match::kNo) return Match::kNo;
  }
  return Match::kYes;
}

Match ConditionMatches(const Context& c, const AuthzCondition& w) {
  const Request& r = c.req;
  const std::string& k = w.key;
  auto field = [&](const auto& one) { return Field(w.values, w.not_values, one); };
  if (k.starts_with("request.headers[")) {
    const std::string name = k.substr(16, k.size() - 17);
    const std::optional<std::string> actual = r.http ? HeaderValue(r, name) : std::nullopt;
    return HttpField(c, w.values, w.not_values,
                     [&](const std::string& v) { return HeaderMatches(actual, v, false); });
  }
  if (k == "source.ip" || k == "remote.ip")
    return field([&](const std::string& v) { return IpMatches(r.source_ip, v); });
  if (k == "destination.ip")
    return field([&](const std::string& v) { return IpMatches(r.destination_ip, v); });
  if (k == "destination.port")
    return field([&](const std::string& v) { return PortMatches(r.port, v); });
  if (k == "source.namespace")
    return field([&](const std::string& v) { return NamespaceMatches(c, v); });
  if (k == "source.principal")
    return field([&](const std::string& v) { return PrincipalMatches(c, v); });
  if (k == "source.serviceAccount")
    return field([&](const std::string& v) { return ServiceAccountMatches(c, v); });
  if (k == "connection.sni")
    return field([&](const std::string& v) {
      return v == "*" ? !r.sni.empty() : StringMatches(v, r.sni, StringMatchOptions{});
    });
  return Match::kNo;  // refused when read; never reached
}

// OR over a list of sources or operations (an empty list places no constraint).
template <typename T, typename F>
bool AnyEntry(const std::vector<T>& list, const F& matches) {
  if (list.empty()) return true;
  for (const auto& x : list) {
    if (matches(x) != Match::kNo) return true;
  }
  return false;
}

}  // namespace

std::string RuleRef::Name() const {
  return policy ? absl::StrCat(policy->ns, "/", policy->name, " rule ", rule) : "";
}

namespace {

bool Matches(const Context& c, const AuthzRule& rule) {
  if (!AnyEntry(rule.from, [&](const AuthzSource& s) { return SourceMatches(c, s); })) return false;
  if (!AnyEntry(rule.to, [&](const AuthzOperation& op) { return OperationMatches(c, op); }))
    return false;
  for (const auto& w : rule.when) {
    if (ConditionMatches(c, w) == Match::kNo) return false;
  }
  return true;
}

}  // namespace

bool FromMatches(const AuthorizationPolicy& p, const AuthzRule& rule, const Request& req,
                 const AuthzOptions& o) {
  Context c(req, o);
  c.For(p);
  return AnyEntry(rule.from, [&](const AuthzSource& s) { return SourceMatches(c, s); });
}

bool RuleMatches(const AuthorizationPolicy& p, const AuthzRule& rule, const Request& req,
                 const AuthzOptions& o) {
  Context c(req, o);
  c.For(p);
  return Matches(c, rule);
}

namespace {

// The first rule of `p` that matches, if any (a policy without rules matches nothing).
std::optional<RuleRef> FirstMatch(Context& c, const AuthorizationPolicy& p) {
  c.For(p);
  for (size_t i = 0; i < p.rules.size(); ++i) {
    if (Matches(c, p.rules[i])) return RuleRef{&p, static_cast<int>(i)};
  }
  return std::nullopt;
}

// DENY, then ALLOW (dry-run policies counted or not).
AuthzDecision Decide(const std::vector<const AuthorizationPolicy*>& policies, Context& c,
                     bool with_dry_run, bool allow_applies) {
  AuthzDecision d;
  for (const auto* p : policies) {
    if (p->action != AuthzAction::kDeny || (p->dry_run && !with_dry_run)) continue;
    if (auto m = FirstMatch(c, *p)) {
      d.allowed = false;
      d.decided_by = m;
      d.reason = absl::StrCat("denied by DENY policy ", m->Name());
      return d;
    }
  }
  for (const auto* p : policies) {
    if (p->action != AuthzAction::kAllow || (p->dry_run && !with_dry_run)) continue;
    if (auto m = FirstMatch(c, *p)) {
      d.decided_by = m;
      d.reason = absl::StrCat("allowed by ALLOW policy ", m->Name());
      return d;
    }
  }
  d.allowed = !allow_applies;
  d.reason = allow_applies ? "denied: no ALLOW policy matched" : "allowed: no ALLOW policy applies";
  return d;
}

}  // namespace

AuthzScope ScopeOf(const std::vector<const AuthorizationPolicy*>& policies) {
  AuthzScope s;
  for (const auto* p : policies) {
    if (p->action == AuthzAction::kAllow) {
      s.allow |= !p->dry_run;
      s.allow_with_dry_run = true;
    }
    s.dry_run |= p->dry_run;
  }
  return s;
}

AuthzDecision Authorize(const std::vector<const AuthorizationPolicy*>& policies, const Request& req,
                        const AuthzOptions& o) {
  return Authorize(policies, req, o, ScopeOf(policies));
}

AuthzDecision Authorize(const std::vector<const AuthorizationPolicy*>& candidates,
                        const Request& req, const AuthzOptions& o, const AuthzScope& scope) {
  Context c(req, o);
  AuthzDecision d = Decide(candidates, c, false, scope.allow);
  for (const auto* p : candidates) {
    if (p->action == AuthzAction::kAudit) {
      if (auto m = FirstMatch(c, *p)) d.audited.push_back(*m);
    } else if (p->dry_run) {
      if (auto m = FirstMatch(c, *p)) d.dry_run_matched.push_back(*m);
    }
  }
  if (scope.dry_run)
    d.dry_run_allowed = Decide(candidates, c, true, scope.allow_with_dry_run).allowed;
  return d;
}

}  // namespace warden::egress
