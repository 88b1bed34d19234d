// Where a local pod's packets enter and leave the node: the node side of its network interface,
// found the way the node itself forwards to the pod, from the host route to the pod's address
// (/32, /128) and the device it names. Routed CNIs (Calico, Cilium's native routing, the lab)
// give every local pod such a route through its veth; a pod reached only through a bridge or a
// wider prefix gets no interface (the first line still judges its sockets).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "agent/policy/ip.h"

namespace warden::node {

// Host routes of the main table: the address -> the name of the device the route names.
using HostRoutes = absl::flat_hash_map<policy::IpAddress, std::string>;

// From the texts of /proc/net/route and /proc/net/ipv6_route. Routes that are not host routes,
// or that go through the loopback device, are left out.
HostRoutes ParseHostRoutes(const std::string& route4, const std::string& route6);
// Those of this process's network namespace.
HostRoutes ReadHostRoutes();

// The interface (ifindex in this network namespace) of a pod with `addresses`: the one device
// the host routes to all of them name; 0 when none does, or when they name different devices.
// `ifindex_of` turns a device name into its index (0 for none): if_nametoindex unless a test says.
uint32_t PodInterface(const HostRoutes& routes, const std::vector<policy::IpAddress>& addresses,
                      uint32_t (*ifindex_of)(const std::string&) = nullptr);

}  // namespace warden::node
