// `warden audit`: the egress exposure report an auditor asks for. For every identity (namespace,
// service account, labels, its pods): every outside destination it can reach directly (what
// NetworkPolicy allows within the node pools' lockdown) and through the gateway (ServiceEntry
// hosts and ports, with the methods, paths and conditions AuthorizationPolicy allows, and the
// DENY rules that cut into them); then the registered hosts nobody can reach and the policies
// that allow nothing.
#pragma once

#include <string>
#include <vector>

#include "agent/egress/gateway_config.h"
#include "agent/policy/lockdown.h"

namespace warden::egress {

struct AuditIdentity {
  std::string ns;
  std::string service_account;
  policy::Labels labels;
  std::vector<std::string> pods;  // "ns/name"
};

// A world destination the identity's pods reach without the gateway.
struct DirectExposure {
  std::string node_pool;    // "default" or "gateway"
  std::string destination;  // a CIDR
  std::string protocol;     // "TCP", "UDP", "SCTP" or "any"
  std::string ports;        // "443", "80-90" or "any"
  std::string allowed_by;   // the NetworkPolicy rule, or that none isolates the pod's egress
  std::string lockdown;     // what lets it past the node pool's lockdown
  std::string checked_at;   // the address NetworkPolicy was evaluated at
};

// A registered host the identity reaches through the gateway, and what of it.
struct GatewayExposure {
  std::string host;  // the registered host (or the rule's narrower one under a wildcard)
  uint32_t port = 0;
  std::string protocol;
  std::vector<std::string> methods, not_methods, paths, not_paths;  // empty: any
  std::vector<std::string> conditions;  // `when` conditions on the request
  std::string allowed_by;               // "ns/name rule i", or that no ALLOW policy applies
  std::vector<std::string> denied_by;   // DENY rules that take part of it away
  std::string registered_by;            // the ServiceEntry
  std::string upstream_tls;             // DestinationRule mode
};

struct IdentityAudit {
  AuditIdentity identity;
  std::vector<DirectExposure> direct;
  std::vector<GatewayExposure> gateway;
  // Why the gateway's exposures do not count, when its pods cannot reach a gateway pod (their
  // NetworkPolicy, or the gateway's); empty when they can.
  std::string no_gateway;
};

struct AuditReport {
  std::vector<IdentityAudit> identities;
  std::vector<std::string> unreachable_hosts;          // "host:port (ServiceEntry ns/name)"
  std::vector<std::string> policies_allowing_nothing;  // "ns/name: why"
};

// `gateway_port`: the gateway pods' port (number or name) the pods' traffic reaches them on.
AuditReport Audit(const policy::ClusterState& state, const GatewayConfig& gateway,
                  const policy::LockdownOptions& lockdown, const std::string& gateway_port);

}  // namespace warden::egress
