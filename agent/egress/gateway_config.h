// What an egress gateway evaluates, compiled from the cluster's objects: the hosts each namespace
// may reach (ServiceEntry) with how to connect upstream (DestinationRule), the
// AuthorizationPolicies that apply to the gateway, indexed by host so that a request is checked
// against the policies that can name it, not all of them; and one decision per request.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "agent/egress/authz.h"
#include "agent/egress/registry.h"
#include "agent/egress/request.h"
#include "agent/policy/cluster.h"

namespace warden::egress {

struct GatewayOptions {
  std::string root_namespace = "istio-system";  // Istio's: its policies apply everywhere
  std::string gateway_namespace = "warden-egress";
  policy::Labels gateway_labels = {{"app", "warden-gateway"}};  // the gateway pods' labels
  std::string gateway_name = "warden-gateway";                  // the Gateway a targetRef may name
  AuthzOptions authz;
};

// The gateway pods the manifests hold: the pods of `gateway_namespace` not on the host network,
// those on gateway-pool nodes first, each group in namespace/name order.
std::vector<const policy::Pod*> GatewayPods(const policy::ClusterState& state,
                                            const std::string& gateway_namespace);
// The first of them, or null. Its labels are what selectors are matched with.
const policy::Pod* FindGatewayPod(const policy::ClusterState& state,
                                  const std::string& gateway_namespace);

// `o` with the gateway pods' labels as `state` holds them (a pod of the gateway namespace), for
// AuthorizationPolicy selectors to be matched as on the real gateway.
GatewayOptions WithGatewayPodLabels(const policy::ClusterState& state, GatewayOptions o);

enum class Verdict { kAllow, kDeny, kUnregistered, kBadRequest };
const char* VerdictName(Verdict v);  // "allow", "deny", "unregistered", "bad_request"

struct GatewayVerdict {
  Verdict verdict = Verdict::kDeny;
  // The HTTP status the gateway answers with (200 stands for "forwarded"); for a connection that
  // is not HTTP, 0 when forwarded and the connection is closed otherwise.
  int status = 0;
  std::string reason;
  std::optional<Registration> registration;
  Upstream upstream;
  AuthzDecision authz;
};

class GatewayConfig {
 public:
  GatewayConfig(const policy::ClusterState& state, GatewayOptions o);

  // The request's verdict: an unregistered host is refused before authorization (502 for
  // HTTP, as Istio's REGISTRY_ONLY answers), then the AuthorizationPolicies decide (403).
  GatewayVerdict Decide(const Request& req) const;

  const Registry& registry() const { return registry_; }
  // The policies that apply to the gateway, in namespace/name order.
  const std::vector<const policy::AuthorizationPolicy*>& policies() const { return policies_; }
  // Whether `p` applies to the gateway (its namespace, selector or targetRefs).
  bool Applies(const policy::AuthorizationPolicy& p) const;
  const GatewayOptions& options() const { return o_; }

  // The identity of pod `pod` ("ns/name") when it runs on `node`: a node's forwarder speaks only
  // for its own pods, so a claim for a pod elsewhere (or unknown, or on the host network, whose
  // traffic is the node's) is refused.
  absl::StatusOr<SourceIdentity> PodOnNode(const std::string& node, const std::string& pod) const;

 private:
  // The applicable policies a request must be checked against: those that can name its host
  // (HTTP; every policy otherwise) and its source namespace.
  std::vector<const policy::AuthorizationPolicy*> Candidates(const Request& req) const;

  GatewayOptions o_;
  Registry registry_;
  std::vector<const policy::AuthorizationPolicy*> policies_;
  // Two keys a policy may be indexed by: the exact hosts its every rule names (lower-case), and
  // the exact source namespaces its every rule names. By host (whatever its namespaces); by
  // namespace those without hosts; the rest are checked for every request.
  absl::flat_hash_map<std::string, std::vector<size_t>> by_host_;
  absl::flat_hash_map<std::string, std::vector<size_t>> by_namespace_;
  std::vector<size_t> unindexed_;
  std::vector<size_t> host_indexed_;                  // every policy by_host_ holds, once each
  std::vector<std::vector<std::string>> namespaces_;  // per policy, sorted; empty: any
  const policy::ClusterState& state_;                 // the pods, by "ns/name" (their node in each)
  AuthzScope scope_;
};

}  // namespace warden::egress
