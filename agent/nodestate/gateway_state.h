// What an egress gateway is sent (proto/warden/v1/egress.proto GatewayUpdate): the ServiceEntries,
// DestinationRules and the AuthorizationPolicies of its own and Istio's root namespace, and every
// pod with its identity and node. The gateway compiles it into its egress::GatewayConfig.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "agent/policy/cluster.h"
#include "warden/v1/egress.pb.h"

namespace warden::nodestate {

struct GatewayState {
  uint64_t version = 0;
  // Only the Istio kinds and the pods are filled (pods with their identity, node, addresses,
  // and labels in the gateway namespace).
  policy::ClusterState objects;
};

struct GatewayScope {
  std::string gateway_namespace = "warden-egress";
  std::string root_namespace = "istio-system";
};

// The gateway's part of `state`; with `pods_from`, its pods are taken from there (the caller
// knows they were cut from the same pods: 150,000 of them are not cut again).
GatewayState GatewayStateOf(const policy::ClusterState& state, const GatewayScope& scope,
                            const GatewayState* pods_from = nullptr);

void GatewayUpdateOf(const GatewayState& s, v1::GatewayUpdate* u);
// The state an update describes, checked whole: every object as the manifest reader would have
// accepted it, pods with a namespace, a name and well-formed addresses, no key twice. On error
// nothing is returned and the message names the field (the gateway NACKs and keeps its state).
absl::StatusOr<GatewayState> ApplyGatewayUpdate(const v1::GatewayUpdate& u);

}  // namespace warden::nodestate
