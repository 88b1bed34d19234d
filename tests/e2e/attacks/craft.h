// Hand-made IPv4 and IPv6 packets: what a hostile pod writes into a raw or packet socket, with
// correct checksums (a kernel answers a reflected packet only if they are right) unless the
// packet is meant to be broken.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace warden::attacks {

using Bytes = std::vector<uint8_t>;

inline constexpr uint8_t kIcmp = 1, kTcp = 6, kUdp = 17, kIcmp6 = 58, kDestOpts = 60;

struct Ipv4Header {
  std::string src, dst;
  uint8_t protocol = kUdp;
  uint16_t id = 0;
  uint16_t frag = 0;  // flags (0x2000: more fragments) and offset in 8-byte units
  Bytes options;      // padded by the caller to a multiple of 4
};

// An IPv4 packet around `payload` (tot_len and header checksum filled in).
Bytes Ipv4(const Ipv4Header& h, const Bytes& payload);
// An IPv6 packet (hop limit 64) around `payload`, which starts with header `next`.
Bytes Ipv6(const std::string& src, const std::string& dst, uint8_t next, const Bytes& payload);

// L4 headers with their payload; the checksum covers the pseudo-header of (src, dst), whose
// family is read from the text.
Bytes Udp(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
          const Bytes& payload);
Bytes TcpSyn(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
             uint32_t seq);
Bytes IcmpEcho(uint16_t id, uint16_t seq, const Bytes& payload);  // IPv4 ICMP echo request

// Wraps: the whole packet, IPv4 or IPv6 by the address text.
Bytes IpPacket(const std::string& src, const std::string& dst, uint8_t protocol, const Bytes& l4);

Bytes ToBytes(const std::string& s);

}  // namespace warden::attacks
