// A manifests directory read again and again, for long-running users (the node agent, the
// control plane). A file that becomes invalid keeps contributing the objects of its last valid
// version, so a bad edit never loosens (or tightens) what is enforced; its errors are still
// reported. So does a file that can no longer be read (unreadable, replaced by a FIFO or a
// symlink loop, grown too large, below a directory that can no longer be listed). A file that is
// deleted stops contributing. Files that did not change are neither read nor parsed again.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "agent/policy/last_good.h"
#include "agent/policy/object_source.h"

namespace warden::policy {

struct ManifestSourceCache;  // parsed files and file stamps (manifest_source.cc)

class ManifestSource : public ObjectSource {
 public:
  explicit ManifestSource(std::string dir) : dir_(std::move(dir)) {}
  // A look at the directory's names, sizes and modification times.
  bool Changed() override;
  LoadResult Load() override;
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  LastGood last_good_;
  std::shared_ptr<ManifestSourceCache> cache_;
  std::string fingerprint_;          // of the directory as the last Load() began to read it
  std::optional<std::string> seen_;  // taken by Changed() since
  bool loaded_ = false;
};

}  // namespace warden::policy
