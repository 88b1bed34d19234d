#include "tests/e2e/attacks/packet_socket.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/if_ether.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <stdexcept>

namespace warden::attacks {
namespace {

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {
    if (fd < 0) Fail("socket(AF_PACKET)");
  }
  ~Fd() { close(fd); }
};

Mac OwnMac(int fd, const std::string& dev) {
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, dev.c_str(), IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) Fail("SIOCGIFHWADDR " + dev);
  Mac m;
  std::memcpy(m.data(), ifr.ifr_hwaddr.sa_data, 6);
  return m;
}

sockaddr_ll LinkAddress(const std::string& dev, uint16_t ethertype, const Mac& dst) {
  sockaddr_ll a{};
  a.sll_family = AF_PACKET;
  a.sll_protocol = htons(ethertype);
  a.sll_ifindex = static_cast<int>(if_nametoindex(dev.c_str()));
  if (a.sll_ifindex == 0) Fail("if_nametoindex " + dev);
  a.sll_halen = 6;
  std::memcpy(a.sll_addr, dst.data(), 6);
  return a;
}

}  // namespace

Mac ResolveByArp(const std::string& dev, const std::string& own_ip, const std::string& gateway) {
  Fd s(socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ARP)));
  Mac own = OwnMac(s.fd, dev), broadcast;
  broadcast.fill(0xff);
  ether_arp req{};
  req.arp_hrd = htons(ARPHRD_ETHER);
  req.arp_pro = htons(ETH_P_IP);
  req.arp_hln = 6;
  req.arp_pln = 4;
  req.arp_op = htons(ARPOP_REQUEST);
  std::memcpy(req.arp_sha, own.data(), 6);
  inet_pton(AF_INET, own_ip.c_str(), req.arp_spa);
  inet_pton(AF_INET, gateway.c_str(), req.arp_tpa);
  sockaddr_ll to = LinkAddress(dev, ETH_P_ARP, broadcast);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  while (std::chrono::steady_clock::now() < deadline) {
    if (sendto(s.fd, &req, sizeof(req), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) < 0)
      Fail("sendto ARP");
    pollfd p{s.fd, POLLIN, 0};
    while (poll(&p, 1, 200) == 1) {
      ether_arp rep{};
      if (recv(s.fd, &rep, sizeof(rep), 0) < static_cast<ssize_t>(sizeof(rep))) continue;
      if (ntohs(rep.arp_op) == ARPOP_REPLY && std::memcmp(rep.arp_spa, req.arp_tpa, 4) == 0) {
        Mac m;
        std::memcpy(m.data(), rep.arp_sha, 6);
        return m;
      }
    }
  }
  throw std::runtime_error("no ARP answer for " + gateway + " on " + dev);
}

void SendFrame(const std::string& dev, const Mac& dst_mac, const Bytes& ip, bool qdisc_bypass,
               int times) {
  const uint16_t ethertype = (ip.at(0) >> 4) == 6 ? ETH_P_IPV6 : ETH_P_IP;
  Fd s(socket(AF_PACKET, SOCK_RAW, htons(ethertype)));
  if (qdisc_bypass) {
    int one = 1;
    if (setsockopt(s.fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0)
      Fail("PACKET_QDISC_BYPASS");
  }
  // SOCK_RAW: the Ethernet header is ours to write, as an attacker would.
  Mac own = OwnMac(s.fd, dev);
  Bytes frame(14);
  std::memcpy(frame.data(), dst_mac.data(), 6);
  std::memcpy(frame.data() + 6, own.data(), 6);
  frame[12] = static_cast<uint8_t>(ethertype >> 8);
  frame[13] = static_cast<uint8_t>(ethertype);
  frame.insert(frame.end(), ip.begin(), ip.end());
  sockaddr_ll to = LinkAddress(dev, ethertype, dst_mac);
  for (int i = 0; i < times; ++i) {
    if (sendto(s.fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) !=
        static_cast<ssize_t>(frame.size()))
      Fail("sendto AF_PACKET");
    usleep(20000);
  }
}

}  // namespace warden::attacks
