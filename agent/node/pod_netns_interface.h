// The node side of a pod's interface found from inside the pod's network namespace, for pods that
// no host route names (pod_interfaces.h): bridge CNIs (flannel, the bridge plugin) plug the node
// end of each pod's veth into a bridge and route the whole pod CIDR to the bridge. Inside the pod,
// the interface holding the pod's address is one end of a veth whose other end lives in another
// namespace (rtnetlink's IFLA_LINK with IFLA_LINK_NETNSID); that end's index, checked to be a
// device of this namespace whose own peer is the pod's end, is the answer. The kernel reports
// these links: a pod cannot forge them, at most hide its address from them (then it has no
// interface, which the agent counts).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/policy/ip.h"

namespace warden::node {

// The index, in this thread's network namespace, of the node end of the veth that carries one of
// `addresses` in the network namespace of process `pid`; NotFound when none does (no such
// interface, not a veth, its peer not here).
absl::StatusOr<uint32_t> PeerInterfaceOf(pid_t pid,
                                         const std::vector<policy::IpAddress>& addresses);

// The same for a pod, through the first of its cgroup tree's processes (`cgroup`: its directory)
// whose network namespace holds one of `addresses`; NotFound when no process does.
absl::StatusOr<uint32_t> PodInterfaceFromNetns(const std::string& cgroup,
                                               const std::vector<policy::IpAddress>& addresses);

}  // namespace warden::node
