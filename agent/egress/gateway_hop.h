// How a pod's traffic reaches the egress gateway: its node redirects the pod's connection to the
// node's forwarder only when the pod's own egress allows a gateway pod on the gateway port, and
// the forwarder connects to the gateway from the node's address, which the gateway's ingress
// must admit. `warden audit` and `warden explain --request` both answer with this.
#pragma once

#include <string>

#include "agent/egress/gateway_config.h"
#include "agent/policy/cluster.h"
#include "agent/policy/model.h"

namespace warden::egress {

struct GatewayHop {
  bool allowed = false;
  std::string gateway;    // the gateway pod, "ns/name" ("" when there is none)
  std::string port_text;  // the gateway port as asked ("mtls" or a number)
  std::string node;       // the pod's node, whose forwarder carries its flows
  std::string reason;     // why it is allowed (both sides), or why not
};

GatewayHop CheckGatewayHop(const policy::ClusterState& state, const policy::Model& model,
                           const std::string& gateway_namespace, const policy::Pod& pod,
                           const std::string& port);

}  // namespace warden::egress
