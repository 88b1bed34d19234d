// Istio's routing kinds (networking.istio.io Gateway, VirtualService, Sidecar): warden sends
// egress to its gateway without them, yet a user's YAML holding them is checked as Istio checks
// its main rules (servers and their ports and hosts, routes with a destination, listeners'
// namespace/host pairs), so that what is pasted unchanged is not silently broken.
#pragma once

#include <string>

#include "agent/policy/manifest_yaml.h"

namespace warden::policy {

// `kind`: "Gateway", "VirtualService" or "Sidecar". Errors go to `r`.
void CheckUnusedIstioKind(ManifestReader* r, const YAML::Node& doc, const std::string& kind);

}  // namespace warden::policy
