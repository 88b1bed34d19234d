#include "tests/lib/packets.h"

#include <arpa/inet.h>

#include <cstring>

namespace warden::testlib {

namespace {

constexpr size_t kEth = 14, kIpv4 = 20, kIpv6 = 40, kL4 = 20;

void PutPorts(uint8_t* l4, uint16_t sport, uint16_t dport) {
  uint16_t s = htons(sport), d = htons(dport);
  std::memcpy(l4, &s, 2);
  std::memcpy(l4 + 2, &d, 2);
}

// `src` and `dst` in network byte order.
std::vector<uint8_t> Ipv4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint16_t sport,
                          uint16_t dport) {
  std::vector<uint8_t> p(kEth + kIpv4 + kL4, 0);
  p[12] = 0x08;  // EtherType IPv4
  p[13] = 0x00;
  uint8_t* ip = &p[kEth];
  ip[0] = 0x45;
  uint16_t total = htons(static_cast<uint16_t>(p.size() - kEth));
  std::memcpy(ip + 2, &total, 2);
  ip[8] = 64;
  ip[9] = proto;
  std::memcpy(ip + 12, src, 4);
  std::memcpy(ip + 16, dst, 4);
  uint8_t* l4 = ip + kIpv4;
  PutPorts(l4, sport, dport);
  if (proto == kTcp) {
    l4[12] = 0x50;
    l4[13] = 0x02;  // SYN
  }
  return p;
}

}  // namespace

std::vector<uint8_t> Ipv4Packet(const std::string& src, const std::string& dst, uint8_t proto,
                                uint16_t sport, uint16_t dport) {
  uint8_t s[4] = {}, d[4] = {};
  inet_pton(AF_INET, src.c_str(), s);
  inet_pton(AF_INET, dst.c_str(), d);
  return Ipv4(s, d, proto, sport, dport);
}

std::vector<uint8_t> Ipv4Packet(uint32_t src, uint32_t dst, uint8_t proto, uint16_t sport,
                                uint16_t dport) {
  uint32_t s = htonl(src), d = htonl(dst);
  return Ipv4(reinterpret_cast<const uint8_t*>(&s), reinterpret_cast<const uint8_t*>(&d), proto,
              sport, dport);
}

std::vector<uint8_t> Ipv6Packet(const std::string& src, const std::string& dst, uint8_t proto,
                                uint16_t sport, uint16_t dport, bool with_ext_header) {
  size_t ext = with_ext_header ? 8 : 0;
  std::vector<uint8_t> p(kEth + kIpv6 + ext + kL4, 0);
  p[12] = 0x86;  // EtherType IPv6
  p[13] = 0xdd;
  uint8_t* ip = &p[kEth];
  ip[0] = 0x60;
  uint16_t len = htons(static_cast<uint16_t>(ext + kL4));
  std::memcpy(ip + 4, &len, 2);
  ip[6] = with_ext_header ? 60 : proto;  // destination options header first
  ip[7] = 64;
  inet_pton(AF_INET6, src.c_str(), ip + 8);
  inet_pton(AF_INET6, dst.c_str(), ip + 24);
  uint8_t* l4 = ip + kIpv6;
  if (with_ext_header) {
    l4[0] = proto;
    l4[1] = 0;  // 8 bytes
    l4 += 8;
  }
  PutPorts(l4, sport, dport);
  return p;
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
