#include "agent/node/sync_client.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/nodestate/wire.h"

namespace warden::node {

SyncClient::SyncClient(SyncClientOptions opts, nodestate::NodeState held, ApplyFn apply)
    : opts_(std::move(opts)),
      log_("warden node " + opts_.node),
      held_(std::move(held)),
      apply_(std::move(apply)),
      stream_(
          opts_, v1::ROLE_NODE, log_,
          [this](const v1::SyncResponse& r) {
            if (!r.has_update()) {
              return absl::InvalidArgumentError("a node is sent Updates, not gateway state");
            }
            return Take(r.update());
          },
          [this] { return held_.version; }) {}

SyncClient::~SyncClient() { Stop(); }

void SyncClient::Start() { stream_.Start(); }

void SyncClient::Stop() { stream_.Stop(); }

absl::Status SyncClient::Take(const v1::Update& u) {
  auto t0 = std::chrono::steady_clock::now();
  nodestate::NodeState next = held_;
  WD_RETURN_IF_ERROR(nodestate::ApplyUpdate(u, &next));
  if (next.node != opts_.node) {
    return absl::InvalidArgumentError(
        absl::StrCat("node_config.node: \"", next.node, "\" is not this node"));
  }
  WD_RETURN_IF_ERROR(apply_(next));
  held_ = std::move(next);
  stream_.mutable_stats().version = held_.version;
  log_.Info(
      "version ", u.version(), " (", u.full() ? "full" : "delta", ", ", u.ByteSizeLong(),
      " bytes) in force in ",
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count(),
      " ms");
  return absl::OkStatus();
}

}  // namespace warden::node
