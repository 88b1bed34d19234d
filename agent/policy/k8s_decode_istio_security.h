// Decoding and validating security.istio.io AuthorizationPolicy as Istio's validation does
// (pkg/config/validation ValidateAuthorizationPolicy), with its messages, and refusing with a
// clear error what an egress gateway cannot decide (CUSTOM, request principals, JWT claims).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/policy/istio_objects.h"
#include "agent/policy/manifest_yaml.h"

namespace warden::policy {

// The policy, or nullopt when anything about it was reported invalid; Istio's warnings go to
// `notes`.
std::optional<AuthorizationPolicy> DecodeAuthorizationPolicy(ManifestReader* r,
                                                             const YAML::Node& doc,
                                                             std::vector<std::string>* notes);

}  // namespace warden::policy
