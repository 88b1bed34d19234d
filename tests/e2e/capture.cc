#include "tests/e2e/capture.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace warden::e2e {
namespace {

std::string AddrText(int af, const uint8_t* p) {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(af, p, buf, sizeof(buf));
  return buf;
}

uint16_t Be16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// Fills the L4 fields from the header at `l4` (if it is all there).
void ParseL4(SeenPacket& s, size_t l4) {
  const auto& d = s.data;
  if ((s.protocol == 6 || s.protocol == 17) && l4 + 4 <= d.size()) {
    s.sport = Be16(&d[l4]);
    s.dport = Be16(&d[l4 + 2]);
    if (s.protocol == 6 && l4 + 14 <= d.size()) s.tcp_flags = d[l4 + 13];
  }
  if ((s.protocol == 1 || s.protocol == 58) && l4 < d.size()) s.icmp_type = d[l4];
}

SeenPacket Parse(std::vector<uint8_t> d, bool outgoing) {
  SeenPacket s;
  s.outgoing = outgoing;
  s.data = std::move(d);
  const auto& p = s.data;
  if (p.size() >= 20 && (p[0] >> 4) == 4) {
    s.family = 4;
    s.protocol = p[9];
    s.ip_id = Be16(&p[4]);
    s.src = AddrText(AF_INET, &p[12]);
    s.dst = AddrText(AF_INET, &p[16]);
    if ((Be16(&p[6]) & 0x1fff) == 0) ParseL4(s, (p[0] & 0xf) * 4u);
  } else if (p.size() >= 40 && (p[0] >> 4) == 6) {
    s.family = 6;
    s.src = AddrText(AF_INET6, &p[8]);
    s.dst = AddrText(AF_INET6, &p[24]);
    uint8_t next = p[6];
    size_t at = 40;
    // Hop-by-hop, routing, destination options: skip to what they name.
    while ((next == 0 || next == 43 || next == 60) && at + 2 <= p.size()) {
      uint8_t n = p[at];
      at += (p[at + 1] + 1u) * 8;
      next = n;
    }
    s.protocol = next;
    ParseL4(s, at);
  }
  return s;
}

// The child: records each IP packet as [u32 length][u8 outgoing][bytes] until killed.
[[noreturn]] void Record(const std::string& netns, const std::string& file, int ready) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  int ns = open(("/var/run/netns/" + netns).c_str(), O_RDONLY);
  if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) _exit(2);
  int s = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
  int out = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (s < 0 || out < 0) _exit(3);
  if (write(ready, "r", 1) != 1) _exit(4);
  close(ready);
  std::vector<uint8_t> buf(65536 + 5);
  while (true) {
    sockaddr_ll from{};
    socklen_t len = sizeof(from);
    ssize_t n = recvfrom(s, buf.data() + 5, 65536, 0, reinterpret_cast<sockaddr*>(&from), &len);
    if (n <= 0) continue;
    uint16_t proto = ntohs(from.sll_protocol);
    if (proto != ETH_P_IP && proto != ETH_P_IPV6) continue;
    uint32_t l = static_cast<uint32_t>(n);
    std::memcpy(buf.data(), &l, 4);
    buf[4] = from.sll_pkttype == PACKET_OUTGOING;
    if (write(out, buf.data(), 5 + l) != static_cast<ssize_t>(5 + l)) _exit(5);
  }
}

}  // namespace

bool SeenPacket::Contains(const std::string& marker) const {
  return !marker.empty() && memmem(data.data(), data.size(), marker.data(), marker.size());
}

std::string SeenPacket::Describe() const {
  std::string out = "IPv" + std::to_string(family) + " " + src + " -> " + dst + " proto " +
                    std::to_string(protocol);
  if (sport || dport) out += " ports " + std::to_string(sport) + "->" + std::to_string(dport);
  if (protocol == 1 || protocol == 58) out += " icmp type " + std::to_string(icmp_type);
  if (protocol == 6) out += " tcp flags 0x" + std::to_string(tcp_flags);
  out += outgoing ? " (sent here)" : " (arrived)";
  return out + ", " + std::to_string(data.size()) + " bytes";
}

Capture::Capture(const std::string& netns) {
  char tmpl[] = "/tmp/wl-capture-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp");
  close(fd);
  file_ = tmpl;
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  child_ = fork();
  if (child_ < 0) throw std::runtime_error("fork");
  if (child_ == 0) {
    close(ready[0]);
    Record(netns, file_, ready[1]);
  }
  close(ready[1]);
  char r;
  pollfd p{ready[0], POLLIN, 0};
  bool ok = poll(&p, 1, 5000) == 1 && read(ready[0], &r, 1) == 1;
  close(ready[0]);
  if (!ok) {
    Stop(0);
    throw std::runtime_error("the capture in " + netns + " did not start");
  }
}

Capture::~Capture() {
  if (child_ > 0) Stop(0);
  if (!file_.empty()) unlink(file_.c_str());
}

std::vector<SeenPacket> Capture::Stop(int settle_ms) {
  if (child_ <= 0) return {};
  usleep(static_cast<useconds_t>(settle_ms) * 1000);
  kill(child_, SIGKILL);
  waitpid(child_, nullptr, 0);
  child_ = -1;
  std::ifstream in(file_, std::ios::binary);
  std::vector<char> all((std::istreambuf_iterator<char>(in)), {});
  std::vector<SeenPacket> out;
  for (size_t at = 0; at + 5 <= all.size();) {
    uint32_t l;
    std::memcpy(&l, &all[at], 4);
    if (at + 5 + l > all.size()) break;
    std::vector<uint8_t> pkt(all.begin() + at + 5, all.begin() + at + 5 + l);
    out.push_back(Parse(std::move(pkt), all[at + 4] != 0));
    at += 5 + l;
  }
  return out;
}

std::string Matching(const std::vector<SeenPacket>& seen,
                     const std::function<bool(const SeenPacket&)>& match) {
  std::string out;
  for (const auto& s : seen) {
    if (match(s)) out += "  " + s.Describe() + "\n";
  }
  return out;
}

}  // namespace warden::e2e
