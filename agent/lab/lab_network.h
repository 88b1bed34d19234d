// The lab's network, built with `ip` from fixed names (wl-*: one lab per machine):
//
//   wl-fabric (bridge br0, 10.10.0.0/24) ── wl-inet: the "internet", router 10.10.0.254, hosts
//      ├── wl-node-I (a node at its fabric address) ── wl-pod-J (veth; pod IP /32, gateway
//      │                                              169.254.1.1 by proxy ARP)
//      └── wl-control (the control plane, 10.10.0.2)
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/lab/lab_state.h"

namespace warden::lab {

inline constexpr char kFabricSubnet[] = "10.10.0.0/24";
inline constexpr char kRouterIp[] = "10.10.0.254";
inline constexpr char kControlIp[] = "10.10.0.2";
inline constexpr char kInternetNetns[] = "wl-inet";
inline constexpr char kControlNetns[] = "wl-control";
// The "internet": TEST-NET hosts of the reference scenario and the Google API VIPs.
inline const std::vector<std::string> kWorldHosts = {"203.0.113.10", "203.0.113.20",
                                                     "203.0.113.66", "198.51.100.53",
                                                     "199.36.153.8", "199.36.153.4"};

// The names and fabric address of the `index`th node and pod.
std::string NodeNetns(size_t index);
std::string NodeFabricIp(size_t index);
std::string PodNetns(size_t index);

// The bridge every namespace of the lab hangs on.
absl::Status MakeFabric();
// The internet on the fabric at the router address, its hosts on its loopback.
absl::Status MakeInternet(const LabInternet& inet);
// The `index`th node on the fabric: a default route via the router, forwarding, the metadata
// address on its loopback, and the internet's routes back to its podCIDRs.
absl::Status MakeNode(size_t index, const LabNode& node);
// In each node, a route to every other node's podCIDRs via that node.
absl::Status RouteBetweenNodes(const std::vector<LabNode>& nodes);
// The `index`th pod behind a veth into its node.
absl::Status MakePod(size_t index, const LabPod& pod, const LabNode& node);
// The control plane's namespace on the fabric.
absl::Status MakeControlNetns();

// Deletes every wl-* network namespace.
void DeleteLabNetns();

}  // namespace warden::lab
