#include "agent/nodestate/store.h"

#include "absl/strings/str_cat.h"
#include "agent/common/files.h"
#include "agent/nodestate/wire.h"

namespace warden::nodestate {

namespace {

// The message saved at `path`; NotFound when there is none, DataLoss when it does not parse.
template <typename Message>
absl::StatusOr<Message> ReadSaved(const std::string& path, const char* what) {
  absl::StatusOr<std::string> bytes = common::ReadFile(path);
  if (!bytes.ok()) return absl::NotFoundError(absl::StrCat(path, ": no saved state"));
  Message m;
  if (!m.ParseFromString(*bytes))
    return absl::DataLossError(absl::StrCat(path, ": not a saved ", what));
  return m;
}

}  // namespace

absl::Status SaveNodeState(const NodeState& s, const std::string& path) {
  return common::WriteFileAtomically(path, EncodedFullUpdate(s));
}

absl::StatusOr<NodeState> LoadNodeState(const std::string& path) {
  absl::StatusOr<v1::Update> u = ReadSaved<v1::Update>(path, "state");
  if (!u.ok()) return u.status();
  NodeState s;
  if (auto st = ApplyUpdate(*u, &s); !st.ok())
    return absl::DataLossError(absl::StrCat(path, ": ", st.message()));
  return s;
}

absl::Status SaveGatewayUpdate(const v1::GatewayUpdate& u, const std::string& path) {
  return common::WriteFileAtomically(path, u.SerializeAsString());
}

absl::StatusOr<GatewayState> LoadGatewayState(const std::string& path) {
  absl::StatusOr<v1::GatewayUpdate> u = ReadSaved<v1::GatewayUpdate>(path, "gateway state");
  if (!u.ok()) return u.status();
  absl::StatusOr<GatewayState> s = ApplyGatewayUpdate(*u);
  if (!s.ok()) return absl::DataLossError(absl::StrCat(path, ": ", s.status().message()));
  return s;
}

}  // namespace warden::nodestate
