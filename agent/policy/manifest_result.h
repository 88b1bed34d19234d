// What loading Kubernetes manifests gives: the cluster state, and every error with the file,
// line, object and field it is about.
#pragma once

#include <map>
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
  std::vector<std::string> notes;  // informational (implicit namespaces, unused Istio kinds)
  // Objects of kinds Warden does not read, by "apiVersion Kind", in every file read.
  std::map<std::string, int> ignored;
  int files_read = 0;
};

}  // namespace warden::policy
