#include "agent/egress/gateway_hop.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace warden::egress {

GatewayHop CheckGatewayHop(const policy::ClusterState& state, const policy::Model& model,
                           const std::string& gateway_namespace, const policy::Pod& pod,
                           const std::string& port) {
  GatewayHop h;
  h.port_text = port;
  h.node = pod.node_name;
  const policy::Pod* gateway = FindGatewayPod(state, gateway_namespace);
  if (!gateway) {
    h.reason = absl::StrCat("no gateway pod (namespace ", gateway_namespace, ") in the manifests");
    return h;
  }
  h.gateway = gateway->Key();
  if (&pod == gateway) {
    h.reason = "it is the gateway";
    return h;
  }
  if (gateway->ips.empty()) {
    h.reason = "the gateway pod has no address";
    return h;
  }
  int number = 0;
  if (!absl::SimpleAtoi(port, &number)) {
    auto named = policy::Model::ResolveNamedPort(*gateway, port, policy::Protocol::kTCP);
    if (!named) {
      h.reason = absl::StrCat("the gateway pod has no port named ", port);
      return h;
    }
    number = *named;
  }
  const policy::L4 l4{policy::Protocol::kTCP, number};
  const policy::Endpoint to{gateway, gateway->ips.front()};
  policy::SideDecision out = model.Evaluate(policy::Direction::kEgress, pod, to, l4);
  if (!out.allowed) {
    h.reason = absl::StrCat("its egress to the gateway is denied: ", out.reason);
    return h;
  }
  // The forwarder connects from its node's address; unknown, only ingress rules that admit any
  // source can admit it.
  auto node = state.nodes.find(pod.node_name);
  policy::Endpoint from{nullptr, std::nullopt};
  if (node != state.nodes.end() && !node->second.addresses.empty())
    from.ip = node->second.addresses.front();
  const std::string forwarder =
      absl::StrCat("node ", pod.node_name.empty() ? "(none)" : pod.node_name, "'s forwarder (",
                   from.ip ? from.ip->ToString() : "address unknown", ")");
  policy::SideDecision in = model.Evaluate(policy::Direction::kIngress, *gateway, from, l4);
  if (!in.allowed) {
    h.reason = absl::StrCat("the gateway's ingress denies ", forwarder, ": ", in.reason);
    return h;
  }
  h.allowed = true;
  h.reason = absl::StrCat("egress: ", out.reason, "; via ", forwarder, ", ingress: ", in.reason);
  return h;
}

}  // namespace warden::egress
