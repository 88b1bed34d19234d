// A manifests directory read again and again, for long-running users (the node agent, the
// control plane). A file that becomes invalid keeps contributing the objects of its last valid
// version, so a bad edit never loosens (or tightens) what is enforced; its errors are still
// reported. So does a file that can no longer be read (unreadable, replaced by a FIFO or a
// symlink loop, grown too large, below a directory that can no longer be listed). A file that is
// deleted stops contributing. Files that did not change are neither read nor parsed again.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "agent/policy/manifest_result.h"

namespace warden::policy {

struct ManifestSourceCache;  // parsed files and file stamps (manifest_source.cc)

class ManifestSource {
 public:
  explicit ManifestSource(std::string dir) : dir_(std::move(dir)) {}
  LoadResult Load();
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  // path -> content of its last valid version (shared with the parse cache, not copied)
  std::map<std::string, std::shared_ptr<const std::string>> last_good_;
  std::shared_ptr<ManifestSourceCache> cache_;
};

}  // namespace warden::policy
