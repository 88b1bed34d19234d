#include "agent/node/pod_cgroups.h"

namespace warden::node {

datapath::NodeConfig NodeConfigFor(const common::KubepodsCgroup& kubepods, uint8_t pool,
                                   uint8_t unknown_pod) {
  datapath::NodeConfig cfg;
  cfg.kubepods_cgroup_id = kubepods.id;
  cfg.kubepods_level = kubepods.level;
  cfg.pod_levels[0] = kubepods.level + 2;
  cfg.pod_levels[1] = kubepods.level + 1;
  cfg.pool = pool;
  cfg.unknown_pod = unknown_pod;
  return cfg;
}

}  // namespace warden::node
