// One manifest file decoded into the Kubernetes objects Warden reads, each validated as the API
// server would. A file with any invalid object yields no object at all (so a half-edited file
// never loosens or tightens enforcement halfway); kinds Warden does not read are counted.
#pragma once

#include <map>
#include <string>
#include <variant>
#include <vector>

#include "agent/policy/istio_objects.h"
#include "agent/policy/manifest_result.h"
#include "agent/policy/objects.h"

namespace warden::policy {

using DecodedObject = std::variant<Namespace, Node, Pod, NetworkPolicy, ServiceEntry,
                                   DestinationRule, AuthorizationPolicy>;

struct DecodedFile {
  std::vector<DecodedObject> objects;  // empty when there are errors
  std::vector<ManifestError> errors;
  std::vector<std::string> notes;
  // Objects of kinds Warden does not read, by "apiVersion Kind" (Deployments, ServiceAccounts):
  // counted, not decoded.
  std::map<std::string, int> ignored;
};

DecodedFile DecodeManifestFile(const std::string& file, const std::string& content);

// "Kind name" or "Kind ns/name": what must be unique across all files.
std::string ObjectKey(const DecodedObject& o);
const SourceRef& SourceOf(const DecodedObject& o);

}  // namespace warden::policy
