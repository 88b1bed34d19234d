// cgroup v2 facts Warden needs: where the hierarchy is mounted (never assumed), a cgroup's id
// (the inode of its directory, as bpf_skb_cgroup_id() reports it), and moving processes.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace warden::common {

// The mount point of the cgroup2 filesystem, from /proc/self/mountinfo.
absl::StatusOr<std::string> FindCgroup2Mount();
// The id the kernel gives the cgroup at `path` (a directory on cgroup2).
absl::StatusOr<uint64_t> CgroupId(const std::string& path);
// How deep `path` is below the cgroup2 root (the root is level 0).
absl::StatusOr<uint32_t> CgroupLevel(const std::string& path);
// The cgroup2 directory of process `pid` (0 = this process).
absl::StatusOr<std::string> CgroupOfProcess(pid_t pid);
// Moves process `pid` into the cgroup at `path`.
absl::Status MoveToCgroup(const std::string& path, pid_t pid);
// Creates the cgroup at `path` and its missing parents.
absl::Status MakeCgroup(const std::string& path);
// The processes of the cgroup tree at `root` (its cgroup.procs files, deepest cgroups first); none
// when it is gone.
std::vector<pid_t> CgroupTreeProcesses(const std::string& root);
// Ends every process in the cgroup tree at `root`, by the PIDs its cgroup.procs files list:
// SIGTERM, then SIGKILL for those still there after half a second.
void KillCgroupProcesses(const std::string& root);
// Removes the cgroup tree at `root` bottom-up (a cgroup is removed with rmdir, and only once it
// holds no process and no child). Fails naming the first cgroup that stays.
absl::Status RemoveCgroupTree(const std::string& root);

}  // namespace warden::common
