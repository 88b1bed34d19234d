// The lab's network, built with `ip` from fixed names (wl-*: one lab per machine):
//
//   wl-fabric (bridge br0, 10.10.0.0/24 and fd00:10:10::/64)
//      ├── wl-inet: the "internet", router 10.10.0.254 / fd00:10:10::254, hosts on its loopback
//      ├── wl-node-I (a node at its fabric addresses) ── wl-pod-J (veth; the pod's IPv4 /32,
//      │        gateway 169.254.1.1 by proxy ARP; its IPv6 /128, gateway fe80::1 on the node's end)
//      └── wl-control (the control plane, 10.10.0.2)
//
// Every namespace skips IPv6 duplicate address detection, so addresses work at once.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/lab/lab_state.h"

namespace warden::lab {

inline constexpr char kFabricSubnet[] = "10.10.0.0/24";
inline constexpr char kFabricSubnet6[] = "fd00:10:10::/64";
inline constexpr char kRouterIp[] = "10.10.0.254";
inline constexpr char kRouterIp6[] = "fd00:10:10::254";
inline constexpr char kControlIp[] = "10.10.0.2";
inline constexpr char kInternetNetns[] = "wl-inet";
inline constexpr char kControlNetns[] = "wl-control";
// The "internet": TEST-NET hosts of the reference scenario and the Google API VIPs, and an IPv6
// twin (2001:db8::/32, the documentation range) of each TEST-NET host: 2001:db8::10 is
// example.com's. The Google API VIPs' IPv6 twins are in their real ranges
// (private.googleapis.com 2600:2d00:2:2000::/64, restricted 2600:2d00:2:1000::/64), which only
// the lab's own internet namespace holds.
inline const std::vector<std::string> kWorldHosts = {
    "203.0.113.10", "203.0.113.20", "203.0.113.66",        "198.51.100.53",
    "199.36.153.8", "199.36.153.4", "2001:db8::10",        "2001:db8::20",
    "2001:db8::66", "2001:db8::53", "2600:2d00:2:2000::8", "2600:2d00:2:1000::4"};

// The names and fabric addresses of the `index`th node and pod.
std::string NodeNetns(size_t index);
std::string NodeFabricIp(size_t index);
std::string NodeFabricIp6(size_t index);
std::string PodNetns(size_t index);

// The bridge every namespace of the lab hangs on.
absl::Status MakeFabric();
// The internet on the fabric at the router address, its hosts on its loopback.
absl::Status MakeInternet(const LabInternet& inet);
// The `index`th node on the fabric: default routes via the router, forwarding, the metadata
// address on its loopback.
absl::Status MakeNode(size_t index, const LabNode& node);
// In every node and in the internet, a route to each other node's pods via that node (of the
// same family): its podCIDRs, and each pod's address that no podCIDR of its node holds (a node
// without spec.podCIDR(s), or without a Node object at all).
absl::Status RouteClusterAddresses(const LabState& lab);
// In `netns` (on the fabric, IPv4 only, not a node), a route to every node's IPv4 pods via that
// node: how the control plane answers a pod (the gateway) that subscribes.
absl::Status RouteToPods(const LabState& lab, const std::string& netns);
// The `index`th pod behind a veth into its node, with its IPv4 and IPv6 addresses (either may
// be missing) and a default route of each family.
absl::Status MakePod(size_t index, const LabPod& pod, const LabNode& node);
// The control plane's namespace on the fabric.
absl::Status MakeControlNetns();

// Deletes every wl-* network namespace.
void DeleteLabNetns();

}  // namespace warden::lab
