// The state a running gateway decides with: the last good GatewayState from the control plane,
// compiled into an egress::GatewayConfig. Swapped whole on each update; a connection takes the
// current one for each request it decides, so a policy change reaches open connections at their
// next request, and a state being replaced stays alive for the requests still using it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>

#include "agent/egress/gateway_config.h"
#include "agent/nodestate/gateway_state.h"

namespace warden::gateway {

struct CompiledGateway {
  CompiledGateway(nodestate::GatewayState s, const egress::GatewayOptions& o);
  CompiledGateway(const CompiledGateway&) = delete;
  CompiledGateway& operator=(const CompiledGateway&) = delete;

  nodestate::GatewayState state;
  egress::GatewayConfig config;  // refers into `state`
};

class StateHolder {
 public:
  std::shared_ptr<const CompiledGateway> Get() const {
    std::lock_guard<std::mutex> l(mu_);
    return current_;
  }
  void Set(std::shared_ptr<const CompiledGateway> c) {
    std::shared_ptr<const CompiledGateway> old;
    {
      std::lock_guard<std::mutex> l(mu_);
      old = std::move(current_);
      current_ = std::move(c);
    }
  }
  uint64_t version() const {
    auto c = Get();
    return c ? c->state.version : 0;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const CompiledGateway> current_;
};

}  // namespace warden::gateway
