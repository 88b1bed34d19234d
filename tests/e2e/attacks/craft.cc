#include "tests/e2e/attacks/craft.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <stdexcept>

namespace warden::attacks {
namespace {

bool IsV6(const std::string& a) { return a.find(':') != std::string::npos; }

Bytes AddrBytes(const std::string& a) {
  Bytes out(IsV6(a) ? 16 : 4);
  if (inet_pton(IsV6(a) ? AF_INET6 : AF_INET, a.c_str(), out.data()) != 1)
    throw std::invalid_argument("not an address: " + a);
  return out;
}

void Put16(Bytes& b, size_t at, uint16_t v) {
  b[at] = static_cast<uint8_t>(v >> 8);
  b[at + 1] = static_cast<uint8_t>(v);
}

uint32_t Sum(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (n % 2) acc += static_cast<uint32_t>(p[n - 1] << 8);
  return acc;
}

uint16_t Fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

// The L4 checksum over the pseudo-header of either family.
uint16_t L4Checksum(const std::string& src, const std::string& dst, uint8_t proto,
                    const Bytes& l4) {
  Bytes s = AddrBytes(src), d = AddrBytes(dst);
  uint32_t acc = Sum(s.data(), s.size());
  acc = Sum(d.data(), d.size(), acc);
  acc += proto;
  acc += static_cast<uint32_t>(l4.size());
  return Fold(Sum(l4.data(), l4.size(), acc));
}

}  // namespace

Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes Ipv4(const Ipv4Header& h, const Bytes& payload) {
  const size_t hl = 20 + h.options.size();
  Bytes b(hl);
  b[0] = static_cast<uint8_t>(0x40 | (hl / 4));
  Put16(b, 2, static_cast<uint16_t>(hl + payload.size()));
  Put16(b, 4, h.id);
  Put16(b, 6, h.frag);
  b[8] = 64;
  b[9] = h.protocol;
  Bytes s = AddrBytes(h.src), d = AddrBytes(h.dst);
  std::copy(s.begin(), s.end(), b.begin() + 12);
  std::copy(d.begin(), d.end(), b.begin() + 16);
  std::copy(h.options.begin(), h.options.end(), b.begin() + 20);
  Put16(b, 10, Fold(Sum(b.data(), hl)));
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Ipv6(const std::string& src, const std::string& dst, uint8_t next, const Bytes& payload) {
  Bytes b(40);
  b[0] = 0x60;
  Put16(b, 4, static_cast<uint16_t>(payload.size()));
  b[6] = next;
  b[7] = 64;
  Bytes s = AddrBytes(src), d = AddrBytes(dst);
  std::copy(s.begin(), s.end(), b.begin() + 8);
  std::copy(d.begin(), d.end(), b.begin() + 24);
  b.insert(b.end(), payload.begin(), payload.end());
  return b;
}

Bytes Udp(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
          const Bytes& payload) {
  Bytes b(8 + payload.size());
  Put16(b, 0, sport);
  Put16(b, 2, dport);
  Put16(b, 4, static_cast<uint16_t>(b.size()));
  std::copy(payload.begin(), payload.end(), b.begin() + 8);
  uint16_t c = L4Checksum(src, dst, kUdp, b);
  Put16(b, 6, c ? c : 0xffff);
  return b;
}

Bytes TcpSyn(const std::string& src, const std::string& dst, uint16_t sport, uint16_t dport,
             uint32_t seq) {
  Bytes b(20);
  Put16(b, 0, sport);
  Put16(b, 2, dport);
  Put16(b, 4, static_cast<uint16_t>(seq >> 16));
  Put16(b, 6, static_cast<uint16_t>(seq));
  b[12] = 5 << 4;  // data offset: no options
  b[13] = 0x02;    // SYN
  Put16(b, 14, 64240);
  Put16(b, 16, L4Checksum(src, dst, kTcp, b));
  return b;
}

Bytes IcmpEcho(uint16_t id, uint16_t seq, const Bytes& payload) {
  Bytes b(8 + payload.size());
  b[0] = 8;  // echo request
  Put16(b, 4, id);
  Put16(b, 6, seq);
  std::copy(payload.begin(), payload.end(), b.begin() + 8);
  Put16(b, 2, Fold(Sum(b.data(), b.size())));
  return b;
}

Bytes IpPacket(const std::string& src, const std::string& dst, uint8_t protocol, const Bytes& l4) {
  if (IsV6(src)) return Ipv6(src, dst, protocol, l4);
  static uint16_t id = 0x5700;
  return Ipv4(Ipv4Header{src, dst, protocol, ++id, 0, {}}, l4);
}

}  // namespace warden::attacks
