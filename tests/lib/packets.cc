#include "tests/lib/packets.h"

#include <arpa/inet.h>

#include <cstring>

namespace warden::testlib {

namespace {

constexpr size_t kEth = 14, kIpv4 = 20, kIpv6 = 40;

bool IsIpv6(const std::string& addr) { return addr.find(':') != std::string::npos; }

void Put16(uint8_t* p, uint16_t v) {
  uint16_t n = htons(v);
  std::memcpy(p, &n, 2);
}

// The L4 header of `s`, as the spec says.
std::vector<uint8_t> L4Bytes(const PacketSpec& s, bool v6) {
  if (!s.l4.empty()) return s.l4;
  std::vector<uint8_t> l4;
  switch (s.proto) {
    case kTcp:
      l4.assign(20, 0);
      l4[12] = static_cast<uint8_t>(s.tcp_doff << 4);
      l4[13] = s.tcp_flags;
      break;
    case kUdp:
      l4.assign(8, 0);
      Put16(&l4[4], 8);
      break;
    case kSctp:
      l4.assign(12, 0);
      break;
    case kIcmp:
    case kIcmp6:
      l4.assign(8, 0);
      l4[0] = s.icmp_type;
      if (v6 && s.icmp_type == 8) l4[0] = 128;  // the echo request of ICMPv6
      l4[1] = s.icmp_code;
      break;
    default:
      break;
  }
  if (s.proto == kTcp || s.proto == kUdp || s.proto == kSctp) {
    Put16(&l4[0], s.sport);
    Put16(&l4[2], s.dport);
  }
  return l4;
}

std::vector<uint8_t> Ipv4Datagram(const PacketSpec& s) {
  const size_t hlen = kIpv4 + s.ipv4_options;
  std::vector<uint8_t> l4 = L4Bytes(s, false);
  std::vector<uint8_t> ip(hlen, 0);
  ip[0] = static_cast<uint8_t>(0x40 | (hlen / 4));
  Put16(&ip[2], s.ip_length ? *s.ip_length : static_cast<uint16_t>(hlen + l4.size()));
  Put16(&ip[4], static_cast<uint16_t>(s.fragment_id));
  Put16(&ip[6], static_cast<uint16_t>((s.more_fragments ? 0x2000 : 0) | s.fragment_offset));
  ip[8] = s.ttl;
  ip[9] = s.proto;
  inet_pton(AF_INET, s.src.c_str(), &ip[12]);
  inet_pton(AF_INET, s.dst.c_str(), &ip[16]);
  for (size_t i = kIpv4; i < hlen; ++i) ip[i] = 1;  // NOP options
  ip.insert(ip.end(), l4.begin(), l4.end());
  return ip;
}

std::vector<uint8_t> Ipv6Datagram(const PacketSpec& s) {
  std::vector<uint8_t> l4 = L4Bytes(s, true);
  std::vector<uint8_t> ext;
  for (size_t i = 0; i < s.ipv6_ext.size(); ++i) {
    uint8_t next = i + 1 < s.ipv6_ext.size() ? s.ipv6_ext[i + 1] : s.proto;
    uint8_t h[8] = {next, 0, 0, 0, 0, 0, 0, 0};
    if (s.ipv6_ext[i] == kFragment) {
      Put16(&h[2], static_cast<uint16_t>((s.fragment_offset << 3) | (s.more_fragments ? 1 : 0)));
      uint32_t id = htonl(s.fragment_id);
      std::memcpy(&h[4], &id, 4);
    } else if (s.ipv6_ext[i] == kDestOpts || s.ipv6_ext[i] == kHopByHop) {
      h[2] = 1;  // PadN over the remaining 6 bytes
      h[3] = 4;
    }
    ext.insert(ext.end(), h, h + 8);
  }
  std::vector<uint8_t> ip(kIpv6, 0);
  ip[0] = 0x60;
  Put16(&ip[4], s.ip_length ? *s.ip_length : static_cast<uint16_t>(ext.size() + l4.size()));
  ip[6] = s.ipv6_ext.empty() ? s.proto : s.ipv6_ext[0];
  ip[7] = s.ttl;
  inet_pton(AF_INET6, s.src.c_str(), &ip[8]);
  inet_pton(AF_INET6, s.dst.c_str(), &ip[24]);
  ip.insert(ip.end(), ext.begin(), ext.end());
  ip.insert(ip.end(), l4.begin(), l4.end());
  return ip;
}

}  // namespace

std::vector<uint8_t> IpDatagram(const PacketSpec& s) {
  return IsIpv6(s.src) ? Ipv6Datagram(s) : Ipv4Datagram(s);
}

std::vector<uint8_t> Packet(const PacketSpec& s) {
  const bool v6 = IsIpv6(s.src);
  std::vector<uint8_t> p(kEth, 0);
  p[12] = v6 ? 0x86 : 0x08;  // EtherType IPv6 / IPv4
  p[13] = v6 ? 0xdd : 0x00;
  std::vector<uint8_t> ip = IpDatagram(s);
  p.insert(p.end(), ip.begin(), ip.end());
  if (s.truncate_to && s.truncate_to < p.size()) p.resize(s.truncate_to);
  return p;
}

std::vector<uint8_t> Ipv4Packet(const std::string& src, const std::string& dst, uint8_t proto,
                                uint16_t sport, uint16_t dport) {
  PacketSpec s;
  s.src = src;
  s.dst = dst;
  s.proto = proto;
  s.sport = sport;
  s.dport = dport;
  return Packet(s);
}

std::vector<uint8_t> Ipv4Packet(uint32_t src, uint32_t dst, uint8_t proto, uint16_t sport,
                                uint16_t dport) {
  return Ipv4Packet(Ipv4Text(src), Ipv4Text(dst), proto, sport, dport);
}

std::vector<uint8_t> Ipv6Packet(const std::string& src, const std::string& dst, uint8_t proto,
                                uint16_t sport, uint16_t dport, bool with_ext_header) {
  PacketSpec s;
  s.src = src;
  s.dst = dst;
  s.proto = proto;
  s.sport = sport;
  s.dport = dport;
  if (with_ext_header) s.ipv6_ext = {kDestOpts};
  return Packet(s);
}

std::vector<uint8_t> IcmpError(const std::string& src, const std::string& dst,
                               const PacketSpec& quoted, uint8_t type, uint8_t code) {
  const bool v6 = IsIpv6(src);
  std::vector<uint8_t> inner = IpDatagram(quoted);
  const size_t keep = v6 ? kIpv6 + 8 : kIpv4 + quoted.ipv4_options + 8;
  if (inner.size() > keep) inner.resize(keep);
  std::vector<uint8_t> l4(8, 0);
  // Destination unreachable, port unreachable (ICMPv6: 1/4), unless told otherwise.
  l4[0] = type ? type : (v6 ? 1 : 3);
  l4[1] = type ? code : (v6 ? 4 : 3);
  l4.insert(l4.end(), inner.begin(), inner.end());
  PacketSpec s;
  s.src = src;
  s.dst = dst;
  s.proto = v6 ? kIcmp6 : kIcmp;
  s.l4 = l4;
  return Packet(s);
}

std::vector<uint8_t> ArpPacket() {
  std::vector<uint8_t> p(kEth + 28, 0);
  p[12] = 0x08;  // EtherType ARP
  p[13] = 0x06;
  return p;
}

std::string Ipv4Text(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

}  // namespace warden::testlib
