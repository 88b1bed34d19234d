// Decoding and validating networking.k8s.io/v1 NetworkPolicy as the API server does: selectors,
// rules, peers (podSelector/namespaceSelector or ipBlock), ports and policyTypes defaulting.
#pragma once

#include <optional>

#include "agent/policy/manifest_yaml.h"
#include "agent/policy/objects.h"

namespace warden::policy {

// The policy, or nullopt when anything about it was reported invalid.
std::optional<NetworkPolicy> DecodeNetworkPolicy(ManifestReader* r, const YAML::Node& doc);

}  // namespace warden::policy
