#include "agent/common/cgroup.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/common/status_macros.h"

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
  WD_ASSIGN_OR_RETURN(std::string mount, FindCgroup2Mount());
  std::filesystem::path rel = std::filesystem::weakly_canonical(path).lexically_relative(mount);
  if (rel.empty() || rel.native().rfind("..", 0) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, " is not below the cgroup2 mount ", mount));
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
  WD_ASSIGN_OR_RETURN(std::string mount, FindCgroup2Mount());
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) return mount + line.substr(3);
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

absl::Status MakeCgroup(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating cgroup ", path, ": ", ec.message()));
  return absl::OkStatus();
}

namespace {

// Every directory below `root` (not `root` itself), deepest first.
std::vector<std::filesystem::path> SubdirsDeepestFirst(const std::string& root) {
  std::vector<std::filesystem::path> dirs;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) dirs.push_back(it->path());
  }
  std::sort(dirs.begin(), dirs.end(),
            [](const auto& a, const auto& b) { return a.native().size() > b.native().size(); });
  return dirs;
}

}  // namespace

std::vector<pid_t> CgroupTreeProcesses(const std::string& root) {
  std::vector<pid_t> pids;
  std::error_code ec;
  if (!std::filesystem::exists(root, ec)) return pids;
  std::vector<std::filesystem::path> dirs = SubdirsDeepestFirst(root);
  dirs.push_back(root);
  for (const auto& d : dirs) {
    std::ifstream in(d / "cgroup.procs");
    pid_t p;
    while (in >> p) pids.push_back(p);
  }
  return pids;
}

void KillCgroupProcesses(const std::string& root) {
  for (int round = 0; round < 50; ++round) {
    std::vector<pid_t> pids = CgroupTreeProcesses(root);
    if (pids.empty()) return;
    for (pid_t p : pids) kill(p, round < 10 ? SIGTERM : SIGKILL);
    for (pid_t p : pids) waitpid(p, nullptr, WNOHANG);  // reaps those that are our children
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

absl::Status RemoveCgroupTree(const std::string& root) {
  std::error_code ec;
  if (!std::filesystem::exists(root, ec)) return absl::OkStatus();
  std::vector<std::filesystem::path> dirs = SubdirsDeepestFirst(root);
  dirs.push_back(root);
  for (const auto& d : dirs) {
    if (rmdir(d.c_str()) != 0 && errno != ENOENT) {
      return absl::FailedPreconditionError(
          absl::StrCat("removing cgroup ", d.string(), ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace warden::common
