#include "agent/gateway/gateway_sync.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/nodestate/store.h"

namespace warden::gateway {

GatewaySync::GatewaySync(nodestate::SyncStreamOptions opts, egress::GatewayOptions gateway,
                         StateHolder* holder, std::string state_file)
    : gateway_(std::move(gateway)),
      holder_(holder),
      state_file_(std::move(state_file)),
      log_("warden gateway " + opts.node),
      stream_(
          opts, v1::ROLE_GATEWAY, log_, [this](const v1::SyncResponse& r) { return Take(r); },
          [this] { return holder_->version(); }) {}

absl::Status GatewaySync::Take(const v1::SyncResponse& r) {
  if (!r.has_gateway()) {
    return absl::InvalidArgumentError("a gateway is sent GatewayUpdates, not a node's Updates");
  }
  auto t0 = std::chrono::steady_clock::now();
  WD_ASSIGN_OR_RETURN(nodestate::GatewayState s, nodestate::ApplyGatewayUpdate(r.gateway()));
  auto compiled = std::make_shared<const CompiledGateway>(std::move(s), gateway_);
  holder_->Set(compiled);
  stream_.mutable_stats().version = r.gateway().version();
  log_.Info(
      "version ", r.gateway().version(), " (", r.gateway().ByteSizeLong(), " bytes) in force in ",
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count(),
      " ms: ", compiled->config.policies().size(), " AuthorizationPolicies apply");
  if (!state_file_.empty()) {
    // In force already: a failed save is reported, not NACKed.
    if (auto st = nodestate::SaveGatewayUpdate(r.gateway(), state_file_); !st.ok())
      log_.Error("cannot save the state in force: ", st.message());
  }
  return absl::OkStatus();
}

}  // namespace warden::gateway
