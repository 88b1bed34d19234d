// A node's cgroup root laid out as kubelet (cgroupfs driver) lays it out: <root>/kubepods, and pod
// cgroups where common::PodCgroupPath says kubelet puts them, found the way the agent finds them
// (common::FindKubepods). The node configuration is the agent's own (node::NodeConfigFor).
// The tree lives inside a ScratchCgroup, which removes it.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "agent/datapath/node_tables.h"
#include "agent/node/pod_cgroups.h"

namespace warden::testlib {

struct PodCgroup {
  std::string path;       // the pod's cgroup: where the agent finds the pod
  uint64_t id = 0;        // its cgroup id: the key of the pod's endpoint
  std::string container;  // a container's cgroup below it, where a process of the pod runs ("" if
                          // none was made)
};

class KubeletNode {
 public:
  // Makes <root>/kubepods (and `root`, a cgroup2 directory, if missing).
  static absl::StatusOr<KubeletNode> Create(const std::string& root);

  const std::string& root() const { return root_; }
  const common::KubepodsCgroup& kubepods() const { return kubepods_; }

  // Makes the cgroup of pod `uid` of QoS class `qos` ("guaranteed", "burstable", "besteffort").
  absl::StatusOr<PodCgroup> AddPod(const std::string& uid, const std::string& qos = "burstable");
  // The same, with a container cgroup `c1` below the pod's.
  absl::StatusOr<PodCgroup> AddPodWithContainer(const std::string& uid,
                                                const std::string& qos = "burstable");

  // What the agent configures the datapath with on this node.
  datapath::NodeConfig Config(uint8_t pool = WD_POOL_DEFAULT,
                              uint8_t unknown_pod = WD_UNKNOWN_POD_DENY) const {
    return node::NodeConfigFor(kubepods_, pool, unknown_pod);
  }

 private:
  std::string root_;
  common::KubepodsCgroup kubepods_;
};

}  // namespace warden::testlib
