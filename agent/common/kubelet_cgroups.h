// Pods' cgroups below a node's cgroup root, named as kubelet names them:
//   cgroupfs driver: kubepods/pod<uid>, kubepods/{burstable,besteffort}/pod<uid>
//   systemd driver:  kubepods.slice/kubepods-pod<uid_>.slice,
//                    kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice
// (uid_ is the uid with '-' replaced by '_').
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace warden::common {

struct KubepodsCgroup {
  std::string path;  // empty when the node has no kubepods cgroup (yet)
  uint64_t id = 0;
  uint32_t level = 0;
  bool systemd = false;
};

// The kubepods cgroup under `cgroup_root` (a cgroup2 directory), if there is one.
absl::StatusOr<KubepodsCgroup> FindKubepods(const std::string& cgroup_root);

// The cgroup directory of the pod with `uid`, if it exists.
std::optional<std::string> FindPodCgroup(const KubepodsCgroup& kubepods, const std::string& uid);

// Where kubelet would put a pod of QoS class `qos` ("guaranteed", "burstable", "besteffort").
std::string PodCgroupPath(const KubepodsCgroup& kubepods, const std::string& qos,
                          const std::string& uid);

}  // namespace warden::common
