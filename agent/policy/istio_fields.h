// What the Istio kinds share when decoded: lists of strings, hosts, exportTo, addresses and
// ports, each checked as Istio's validation (pkg/config/validation) checks it, with its wording.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "agent/policy/istio_objects.h"
#include "agent/policy/manifest_yaml.h"

namespace warden::policy {

// Each returns an empty string when valid, else Istio's reason.
// A host name that may start with a wildcard label ("*.example.com", "*foo.com", "*"): Istio's
// ValidateWildcardDomain.
std::string CheckWildcardDomain(const std::string& host);
// A fully qualified name without wildcards: Istio's ValidateFQDN.
std::string CheckFqdn(const std::string& host);
// An address or a CIDR (host bits allowed), as Go's netip parses them.
std::string CheckIpOrCidr(const std::string& value);
// A port number written as a decimal string, 0-65535 (Istio's ValidatePorts).
std::string CheckPortString(const std::string& value);

// `parent[key]`: a list of strings (absent or null: empty). Reports items that are not strings.
std::vector<std::string> ReadStringList(ManifestReader* r, const YAML::Node& parent,
                                        const char* key, const std::string& field);
// `parent[key]`: a non-negative integer up to `max`; nullopt when absent (reported when invalid).
std::optional<uint32_t> ReadUint(ManifestReader* r, const YAML::Node& parent, const char* key,
                                 const std::string& field, uint32_t max);
// `parent[key]`: one of `names` (protobuf enum names, exact); nullopt when absent (reported when
// not one of them).
std::optional<size_t> ReadEnum(ManifestReader* r, const YAML::Node& parent, const char* key,
                               const std::string& field, const std::vector<const char*>& names);

// exportTo of an object in namespace `ns`: ".", "*", "~" (ServiceEntry only) or namespace names;
// no duplicates, "*" and "~" alone.
ExportTo ReadExportTo(ManifestReader* r, const YAML::Node& spec, const std::string& field,
                      const std::string& ns, bool service_entry);

// A workload selector: {matchLabels: {...}} (security and DestinationRule), or {labels: {...}}
// (ServiceEntry's, `labels_key`). Istio refuses empty keys and wildcards.
std::optional<LabelSelector> ReadWorkloadSelector(ManifestReader* r, const YAML::Node& parent,
                                                  const char* key, const std::string& field,
                                                  const char* labels_key = "matchLabels");

}  // namespace warden::policy
