// Frames written straight to a device through an AF_PACKET socket: no IP output path, so no
// cgroup program sees them (what CAP_NET_RAW, a container default, allows).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "tests/e2e/attacks/craft.h"

namespace warden::attacks {

using Mac = std::array<uint8_t, 6>;

// The MAC address that answers ARP for `gateway` on `dev` (the node's end of a pod's veth
// answers for the pod's gateway by proxy ARP), asked from `own_ip` with a packet socket.
Mac ResolveByArp(const std::string& dev, const std::string& own_ip, const std::string& gateway);

// Sends IP packet `ip` (IPv4 or IPv6, by its version nibble) to `dst_mac` on `dev`, `times`
// times; with `qdisc_bypass`, through PACKET_QDISC_BYPASS (straight to the driver). Throws on
// a send error.
void SendFrame(const std::string& dev, const Mac& dst_mac, const Bytes& ip, bool qdisc_bypass,
               int times);

}  // namespace warden::attacks
