#include "agent/common/cgroup.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace warden::common {

absl::StatusOr<std::string> FindCgroup2Mount() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // "... mountpoint opts - fstype source superopts"
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) continue;
    std::istringstream tail(line.substr(dash + 3));
    std::string fstype;
    tail >> fstype;
    if (fstype != "cgroup2") continue;
    std::istringstream head(line.substr(0, dash));
    std::string id, parent, devno, root, mountpoint;
    head >> id >> parent >> devno >> root >> mountpoint;
    return mountpoint;
  }
  return absl::FailedPreconditionError(
      "no cgroup2 filesystem is mounted (see /proc/self/mountinfo)");
}

absl::StatusOr<uint64_t> CgroupId(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cgroup ", path, ": ", std::strerror(errno)));
  }
  return static_cast<uint64_t>(st.st_ino);
}

absl::StatusOr<uint32_t> CgroupLevel(const std::string& path) {
  auto mount = FindCgroup2Mount();
  if (!mount.ok()) return mount.status();
  std::filesystem::path rel = std::filesystem::weakly_canonical(path).lexically_relative(*mount);
  if (rel.empty() || rel.native().rfind("..", 0) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not below the cgroup2 mount ", *mount));
  }
  uint32_t level = 0;
  for (const auto& part : rel) {
    if (part != ".") ++level;
  }
  return level;
}

absl::StatusOr<std::string> CgroupOfProcess(pid_t pid) {
  std::string file = pid ? absl::StrCat("/proc/", pid, "/cgroup") : "/proc/self/cgroup";
  std::ifstream in(file);
  std::string line;
  auto mount = FindCgroup2Mount();
  if (!mount.ok()) return mount.status();
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return *mount + line.substr(3);
  }
  return absl::NotFoundError(absl::StrCat("no cgroup2 entry in ", file));
}

absl::Status MoveToCgroup(const std::string& path, pid_t pid) {
  std::ofstream out(path + "/cgroup.procs");
  out << pid << std::endl;
  if (!out)
    return absl::InternalError(absl::StrCat("moving pid ", pid, " into ", path, ": write failed"));
  return absl::OkStatus();
}

}  // namespace warden::common
