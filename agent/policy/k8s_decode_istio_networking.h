// Decoding and validating networking.istio.io ServiceEntry and DestinationRule as Istio's
// validation does (pkg/config/validation), with its messages.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/policy/istio_objects.h"
#include "agent/policy/manifest_yaml.h"

namespace warden::policy {

// The object, or nullopt when anything about it was reported invalid. Istio's warnings (which
// do not refuse the object) go to `notes`.
std::optional<ServiceEntry> DecodeServiceEntry(ManifestReader* r, const YAML::Node& doc,
                                               std::vector<std::string>* notes);
std::optional<DestinationRule> DecodeDestinationRule(ManifestReader* r, const YAML::Node& doc);

}  // namespace warden::policy
