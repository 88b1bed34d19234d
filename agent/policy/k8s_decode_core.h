// Decoding and validating the core/v1 kinds Warden reads: Namespace, Node and Pod. Each returns
// the object, or nullopt when anything about it was reported invalid.
#pragma once

#include <optional>

#include "agent/policy/manifest_yaml.h"
#include "agent/policy/objects.h"

namespace warden::policy {

std::optional<Namespace> DecodeNamespace(ManifestReader* r, const YAML::Node& doc);
std::optional<Node> DecodeNode(ManifestReader* r, const YAML::Node& doc);
std::optional<Pod> DecodePod(ManifestReader* r, const YAML::Node& doc);

}  // namespace warden::policy
