// Issue 12's table: every way out that a hostile pod had, tried for real in the lab from inside
// team-x/app (root, a container's default capabilities: NET_RAW, not NET_ADMIN), each checked at
// the receiving end (a capture in the internet or the target pod shows nothing arrived) and in
// the agent's verdict log (the refusal is logged with its reason). Needs root: fails, never
// skips, without it. The lab is up once for the whole suite.
#include <unistd.h>

#include <chrono>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/e2e/attack_lab.h"
#include "tests/e2e/verdict_log_check.h"
#include "tests/lib/child_process.h"
#include "tests/lib/cleanup.h"

namespace warden::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const char kAttacker[] = "team-x/app";  // 10.244.1.10 on default-1, a default-pool node
const char kAttackerNode[] = "default-1";
const char kWorld[] = "203.0.113.66", kWorld6[] = "2001:db8::66";

class AttackTable : public AttackLab {
 protected:
  std::string Ip(const std::string& pod) { return Pod(pod)["ip"]; }
};

// Row 1: frames written to the pod's eth0 through a packet socket, with and without
// PACKET_QDISC_BYPASS: no cgroup program runs for them.
TEST_F(AttackTable, PacketSocketFramesToTheWorldDoNotArriveAndAreLogged) {
  const std::string src = Ip(kAttacker);
  int sport = 41000;
  for (const char* bypass : {"0", "1"}) {
    for (const std::string proto : {"udp", "tcp"}) {
      const std::string marker = Marker(proto + "-bypass" + bypass);
      const int port = ++sport;
      auto w = AttackAndWatch(
          kAttacker,
          "frame proto=" + proto + " src=" + src + " dst=" + kWorld +
              " sport=" + std::to_string(port) + " dport=" + (proto == "tcp" ? "443" : "53") +
              " marker=" + marker + " bypass=" + bypass,
          InternetNetns(), [&](const SeenPacket& p) {
            if (p.outgoing || p.src != src) return false;
            return proto == "udp" ? p.Contains(marker) : p.protocol == 6 && p.sport == port;
          });
      ASSERT_EQ(w.attacker.code, 0) << w.attacker.out << w.attacker.err;
      EXPECT_EQ(w.arrived, "") << proto << " through a packet socket (bypass " << bypass
                               << ") reached the internet:\n"
                               << w.arrived;
    }
  }
  EXPECT_EQ(FindRefusal(StateDir(), {kAttackerNode, kAttacker, reason::kPacketSocket, kWorld}), "");
}

// Row 2: a packet-socket datagram with team-y/batch's source address to team-y/app, which
// would take it for batch's.
TEST_F(AttackTable, SpoofedSourceToAPeerPodDoesNotArriveAndIsLogged) {
  const std::string marker = Marker("spoof");
  auto w = AttackAndWatch(kAttacker,
                          "frame proto=udp src=" + Ip("team-y/batch") + " dst=" + Ip("team-y/app") +
                              " sport=41100 dport=8080 marker=" + marker,
                          Pod("team-y/app")["netns"],
                          [&](const SeenPacket& p) { return !p.outgoing && p.Contains(marker); });
  ASSERT_EQ(w.attacker.code, 0) << w.attacker.out << w.attacker.err;
  EXPECT_EQ(w.arrived, "") << "a datagram \"from team-y/batch\" reached team-y/app:\n" << w.arrived;
  EXPECT_EQ(
      FindRefusal(StateDir(), {kAttackerNode, kAttacker, reason::kSpoofedSource, Ip("team-y/app")}),
      "");
}

// Row 3: packets with a world source sent to a peer's address and to the pod's own make the
// kernel answer the world from its own sockets (echo replies with the payload,
// port-unreachables quoting it, RSTs), which no pod cgroup program sees.
TEST_F(AttackTable, KernelAnswersToSpoofedWorldPacketsDoNotReachTheWorld) {
  const std::string peer = Ip("team-x/worker"), own = Ip(kAttacker);
  const std::string echo_peer = Marker("echo-peer"), echo_own = Marker("echo-own"),
                    closed_udp = Marker("closed-udp");
  Capture capture(InternetNetns());
  const std::string spoofed = std::string("frame src=") + kWorld;
  for (const std::string& args :
       {spoofed + " dst=" + peer + " proto=icmp marker=" + echo_peer,
        spoofed + " dst=" + own + " proto=icmp marker=" + echo_own,
        spoofed + " dst=" + peer + " proto=udp sport=41200 dport=9 marker=" + closed_udp,
        spoofed + " dst=" + peer + " proto=tcp sport=41201 dport=9"}) {
    Result r = Attack(kAttacker, args);
    ASSERT_EQ(r.code, 0) << args << ": " << r.out << r.err;
  }
  std::string arrived = Matching(capture.Stop(), [&](const SeenPacket& p) {
    if (p.outgoing || p.dst != kWorld) return false;
    return p.Contains(echo_peer) || p.Contains(echo_own) || p.Contains(closed_udp) ||
           (p.protocol == 6 && p.dport == 41201);
  });
  EXPECT_EQ(arrived, "") << "the kernel answered the world:\n" << arrived;
  EXPECT_EQ(FindRefusal(StateDir(), {kAttackerNode, kAttacker, reason::kSpoofedSource}), "");
}

// Row 4: packets whose headers cannot be read: IPv4 whose options leave no room for the whole
// UDP header, IPv6 whose destination options name a UDP header that is not there. Sent through
// a raw IP socket (IP_HDRINCL), so the cgroup egress program does see them.
TEST_F(AttackTable, MalformedPacketsDoNotLeaveThePodAndAreLogged) {
  const std::string own = Ip(kAttacker), own6 = Pod(kAttacker)["ip6"];
  const int id = 23000 + getpid() % 1000;
  const std::string marker6 = Marker("v6").substr(0, 12);
  Capture capture(InternetNetns());
  Result v4 = Attack(kAttacker, "hdrincl kind=short-l4 src=" + own + " dst=" + kWorld +
                                    " marker=x id=" + std::to_string(id));
  Result v6 = Attack(
      kAttacker, "hdrincl kind=dstopts-cut src=" + own6 + " dst=" + kWorld6 + " marker=" + marker6);
  auto seen = capture.Stop();
  ASSERT_EQ(v4.code, 0) << v4.out << v4.err;
  ASSERT_EQ(v6.code, 0) << v6.out << v6.err;
  std::string arrived4 = Matching(seen, [&](const SeenPacket& p) {
    return !p.outgoing && p.family == 4 && p.src == own && p.ip_id == id;
  });
  std::string arrived6 =
      Matching(seen, [&](const SeenPacket& p) { return !p.outgoing && p.Contains(marker6); });
  EXPECT_EQ(arrived4, "") << "IPv4 with options cutting UDP short left the pod (sender saw: "
                          << v4.out << "):\n"
                          << arrived4;
  EXPECT_EQ(arrived6, "") << "IPv6 with a cut destination-options chain left the pod (sender saw: "
                          << v6.out << "):\n"
                          << arrived6;
  EXPECT_EQ(FindRefusal(StateDir(), {kAttackerNode, kAttacker, reason::kMalformed, kWorld}), "");
  EXPECT_EQ(FindRefusal(StateDir(), {kAttackerNode, kAttacker, reason::kMalformed, kWorld6}), "");
}

// Row 5: warden-system/control has no NetworkPolicy. A world host sends it one datagram; its
// "replies" to that host must still meet the node-pool lockdown: an inbound packet alone makes
// no connection.
TEST_F(AttackTable, ForgedInboundPacketOpensNoWayOutForReplies) {
  const std::string pod = "warden-system/control", ip = Ip(pod);
  const std::string marker = Marker("reply");
  const std::string log = "/tmp/wl-attack-reply-" + std::to_string(getpid()) + ".log";
  testlib::Cleanup cleanup;
  cleanup.Add("remove the replier's log", [log] { unlink(log.c_str()); });
  Capture capture(InternetNetns());
  // The pod first tries the same host on another port (refused: the lockdown is there), then
  // waits for the world's datagram and answers it.
  pid_t replier =
      testlib::Spawn({WardenBin(), "lab", "exec", "--state", StateDir(), "--in", pod, "--",
                      WARDEN_ATTACK_BIN, "reply", "port=41300", std::string("peer=") + kWorld,
                      "peer_port=41302", "marker=" + marker, "timeout_ms=5000"},
                     log);
  cleanup.Add("end the replier", [replier] { testlib::EndChild(replier); });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (Sh("grep -q ^ready " + log).code != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  Result forged = Attack("internet", std::string("udp bind=") + kWorld + " sport=41301 dst=" + ip +
                                         " dport=41300 times=1 marker=" + Marker("forged"));
  ASSERT_EQ(forged.code, 0) << forged.out << forged.err;
  deadline = std::chrono::steady_clock::now() + std::chrono::seconds(8);
  while (!testlib::Exited(replier) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::string said = Sh("cat " + log).out;
  std::string arrived = Matching(capture.Stop(), [&](const SeenPacket& p) {
    return !p.outgoing && p.src == ip && p.Contains(marker);
  });
  // The setup held: the lockdown refused the pod's own try, the world's datagram got in.
  ASSERT_THAT(said, HasSubstr("before: EPERM")) << said;
  ASSERT_THAT(said, HasSubstr("received: yes")) << said;
  EXPECT_THAT(said, HasSubstr("after: EPERM"));
  EXPECT_THAT(said, Not(HasSubstr("after: ok")));
  EXPECT_EQ(arrived, "") << "the pod's \"replies\" reached the world:\n" << arrived;
  Refusal refusal{"default-2", pod, reason::kPoolLockdown, kWorld};
  refusal.peer_port = 41301;
  EXPECT_EQ(FindRefusal(StateDir(), refusal), "");
}

// Row 6: with NET_ADMIN, a TUN device with forwarding (a packet from the tunnel's far end is
// routed out) and a VXLAN device whose remote is in the world (the pod's own admitted datagram
// to team-x/worker is carried out inside it): forwarded and tunnel packets meet no cgroup
// program.
TEST_F(AttackTable, NetAdminTunnelsCarryNothingToTheWorld) {
  const std::string netns = Pod(kAttacker)["netns"];
  testlib::Cleanup cleanup;
  cleanup.Add("remove the attack devices", [netns] {
    Sh("ip -n " + netns + " link del wlatk0 2>/dev/null; ip -n " + netns +
       " link del wlvx0 2>/dev/null");
  });
  const std::string tun = Marker("tun"), vxlan = Marker("vxlan");
  Capture capture(InternetNetns());
  Result t = Attack(kAttacker, std::string("tun dst=") + kWorld + " marker=" + tun, true);
  Result v = Attack(kAttacker,
                    std::string("vxlan remote=") + kWorld + " inner_dst=" + Ip("team-x/worker") +
                        " dport=8080 marker=" + vxlan,
                    true);
  auto seen = capture.Stop();
  ASSERT_EQ(t.code, 0) << t.out << t.err;
  ASSERT_EQ(v.code, 0) << v.out << v.err;
  ASSERT_THAT(t.out, Not(HasSubstr(": E"))) << "the TUN device was not set up";
  ASSERT_THAT(v.out, HasSubstr("send: ok")) << "the pod's datagram into the tunnel was refused";
  std::string via_tun =
      Matching(seen, [&](const SeenPacket& p) { return !p.outgoing && p.Contains(tun); });
  std::string via_vxlan =
      Matching(seen, [&](const SeenPacket& p) { return !p.outgoing && p.Contains(vxlan); });
  EXPECT_EQ(via_tun, "") << "forwarded from a TUN device to the world:\n" << via_tun;
  EXPECT_EQ(via_vxlan, "") << "carried to the world by a VXLAN device:\n" << via_vxlan;
  EXPECT_EQ(FindRefusal(StateDir(), {kAttackerNode, kAttacker, reason::kSpoofedSource, kWorld}),
            "");
  Refusal outer{kAttackerNode, kAttacker, reason::kPoolLockdown, kWorld};
  outer.peer_port = 4789;
  EXPECT_EQ(FindRefusal(StateDir(), outer), "");
}

// Row 7: team-x/app's ingress is default-deny (only team-x may reach it). A world host pinging
// it, or probing a closed and a served port over UDP and TCP, gets no answer at all: not from
// the pod's sockets, not from its kernel (echo reply, port-unreachable, RST).
TEST_F(AttackTable, WorldGetsNoAnswersFromAPodWhoseIngressIsDefaultDeny) {
  const std::string target = Ip(kAttacker), from = "203.0.113.10";
  Capture capture(InternetNetns());
  Result ping =
      Attack("internet", "ping bind=" + from + " dst=" + target + " marker=" + Marker("ping"));
  Result udp_closed = Attack(
      "internet", "udp bind=" + from + " dst=" + target + " dport=9 marker=" + Marker("udp9"));
  Result udp_served = Attack("internet", "udp bind=" + from + " dst=" + target +
                                             " dport=8080 marker=" + Marker("udp8080"));
  Result tcp_closed =
      Attack("internet", "tcp bind=" + from + " dst=" + target + " dport=9 timeout_ms=1000");
  Result tcp_served =
      Attack("internet", "tcp bind=" + from + " dst=" + target + " dport=8080 timeout_ms=1000");
  std::string answers = Matching(capture.Stop(), [&](const SeenPacket& p) {
    return !p.outgoing && p.src == target && p.dst == from;
  });
  EXPECT_EQ(answers, "") << "the world got answers from " << target << ":\n" << answers;
  EXPECT_THAT(ping.out, HasSubstr("reply: no"));
  EXPECT_THAT(tcp_closed.out, HasSubstr("connect: ETIMEDOUT")) << "an RST is an answer";
  EXPECT_THAT(tcp_served.out, HasSubstr("connect: ETIMEDOUT"));
  for (const Result* r : {&ping, &udp_closed, &udp_served, &tcp_closed, &tcp_served})
    EXPECT_EQ(r->code, 0) << r->out << r->err;
  Refusal icmp{kAttackerNode, kAttacker, reason::kPolicyDeny, from};
  icmp.protocol = "ICMP";
  EXPECT_EQ(FindRefusal(StateDir(), icmp), "");
}

}  // namespace
}  // namespace warden::e2e
