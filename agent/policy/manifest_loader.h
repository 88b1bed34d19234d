// Reads Kubernetes manifests (YAML or JSON, multi-document, kind: List) into a ClusterState,
// validating each object as the API server would. A file with any invalid object contributes
// nothing (so a half-edited file never loosens or tightens enforcement halfway); the other
// files still load.
#pragma once

#include <map>
#include <memory>
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

// Every *.yaml, *.yml and *.json under `dir`, recursively, in sorted path order; hidden entries
// (names starting with a dot) and everything below hidden directories are left out.
LoadResult LoadManifestDir(const std::string& dir);

// Loads manifests given as (file name, content) pairs, in order. For tests and other sources.
LoadResult LoadManifestTexts(const std::vector<std::pair<std::string, std::string>>& files);

// Reads a manifests directory again and again for long-running users (the node agent, the
// control plane). A file that becomes invalid keeps contributing the objects of its last valid
// version, so a bad edit never loosens (or tightens) what is enforced; its errors are still
// reported. A file that is deleted stops contributing.
struct ParseCache;

class ManifestSource {
 public:
  explicit ManifestSource(std::string dir) : dir_(std::move(dir)) {}
  LoadResult Load();
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  // path -> content of its last valid version (shared with the parse cache, not copied)
  std::map<std::string, std::shared_ptr<const std::string>> last_good_;
  std::shared_ptr<ParseCache> cache_;  // files whose content did not change: not re-parsed
};

// The uid a pod gets when its manifest has none: stable, derived from namespace and name, in
// the UUID form kubelet uses for cgroup names.
std::string DerivedPodUid(const std::string& ns, const std::string& name);

}  // namespace warden::policy
