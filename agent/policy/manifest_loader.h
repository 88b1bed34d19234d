// Reads Kubernetes manifests (YAML or JSON, multi-document, kind: List) into a ClusterState,
// validating each object as the API server would. A file with any invalid object contributes
// nothing (so a half-edited file never loosens or tightens enforcement halfway); the other
// files still load.
#pragma once

#include <string>
#include <vector>

#include "agent/policy/cluster.h"

namespace warden::policy {

struct ManifestError {
  std::string file;
  int line = 0;        // 1-based, 0 when unknown
  std::string object;  // "NetworkPolicy team-x/allow-dns", or "" for file-level errors
  std::string field;   // "spec.ingress[0].from[1].ipBlock.cidr", or ""
  std::string message;

  // "file:line: object: field: message"
  std::string ToString() const;
};

struct LoadResult {
  ClusterState state;
  std::vector<ManifestError> errors;
  std::vector<std::string> notes;  // informational (ignored kinds, implicit namespaces)
  int files_read = 0;
};

// Every *.yaml, *.yml and *.json under `dir`, recursively, in sorted path order.
LoadResult LoadManifestDir(const std::string& dir);

// Loads manifests given as (file name, content) pairs, in order. For tests and other sources.
LoadResult LoadManifestTexts(const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace warden::policy
