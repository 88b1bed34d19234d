// Istio AuthorizationPolicy evaluation for one request at the egress gateway, with Istio's
// semantics (pilot/pkg/security/authz and Envoy's RBAC filter): DENY before ALLOW, AUDIT and
// dry-run never deciding, an ALLOW policy without rules allowing nothing, and on a connection that
// is not HTTP the HTTP-only fields handled as Istio's TCP filter chain handles them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/egress/request.h"
#include "agent/policy/istio_objects.h"

namespace warden::egress {

struct AuthzOptions {
  // The mesh's trust domain: principals are "<td>/ns/NS/sa/SA". A policy naming cluster.local
  // (or an alias) means this one.
  std::string trust_domain = "cluster.local";
  std::vector<std::string> trust_domain_aliases;
};

struct RuleRef {
  const policy::AuthorizationPolicy* policy = nullptr;
  int rule = -1;
  std::string Name() const;  // "ns/name rule i"
};

struct AuthzDecision {
  bool allowed = true;
  // The DENY rule that denied, or the ALLOW rule that allowed; none when no ALLOW policy applies
  // (allowed) or when none matched (denied).
  std::optional<RuleRef> decided_by;
  std::string reason;
  std::vector<RuleRef> audited;  // AUDIT rules that matched (logged, never deciding)
  // What the dry-run policies would have decided, had they been enforced with the others.
  std::optional<bool> dry_run_allowed;
  std::vector<RuleRef> dry_run_matched;
};

// Whether one rule's sources (`from`, OR of them) admit the request's source.
bool FromMatches(const policy::AuthorizationPolicy& p, const policy::AuthzRule& rule,
                 const Request& req, const AuthzOptions& o);

// Whether one rule of `p` matches `req` (its from, to and when all do).
bool RuleMatches(const policy::AuthorizationPolicy& p, const policy::AuthzRule& rule,
                 const Request& req, const AuthzOptions& o);

// Which kinds of policy apply to the workload at all: with an index, the policies a request is
// checked against are only those that can match it, yet "some ALLOW policy applies" is about
// all of them.
struct AuthzScope {
  bool allow = false;               // an enforced ALLOW policy applies
  bool allow_with_dry_run = false;  // an ALLOW policy applies, dry-run or not
  bool dry_run = false;             // a dry-run policy applies
};
AuthzScope ScopeOf(const std::vector<const policy::AuthorizationPolicy*>& policies);

// The decision of the policies that apply to the gateway (CUSTOM is refused when read).
AuthzDecision Authorize(const std::vector<const policy::AuthorizationPolicy*>& policies,
                        const Request& req, const AuthzOptions& o);
// The same over `candidates`, a part of the applying policies that holds every one that can
// match `req`; `scope` is that of all of them.
AuthzDecision Authorize(const std::vector<const policy::AuthorizationPolicy*>& candidates,
                        const Request& req, const AuthzOptions& o, const AuthzScope& scope);

}  // namespace warden::egress
