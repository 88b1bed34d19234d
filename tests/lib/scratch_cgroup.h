// A cgroup tree a test or benchmark makes for itself: <cgroup2 mount>/<name>, removed whole when
// it goes, through the product's own functions (common::KillCgroupProcesses,
// common::RemoveCgroupTree). This process may move into the tree; it is moved back first.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace warden::testlib {

class ScratchCgroup {
 public:
  // Makes <cgroup2 mount>/<name> (name it after the pid, so that runs side by side never meet).
  static absl::StatusOr<ScratchCgroup> Create(const std::string& name);

  ScratchCgroup() = default;
  ScratchCgroup(ScratchCgroup&& other) noexcept;
  ScratchCgroup& operator=(ScratchCgroup&& other) noexcept;
  ~ScratchCgroup();  // Remove(), its failure printed to stderr

  const std::string& path() const { return path_; }
  // The cgroup this process was in when the tree was made.
  const std::string& home() const { return home_; }

  // Moves this process back home if it is inside the tree, ends every process left in the tree
  // and removes it. Does nothing the second time.
  absl::Status Remove();

 private:
  std::string path_, home_;
};

}  // namespace warden::testlib
