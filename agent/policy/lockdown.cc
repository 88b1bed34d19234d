#include "agent/policy/lockdown.h"

#include "absl/strings/str_cat.h"

namespace warden::policy {

namespace {

bool OnGatewayPool(const ClusterState& state, const Pod& pod) {
  auto node = state.nodes.find(pod.node_name);
  return node != state.nodes.end() && IsGatewayPool(node->second);
}

bool Covers(const Allowance& a, const IpAddress& address, Protocol protocol, int port) {
  return a.cidr.Contains(address) && (!a.protocol || *a.protocol == protocol) &&
         port >= a.port_lo && port <= a.port_hi;
}

}  // namespace

LockdownDecision DecideLockdown(const ClusterState& state, const Pod& pod,
                                const IpAddress& world_address, Protocol protocol, int port,
                                const LockdownOptions& options) {
  const std::string node = pod.node_name.empty() ? "(not scheduled)" : pod.node_name;
  const std::string what =
      absl::StrCat(world_address.ToString(), ":", port, "/", ProtocolName(protocol));
  if (OnGatewayPool(state, pod)) {
    const bool gateway = !options.gateway_namespace.empty() && pod.ns == options.gateway_namespace;
    if (gateway && protocol == Protocol::kTCP && (port == 80 || port == 443))
      return {true, absl::StrCat("gateway pod on gateway-pool node ", node, ": TCP 80/443 out")};
    return {false, absl::StrCat("pool-lockdown: on gateway-pool node ", node,
                                " only gateway pods (namespace ", options.gateway_namespace,
                                ") reach the world, on TCP 80 and 443; not ", what)};
  }
  // The kernel's LPM lookup finds the longest allowance prefix, whose entry carries the ports of
  // every allowance covering it: together, exactly the allowances covering the address.
  for (const Allowance& a : options.allowances) {
    if (Covers(a, world_address, protocol, port))
      return {true, absl::StrCat("default-pool node ", node, ": allowance ", a.ToString())};
  }
  return {false,
          absl::StrCat("pool-lockdown: default-pool node ", node,
                       " reaches no world address directly, and no --allow-world covers ", what),
          /*default_pool=*/true};
}

}  // namespace warden::policy
