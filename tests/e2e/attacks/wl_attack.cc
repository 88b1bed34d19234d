// wl_attack: the attacks of issue 12, each a few system calls, run inside a lab pod (or the lab
// internet) by `warden lab exec`. Arguments are `key=value`; each attempt prints one line
// `label: ok` or `label: ERRNO` (EPERM: a BPF hook refused it), so the test reads what the
// attacker saw, and checks separately what arrived at the other end.
//   wl_attack frame src= dst= proto=udp|tcp|icmp sport= dport= marker= [bypass=1]
//   wl_attack udp dst= dport= marker= [sport= bind= connect=1 mmsg=1 device= broadcast=1
//                 freebind=1 srr=HOP v4mapped=1]
//   wl_attack tcp dst= dport= [fastopen=1 marker=] [v4mapped=1 bind= timeout_ms=]
//   wl_attack ping dst= marker= [dgram=1 bind= timeout_ms=]
//   wl_attack raw dst= marker=                          (SOCK_RAW IPPROTO_UDP: kernel IP header)
//   wl_attack hdrincl src= dst= kind=udp|short-l4|fragments|dstopts-cut marker= [id=]
//   wl_attack tun dst= marker=                          (needs NET_ADMIN)
//   wl_attack vxlan remote= inner_dst= dport= marker=   (needs NET_ADMIN)
//   wl_attack reply port= peer= peer_port= marker= [timeout_ms=]
// Every command also takes cgroup=DIR: the attacker moves itself into cgroup DIR first.
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>

#include "tests/e2e/attacks/craft.h"
#include "tests/e2e/attacks/packet_socket.h"

namespace warden::attacks {
namespace {

using Args = std::map<std::string, std::string>;

std::string Get(const Args& a, const std::string& k, const std::string& def = "") {
  auto it = a.find(k);
  if (it != a.end()) return it->second;
  if (def.empty()) throw std::invalid_argument("missing " + k + "=");
  return def;
}
int Int(const Args& a, const std::string& k, const std::string& def = "") {
  return std::stoi(Get(a, k, def));
}
bool Flag(const Args& a, const std::string& k) { return a.count(k) && a.at(k) == "1"; }

void Report(const std::string& label, bool ok) {
  std::printf("%s: %s\n", label.c_str(), ok ? "ok" : strerrorname_np(errno));
  std::fflush(stdout);
}

bool IsV6(const std::string& a) { return a.find(':') != std::string::npos; }

// Any address of either family, with a port.
struct Addr {
  sockaddr_storage ss{};
  socklen_t len = 0;
  Addr(const std::string& ip, int port, bool v4mapped = false) {
    if (IsV6(ip) || v4mapped) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(static_cast<uint16_t>(port));
      std::string text = v4mapped ? "::ffff:" + ip : ip;
      if (inet_pton(AF_INET6, text.c_str(), &a->sin6_addr) != 1) throw std::invalid_argument(text);
      len = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(static_cast<uint16_t>(port));
      if (inet_pton(AF_INET, ip.c_str(), &a->sin_addr) != 1) throw std::invalid_argument(ip);
      len = sizeof(*a);
    }
  }
  sockaddr* sa() { return reinterpret_cast<sockaddr*>(&ss); }
  int family() const { return ss.ss_family; }
};

// The first IPv4 address of `dev`: the pod's own, to ask ARP from.
std::string OwnIpv4(const std::string& dev) {
  ifaddrs* all = nullptr;
  if (getifaddrs(&all) != 0) throw std::runtime_error("getifaddrs");
  std::string out;
  for (ifaddrs* i = all; i && out.empty(); i = i->ifa_next) {
    if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET && dev == i->ifa_name) {
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof(buf));
      out = buf;
    }
  }
  freeifaddrs(all);
  if (out.empty()) throw std::runtime_error("no IPv4 address on " + dev);
  return out;
}

Bytes L4For(const Args& a, const std::string& src, const std::string& dst, uint8_t* proto) {
  std::string p = Get(a, "proto", "udp");
  Bytes marker = ToBytes(Get(a, "marker", "wl-attack"));
  if (p == "tcp") {
    *proto = kTcp;
    return TcpSyn(src, dst, static_cast<uint16_t>(Int(a, "sport")),
                  static_cast<uint16_t>(Int(a, "dport")), 0x57a7d000);
  }
  if (p == "icmp") {
    *proto = kIcmp;
    return IcmpEcho(static_cast<uint16_t>(Int(a, "sport", "4242")), 1, marker);
  }
  *proto = kUdp;
  return Udp(src, dst, static_cast<uint16_t>(Int(a, "sport")),
             static_cast<uint16_t>(Int(a, "dport")), marker);
}

// A frame through a packet socket on eth0 to the pod's gateway (the node's end of the veth).
int Frame(const Args& a) {
  std::string src = Get(a, "src"), dst = Get(a, "dst");
  uint8_t proto = 0;
  Bytes l4 = L4For(a, src, dst, &proto);
  Mac gw = ResolveByArp("eth0", OwnIpv4("eth0"), "169.254.1.1");
  SendFrame("eth0", gw, IpPacket(src, dst, proto, l4), Flag(a, "bypass"), Int(a, "times", "3"));
  std::printf("frame: sent\n");
  return 0;
}

int UdpSend(const Args& a) {
  const bool mapped = Flag(a, "v4mapped");
  Addr to(Get(a, "dst"), Int(a, "dport"), mapped);
  int s = socket(to.family(), SOCK_DGRAM, 0);
  if (s < 0) return Report("socket", false), 1;
  int one = 1;
  if (Flag(a, "broadcast"))
    Report("SO_BROADCAST", !setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)));
  if (Flag(a, "freebind"))
    Report("IP_FREEBIND", !setsockopt(s, SOL_IP, IP_FREEBIND, &one, sizeof(one)));
  if (a.count("device")) {
    std::string dev = Get(a, "device");
    Report("SO_BINDTODEVICE", !setsockopt(s, SOL_SOCKET, SO_BINDTODEVICE, dev.c_str(),
                                          static_cast<socklen_t>(dev.size())));
  }
  if (a.count("srr")) {
    // Loose source route: the packet goes to the first hop, the final address is the last.
    uint8_t opt[12] = {IPOPT_NOP, IPOPT_LSRR, 11, 4};
    inet_pton(AF_INET, Get(a, "srr").c_str(), opt + 4);
    inet_pton(AF_INET, Get(a, "dst").c_str(), opt + 8);
    Report("IP_OPTIONS", !setsockopt(s, SOL_IP, IP_OPTIONS, opt, sizeof(opt)));
  }
  if (a.count("bind") || a.count("sport")) {
    Addr local(Get(a, "bind", IsV6(Get(a, "dst")) || mapped ? "::" : "0.0.0.0"),
               Int(a, "sport", "0"));
    Report("bind", bind(s, local.sa(), local.len) == 0);
  }
  Bytes msg = ToBytes(Get(a, "marker"));
  const int times = Int(a, "times", "3");
  if (Flag(a, "connect")) {
    Report("connect", connect(s, to.sa(), to.len) == 0);
    for (int i = 0; i < times; ++i) Report("send", send(s, msg.data(), msg.size(), 0) >= 0);
  } else if (Flag(a, "mmsg")) {
    iovec iov{msg.data(), msg.size()};
    mmsghdr m[2]{};
    for (auto& h : m) {
      h.msg_hdr.msg_name = to.sa();
      h.msg_hdr.msg_namelen = to.len;
      h.msg_hdr.msg_iov = &iov;
      h.msg_hdr.msg_iovlen = 1;
    }
    for (int i = 0; i < times; ++i) Report("sendmmsg", sendmmsg(s, m, 2, 0) > 0);
  } else {
    for (int i = 0; i < times; ++i)
      Report("send", sendto(s, msg.data(), msg.size(), 0, to.sa(), to.len) >= 0);
  }
  close(s);
  return 0;
}

// Binds `s` to the address a=`bind` names, if any (a world host answering from its own address).
void BindIfAsked(int s, const Args& a, int family) {
  if (!a.count("bind")) return;
  Addr local(Get(a, "bind"), 0);
  if (local.family() != family) throw std::invalid_argument("bind= of another family");
  Report("bind", bind(s, local.sa(), local.len) == 0);
}

int TcpConnect(const Args& a) {
  Addr to(Get(a, "dst"), Int(a, "dport"), Flag(a, "v4mapped"));
  int s = socket(to.family(), SOCK_STREAM, 0);
  BindIfAsked(s, a, to.family());
  int timeout = Int(a, "timeout_ms", "1000");
  timeval tv{timeout / 1000, (timeout % 1000) * 1000};
  setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (Flag(a, "fastopen")) {
    // The SYN carries data: the connect hook must still run.
    Bytes msg = ToBytes(Get(a, "marker"));
    Report("fastopen", sendto(s, msg.data(), msg.size(), MSG_FASTOPEN, to.sa(), to.len) >= 0);
  } else {
    int r = connect(s, to.sa(), to.len);
    if (r != 0 && errno == EINPROGRESS) errno = ETIMEDOUT;  // SO_SNDTIMEO ran out
    Report("connect", r == 0);
  }
  close(s);
  return 0;
}

int Ping(const Args& a) {
  Addr to(Get(a, "dst"), 0);
  const bool dgram = Flag(a, "dgram");
  int s = socket(AF_INET, dgram ? SOCK_DGRAM : SOCK_RAW, IPPROTO_ICMP);
  if (s < 0) return Report("socket", false), 1;
  BindIfAsked(s, a, AF_INET);
  Bytes pkt = IcmpEcho(0x4242, 1, ToBytes(Get(a, "marker")));
  for (int i = 0; i < Int(a, "times", "3"); ++i)
    Report("send", sendto(s, pkt.data(), pkt.size(), 0, to.sa(), to.len) >= 0);
  // An answer: any echo reply carrying the marker within the time-out.
  bool answered = false;
  pollfd p{s, POLLIN, 0};
  while (!answered && poll(&p, 1, Int(a, "timeout_ms", "1000")) == 1) {
    char buf[2048];
    ssize_t n = recv(s, buf, sizeof(buf), 0);
    if (n > 0 &&
        memmem(buf, static_cast<size_t>(n), Get(a, "marker").data(), Get(a, "marker").size()))
      answered = true;
  }
  std::printf("reply: %s\n", answered ? "yes" : "no");
  close(s);
  return 0;
}

// A raw IP socket of protocol UDP: the kernel writes the IP header, the attacker the rest.
int Raw(const Args& a) {
  Addr to(Get(a, "dst"), 0);
  int s = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
  if (s < 0) return Report("socket", false), 1;
  Bytes udp = Udp("0.0.0.0", Get(a, "dst"), 40000, static_cast<uint16_t>(Int(a, "dport", "53")),
                  ToBytes(Get(a, "marker")));
  udp[6] = udp[7] = 0;  // no checksum: the source address is the kernel's to choose
  for (int i = 0; i < Int(a, "times", "3"); ++i)
    Report("send", sendto(s, udp.data(), udp.size(), 0, to.sa(), to.len) >= 0);
  close(s);
  return 0;
}

// Whole packets through IPPROTO_RAW (IP_HDRINCL): the attacker writes every header.
int HdrIncl(const Args& a) {
  std::string src = Get(a, "src"), dst = Get(a, "dst"), kind = Get(a, "kind");
  Bytes marker = ToBytes(Get(a, "marker"));
  const uint16_t id = static_cast<uint16_t>(Int(a, "id", "22000"));
  std::vector<Bytes> packets;
  if (kind == "udp") {
    packets.push_back(Ipv4({src, dst, kUdp, id, 0, {}}, Udp(src, dst, 40001, 53, marker)));
  } else if (kind == "short-l4") {
    // 40 bytes of options (NOPs, then end of list), then the first 2 bytes of a UDP header:
    // not even its ports are there to judge.
    Bytes options(40, 1);
    options.back() = 0;
    packets.push_back(Ipv4({src, dst, kUdp, id, 0, options}, {0x9c, 0x42}));
  } else if (kind == "fragments") {
    // A UDP datagram in two fragments: the first holds the header, the second the marker.
    Bytes udp = Udp(src, dst, 40002, 53, Bytes(16, 'x'));
    udp.insert(udp.end(), marker.begin(), marker.end());
    Bytes first(udp.begin(), udp.begin() + 24), rest(udp.begin() + 24, udp.end());
    packets.push_back(Ipv4({src, dst, kUdp, id, 0x2000, {}}, first));
    packets.push_back(Ipv4({src, dst, kUdp, id, 24 / 8, {}}, rest));
  } else if (kind == "dstopts-cut") {
    // A destination options header (its option data the marker, 12 bytes) that names UDP as
    // the next header, and no UDP header after it.
    Bytes opts = {kUdp, 1, 0x1e, 12};
    Bytes m = marker;
    m.resize(12, 0);
    opts.insert(opts.end(), m.begin(), m.end());
    packets.push_back(Ipv6(src, dst, kDestOpts, opts));
  } else {
    throw std::invalid_argument("kind=" + kind);
  }
  Addr to(dst, 0);
  int s = socket(to.family(), SOCK_RAW, IPPROTO_RAW);
  if (s < 0) return Report("socket", false), 1;
  for (int i = 0; i < Int(a, "times", "3"); ++i) {
    for (const Bytes& p : packets)
      Report("send", sendto(s, p.data(), p.size(), 0, to.sa(), to.len) >= 0);
  }
  close(s);
  return 0;
}

void WriteFile(const std::string& path, const std::string& value) { std::ofstream(path) << value; }

std::string ReadFile(const std::string& path) {
  std::string v;
  std::ifstream(path) >> v;
  return v;
}

int Run(const std::string& cmd) {
  int r = std::system(cmd.c_str());
  Report(cmd, r == 0);
  return r;
}

// A TUN device with forwarding on: a packet written to it (from the tunnel's far end,
// 10.99.0.2) is routed out of the pod like a router's.
int Tun(const Args& a) {
  int fd = open("/dev/net/tun", O_RDWR);
  if (fd < 0) return Report("open /dev/net/tun", false), 1;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "wlatk0", IFNAMSIZ - 1);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  if (ioctl(fd, TUNSETIFF, &ifr) != 0) return Report("TUNSETIFF", false), 1;
  const std::string forward = ReadFile("/proc/sys/net/ipv4/ip_forward");
  Run("ip addr add 10.99.0.1/30 dev wlatk0 && ip link set wlatk0 up");
  WriteFile("/proc/sys/net/ipv4/ip_forward", "1");
  WriteFile("/proc/sys/net/ipv4/conf/wlatk0/rp_filter", "0");
  std::string src = "10.99.0.2", dst = Get(a, "dst");
  Bytes p = IpPacket(src, dst, kUdp, Udp(src, dst, 40003, 53, ToBytes(Get(a, "marker"))));
  for (int i = 0; i < Int(a, "times", "3"); ++i) {
    Report("write tun", write(fd, p.data(), p.size()) == static_cast<ssize_t>(p.size()));
    usleep(50000);
  }
  usleep(200000);
  WriteFile("/proc/sys/net/ipv4/ip_forward", forward);
  close(fd);  // the device goes with its last descriptor
  return 0;
}

// A VXLAN device whose remote is a world address, and a route through it to a peer the pod may
// talk to: the pod's own socket is admitted, the tunnel's outer packets carry it to the world.
int Vxlan(const Args& a) {
  const std::string inner = Get(a, "inner_dst");
  int r = Run("ip link add wlvx0 type vxlan id 4242 dstport 4789 dev eth0 remote " +
              Get(a, "remote") + " && ip addr add 10.98.0.1/24 dev wlvx0 && ip link set wlvx0 up" +
              " && ip route add " + inner + "/32 dev wlvx0" + " && ip neigh add " + inner +
              " lladdr 02:00:00:00:98:02 dev wlvx0");
  if (r == 0) {
    Args udp = {{"dst", inner}, {"dport", Get(a, "dport")}, {"marker", Get(a, "marker")}};
    UdpSend(udp);
    usleep(200000);
  }
  Run("ip link del wlvx0");
  return r == 0 ? 0 : 1;
}

// A UDP socket on `port` that answers whatever reaches it: first it tries to send to the peer
// on its own (the lockdown says no), then waits for an inbound datagram and answers its sender.
int Reply(const Args& a) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  Addr local("0.0.0.0", Int(a, "port"));
  Report("bind", bind(s, local.sa(), local.len) == 0);
  Addr peer(Get(a, "peer"), Int(a, "peer_port"));
  Bytes msg = ToBytes(Get(a, "marker"));
  Report("before", sendto(s, msg.data(), msg.size(), 0, peer.sa(), peer.len) >= 0);
  std::printf("ready\n");
  std::fflush(stdout);
  pollfd p{s, POLLIN, 0};
  if (poll(&p, 1, Int(a, "timeout_ms", "5000")) != 1) {
    std::printf("received: no\n");
    return 0;
  }
  char buf[2048];
  Addr from("0.0.0.0", 0);
  from.len = sizeof(from.ss);
  recvfrom(s, buf, sizeof(buf), 0, from.sa(), &from.len);
  std::printf("received: yes\n");
  for (int i = 0; i < Int(a, "times", "3"); ++i)
    Report("after", sendto(s, msg.data(), msg.size(), 0, from.sa(), from.len) >= 0);
  close(s);
  return 0;
}

}  // namespace
}  // namespace warden::attacks

int main(int argc, char** argv) {
  using namespace warden::attacks;
  if (argc < 2) {
    std::fprintf(stderr, "usage: wl_attack COMMAND key=value...\n");
    return 2;
  }
  Args args;
  for (int i = 2; i < argc; ++i) {
    std::string kv = argv[i];
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      std::fprintf(stderr, "wl_attack: %s: not key=value\n", argv[i]);
      return 2;
    }
    args[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  const std::map<std::string, std::function<int(const Args&)>> commands = {
      {"frame", Frame},     {"udp", UdpSend}, {"tcp", TcpConnect}, {"ping", Ping},  {"raw", Raw},
      {"hdrincl", HdrIncl}, {"tun", Tun},     {"vxlan", Vxlan},    {"reply", Reply}};
  auto it = commands.find(argv[1]);
  if (it == commands.end()) {
    std::fprintf(stderr, "wl_attack: unknown command %s\n", argv[1]);
    return 2;
  }
  try {
    if (args.count("cgroup")) {
      // Moves itself first: a process of the pod that makes or finds another cgroup.
      std::ofstream procs(args["cgroup"] + "/cgroup.procs");
      procs << getpid() << std::flush;
      Report("join " + args["cgroup"], procs.good());
      if (!procs.good()) return 1;
    }
    return it->second(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wl_attack %s: %s\n", argv[1], e.what());
    return 3;
  }
}
