#include "agent/gateway/state.h"

namespace warden::gateway {

CompiledGateway::CompiledGateway(nodestate::GatewayState s, const egress::GatewayOptions& o)
    : state(std::move(s)), config(state.objects, egress::WithGatewayPodLabels(state.objects, o)) {}

}  // namespace warden::gateway
