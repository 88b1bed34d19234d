#include "agent/nodestate/store.h"

#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "agent/nodestate/wire.h"

namespace warden::nodestate {

absl::Status SaveNodeState(const NodeState& s, const std::string& path) {
  return common::WriteFileAtomically(path, EncodedFullUpdate(s));
}

absl::StatusOr<NodeState> LoadNodeState(const std::string& path) {
  absl::StatusOr<std::string> bytes = common::ReadFile(path);
  if (!bytes.ok()) return absl::NotFoundError(absl::StrCat(path, ": no saved state"));
  v1::Update u;
  if (!u.ParseFromString(*bytes))
    return absl::DataLossError(absl::StrCat(path, ": not a saved state"));
  NodeState s;
  if (auto st = ApplyUpdate(u, &s); !st.ok())
    return absl::DataLossError(absl::StrCat(path, ": ", st.message()));
  return s;
}

absl::Status SaveGatewayUpdate(const v1::GatewayUpdate& u, const std::string& path) {
  return common::WriteFileAtomically(path, u.SerializeAsString());
}

absl::StatusOr<GatewayState> LoadGatewayState(const std::string& path) {
  absl::StatusOr<std::string> bytes = common::ReadFile(path);
  if (!bytes.ok()) return absl::NotFoundError(absl::StrCat(path, ": no saved state"));
  v1::GatewayUpdate u;
  if (!u.ParseFromString(*bytes))
    return absl::DataLossError(absl::StrCat(path, ": not a saved gateway state"));
  absl::StatusOr<GatewayState> s = ApplyGatewayUpdate(u);
  if (!s.ok()) return absl::DataLossError(absl::StrCat(path, ": ", s.status().message()));
  return s;
}

}  // namespace warden::nodestate
