// What the lab will be, from the manifests: its nodes (the declared ones, then any a pod names)
// and its pods (those with a status.podIP(s) of either family, not hostNetwork), each with its
// network namespace, addresses and cgroups (kubelet's cgroupfs naming). Nothing is created here.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/lab/lab_state.h"
#include "agent/policy/cluster.h"

namespace warden::lab {

// Where the agents pin their maps and links, one directory per node.
inline constexpr char kLabBpffs[] = "/sys/fs/bpf/warden-lab";

// InvalidArgument when there is no node at all.
absl::StatusOr<LabState> PlanLab(const policy::ClusterState& cluster, const std::string& manifests,
                                 const std::string& lab_cgroup);

}  // namespace warden::lab
