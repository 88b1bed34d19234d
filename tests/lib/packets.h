// Crafted packets for BPF_PROG_TEST_RUN of the cgroup_skb and tc programs: an Ethernet header,
// then an IPv4 or IPv6 header and an L4 header (a TCP packet is a SYN unless told otherwise).
// PacketSpec builds anything from well-formed to broken (options, extension headers, fragments,
// lengths that lie, truncation); Ipv4Packet/Ipv6Packet are the common well-formed cases.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace warden::testlib {

inline constexpr uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kIcmp6 = 58, kSctp = 132;
// IPv6 extension header types.
inline constexpr uint8_t kHopByHop = 0, kRouting = 43, kFragment = 44, kDestOpts = 60,
                         kNoNextHeader = 59;
// TCP flags.
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kAck = 0x10;

struct PacketSpec {
  std::string src, dst;  // IPv4 or IPv6 text: the family follows
  uint8_t proto = kTcp;
  uint16_t sport = 0, dport = 0;  // TCP, UDP, SCTP
  uint8_t tcp_flags = kSyn;
  uint8_t tcp_doff = 5;                  // TCP data offset in 32-bit words
  uint8_t icmp_type = 8, icmp_code = 0;  // ICMP/ICMPv6 (8: an IPv4 echo request)
  // The L4 header and payload: built from the fields above when empty (20 bytes of TCP, 8 of
  // UDP or ICMP, 12 of SCTP, nothing else), else these bytes as they are.
  std::vector<uint8_t> l4;
  size_t ipv4_options = 0;        // bytes of IPv4 options (NOPs), a multiple of 4
  std::vector<uint8_t> ipv6_ext;  // IPv6 extension headers (types), in this order, 8 bytes each
  bool more_fragments = false;    // IPv4 MF flag, or the IPv6 fragment header's M bit
  uint16_t fragment_offset = 0;   // in 8-byte units
  uint32_t fragment_id = 0x1234;
  std::optional<uint16_t> ip_length;  // IPv4 total length / IPv6 payload length as written
  size_t truncate_to = 0;             // cut the frame to this many bytes (0: keep it whole)
  uint8_t ttl = 64;
};

// The frame, Ethernet header first.
std::vector<uint8_t> Packet(const PacketSpec& s);
// The IP datagram of `s` without the Ethernet header (what an ICMP error quotes).
std::vector<uint8_t> IpDatagram(const PacketSpec& s);

// Addresses as text ("10.0.0.1").
std::vector<uint8_t> Ipv4Packet(const std::string& src, const std::string& dst, uint8_t proto,
                                uint16_t sport, uint16_t dport);
// Addresses in host byte order (10 << 24 | 1 is 10.0.0.1).
std::vector<uint8_t> Ipv4Packet(uint32_t src, uint32_t dst, uint8_t proto, uint16_t sport,
                                uint16_t dport);
// With `with_ext_header`, a destination options header sits between the IPv6 header and L4.
std::vector<uint8_t> Ipv6Packet(const std::string& src, const std::string& dst, uint8_t proto,
                                uint16_t sport, uint16_t dport, bool with_ext_header = false);
// An ICMP (ICMPv6 for IPv6 addresses) error from `src` to `dst` quoting the first 28 (48)
// bytes of `quoted`: destination unreachable / port unreachable unless told otherwise.
std::vector<uint8_t> IcmpError(const std::string& src, const std::string& dst,
                               const PacketSpec& quoted, uint8_t type = 0, uint8_t code = 0);
// An ARP frame (not IP: the programs return early).
std::vector<uint8_t> ArpPacket();

// The dotted text of an IPv4 address given in host byte order.
std::string Ipv4Text(uint32_t host_order);

}  // namespace warden::testlib
