#include "agent/gateway/state.h"

namespace warden::gateway {
namespace {

// The gateway pods' labels as the state holds them (a pod of the gateway namespace), so that
// AuthorizationPolicy selectors match as they would on this gateway's pod.
egress::GatewayOptions WithPodLabels(const policy::ClusterState& s, egress::GatewayOptions o) {
  if (const policy::Pod* p = egress::FindGatewayPod(s, o.gateway_namespace))
    o.gateway_labels = p->labels;
  return o;
}

}  // namespace

CompiledGateway::CompiledGateway(nodestate::GatewayState s, const egress::GatewayOptions& o)
    : state(std::move(s)), config(state.objects, WithPodLabels(state.objects, o)) {}

}  // namespace warden::gateway
