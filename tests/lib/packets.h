// Crafted packets for BPF_PROG_TEST_RUN of the cgroup_skb programs: an Ethernet header, then an
// IPv4 or IPv6 header and the first 20 bytes of the L4 header (ports; a TCP packet is a SYN).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace warden::testlib {

inline constexpr uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kSctp = 132;

// Addresses as text ("10.0.0.1").
std::vector<uint8_t> Ipv4Packet(const std::string& src, const std::string& dst, uint8_t proto,
                                uint16_t sport, uint16_t dport);
// Addresses in host byte order (10 << 24 | 1 is 10.0.0.1).
std::vector<uint8_t> Ipv4Packet(uint32_t src, uint32_t dst, uint8_t proto, uint16_t sport,
                                uint16_t dport);
// With `with_ext_header`, a destination options header sits between the IPv6 header and L4.
std::vector<uint8_t> Ipv6Packet(const std::string& src, const std::string& dst, uint8_t proto,
                                uint16_t sport, uint16_t dport, bool with_ext_header = false);
// An ARP frame (not IP: the programs return early).
std::vector<uint8_t> ArpPacket();

// The dotted text of an IPv4 address given in host byte order.
std::string Ipv4Text(uint32_t host_order);

}  // namespace warden::testlib
