// Reading Kubernetes manifests (YAML or JSON, multi-document, kind: List) into a ClusterState,
// validating each object as the API server would: the public entry point. A file with any
// invalid object contributes nothing (so a half-edited file never loosens or tightens
// enforcement halfway); the other files still load.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "agent/policy/manifest_result.h"
#include "agent/policy/manifest_source.h"

namespace warden::policy {

// Every *.yaml, *.yml and *.json under `dir`, recursively, in sorted path order; hidden entries
// (names starting with a dot) and everything below hidden directories are left out. What cannot
// be read as a manifest file (manifest_dir.h) is an error naming its path, and is skipped.
LoadResult LoadManifestDir(const std::string& dir);

// Loads manifests given as (file name, content) pairs, in order. For tests and other sources.
LoadResult LoadManifestTexts(const std::vector<std::pair<std::string, std::string>>& files);

// The uid a pod gets when its manifest has none: stable, derived from namespace and name, in
// the UUID form kubelet uses for cgroup names.
std::string DerivedPodUid(const std::string& ns, const std::string& name);

}  // namespace warden::policy
