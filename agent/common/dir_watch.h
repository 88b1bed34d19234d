// Waits for changes below a directory with inotify (every subdirectory watched; new ones are
// added as they appear). Callers still compare contents: an event only says "look again".
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace warden::common {

class DirWatch {
 public:
  static absl::StatusOr<DirWatch> Open(const std::string& dir);
  DirWatch(DirWatch&& o) noexcept : fd_(o.fd_), dir_(std::move(o.dir_)), wds_(std::move(o.wds_)) {
    o.fd_ = -1;
  }
  DirWatch(const DirWatch&) = delete;
  ~DirWatch();
  // True when something changed within `timeout_ms`.
  bool Wait(int timeout_ms);

 private:
  DirWatch() = default;
  void AddTree(const std::string& dir);
  int fd_ = -1;
  std::string dir_;
  std::map<int, std::string> wds_;
};

}  // namespace warden::common

namespace warden::common {

// A string that changes whenever a regular file below `dir` is added, removed or modified
// (path, mtime, size of each). Cheap enough to compute every tick for a manifests directory.
std::string DirFingerprint(const std::string& dir);

}  // namespace warden::common
