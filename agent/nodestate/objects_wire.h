// Namespaces, NetworkPolicies and named ports on the wire (proto/warden/v1/sync.proto): what a
// node's policy entries were compiled from, for naming policies in the agent's verdict log.
// Decoding checks every field as the manifest reader would have (an object that could not have
// come from valid manifests is an error naming the field).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/policy/objects.h"
#include "agent/policy/snapshot.h"
#include "warden/v1/sync.pb.h"

namespace warden::nodestate {

void ToWire(const policy::Namespace& ns, v1::Namespace* w);
absl::StatusOr<policy::Namespace> FromWire(const v1::Namespace& w, const std::string& field);

void ToWire(const policy::NetworkPolicy& np, v1::NetworkPolicy* w);
absl::StatusOr<policy::NetworkPolicy> FromWire(const v1::NetworkPolicy& w,
                                               const std::string& field);

void ToWire(const policy::NamedPort& p, v1::NamedPort* w);
absl::StatusOr<policy::NamedPort> FromWire(const v1::NamedPort& w, const std::string& field);

// Prefixes (shared with the rest of the codec).
void ToWire(const policy::Cidr& c, v1::Prefix* p);
absl::StatusOr<policy::Cidr> FromWire(const v1::Prefix& p, const std::string& field);

}  // namespace warden::nodestate
