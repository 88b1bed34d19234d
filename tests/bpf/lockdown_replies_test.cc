// The node-pool lockdown comes before any reply shortcut: on a pod that no ingress policy selects,
// a packet from a world address is admitted, but it must not make the pod's answers to that
// address pass as replies on a node whose pool refuses direct egress to the world. Before, an
// inbound UDP datagram (forged or not) wrote a conntrack entry that then let the pod's datagrams
// to the world out (egress and sendmsg found the entry before any lockdown check), and a cached
// ingress verdict let a TCP connection opened from the world carry the pod's data back.
//
// Crafted packets through BPF_PROG_TEST_RUN (no TCP socket there: TCP takes the conntrack path
// too), then real sockets in a network namespace with the programs attached to the node's
// cgroup (a TCP connection and a UDP exchange opened from a "world" address).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <functional>

#include "agent/common/netns.h"
#include "tests/bpf/bpf_fixture.h"
#include "tests/lib/child_process.h"
#include "tests/lib/scratch_netns.h"
#include "tests/lib/shell.h"

namespace warden::testing {
namespace {

using testlib::kTcp;
using testlib::kUdp;

// x/open is selected by no policy at all; x/closed by an ingress and egress default deny.
const char* kCluster = R"(
apiVersion: v1
kind: Pod
metadata: {name: open, namespace: x, labels: {app: open}}
status: {podIP: 10.244.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: closed, namespace: x, labels: {app: closed}}
status: {podIP: 10.244.1.12}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: x}
spec:
  podSelector: {matchLabels: {app: closed}}
  policyTypes: [Ingress, Egress]
)";

constexpr char kPod[] = "10.244.1.11";
constexpr char kWorld[] = "203.0.113.9";

size_t ConntrackEntries(const datapath::BpfDatapath& dp) {
  int fd = dp.MapFd("wd_ct");
  wd_ct_key k, next;
  size_t n = 0;
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    ++n;
    k = next;
    prev = &k;
  }
  return n;
}

TEST_F(BpfTest, AForgedInboundDatagramOpensNoWayOut) {
  LoadPod(kCluster, "x/open");
  // The datagram from the world is admitted (nothing isolates x/open's ingress)...
  EXPECT_EQ(Ingress(Ipv4Packet(kWorld, kPod, kUdp, 53, 5353)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_INGRESS, WD_REASON_ALLOW_NOT_ISOLATED), 1u);
  // ... but tracks nothing: the pod's "reply" meets the lockdown.
  EXPECT_EQ(ConntrackEntries(*dp_), 0u);
  EXPECT_EQ(Egress(Ipv4Packet(kPod, kWorld, kUdp, 5353, 53)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_TRACKED), 0u);
  // Again, and with TCP: a SYN from the world, then the pod's SYN-ACK.
  EXPECT_EQ(Ingress(Ipv4Packet(kWorld, kPod, kUdp, 53, 5353)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet(kPod, kWorld, kUdp, 5353, 53)), 0u);
  EXPECT_EQ(Ingress(Ipv4Packet(kWorld, kPod, kTcp, 40000, 8080)), 1u);
  auto synack = testlib::Packet(
      {.src = kPod, .dst = kWorld, .sport = 8080, .dport = 40000, .tcp_flags = 0x12});
  EXPECT_EQ(Egress(synack), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 3u);
  EXPECT_EQ(ConntrackEntries(*dp_), 0u);
}

TEST_F(BpfTest, RepliesToTheWorldPassWhereTheLockdownAllowsThePeer) {
  // The lockdown lets the node reach 203.0.113.9's port 53: answering it is reaching it.
  Load(kCluster, {.local_pod = "x/open", .allow = Allow({"203.0.113.9/32:53/UDP"})});
  EXPECT_EQ(Ingress(Ipv4Packet(kWorld, kPod, kUdp, 53, 5353)), 1u);
  EXPECT_EQ(ConntrackEntries(*dp_), 1u);
  EXPECT_EQ(Egress(Ipv4Packet(kPod, kWorld, kUdp, 5353, 53)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_TRACKED), 1u);
  // Another port of the same peer is still locked down.
  EXPECT_EQ(Ingress(Ipv4Packet(kWorld, kPod, kUdp, 54, 5353)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet(kPod, kWorld, kUdp, 5353, 54)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 1u);
}

TEST_F(BpfTest, ATrackedWorldFlowIsCutWhenTheLockdownClosesIt) {
  Load(kCluster, {.local_pod = "x/open", .allow = Allow({"203.0.113.9/32:53/UDP"})});
  EXPECT_EQ(Ingress(Ipv4Packet(kWorld, kPod, kUdp, 53, 5353)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet(kPod, kWorld, kUdp, 5353, 53)), 1u);
  // The allowance goes: the flow's entry (admitted on ingress) is re-checked, and the reply is
  // refused; the next datagram from the world still passes, and writes nothing.
  Load(kCluster, {.local_pod = "x/open"});
  EXPECT_EQ(Egress(Ipv4Packet(kPod, kWorld, kUdp, 5353, 53)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 1u);
  EXPECT_EQ(Ingress(Ipv4Packet(kWorld, kPod, kUdp, 53, 5353)), 1u);
  EXPECT_EQ(ConntrackEntries(*dp_), 0u);
}

TEST_F(BpfTest, FlowsToTheClusterStillTrackReplies) {
  // Not the world: an inbound datagram from a pod of the cluster admits its replies as before.
  LoadPod(kCluster, "x/open");
  EXPECT_EQ(Ingress(Ipv4Packet("10.244.1.12", kPod, kUdp, 53, 5353)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet(kPod, "10.244.1.12", kUdp, 5353, 53)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_TRACKED), 1u);
}

// ---- real sockets ----------------------------------------------------------------------------

// A network namespace of the test's own, holding the addresses of the test on its loopback.
class Netns : public testlib::ScratchNetns {
 public:
  Netns() : ScratchNetns("wdt-" + std::to_string(getpid()), {kPod, kWorld}) {}
};

using testlib::SockAddr4;

// A world client (a process outside the node's cgroup) connects from kWorld to the pod's
// listener (a process of the pod) and reads one byte the pod sends on the connection. Returns
// 1 when the byte arrived, 0 when the connect did not complete in time, -1 on a setup error.
int WorldConnectsToPod(const std::string& pod_cgroup, const std::string& world_cgroup,
                       const std::string& netns) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  pid_t server = fork();
  if (server == 0) {
    close(ready[0]);
    if (!common::MoveToCgroup(pod_cgroup, getpid()).ok() || !common::EnterNetns(netns).ok())
      _exit(2);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a = SockAddr4(kPod, 8080);
    if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(l, 4) != 0) _exit(3);
    if (write(ready[1], "r", 1) != 1) _exit(4);
    int c = accept(l, nullptr, nullptr);
    if (c >= 0 && write(c, "x", 1) != 1) _exit(5);
    sleep(5);
    _exit(0);
  }
  close(ready[1]);
  char r;
  bool listening = read(ready[0], &r, 1) == 1;
  close(ready[0]);
  int result = -1;
  if (listening) {
    result = testlib::RunInChild(world_cgroup, netns, [] {
      int c = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in src = SockAddr4(kWorld, 0), dst = SockAddr4(kPod, 8080);
      timeval tv{1, 0};
      setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      if (bind(c, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) return -1;
      if (connect(c, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) return 0;
      char b;
      return read(c, &b, 1) == 1 ? 1 : 0;
    });
  }
  kill(server, SIGKILL);
  waitpid(server, nullptr, 0);
  return result;
}

// The pod receives a datagram from the world on 5353 and answers it. Returns 0 when the answer
// was sent, else sendto's errno (-1: the datagram never arrived, or a setup error).
int PodAnswersWorldDatagram(const std::string& pod_cgroup, const std::string& world_cgroup,
                            const std::string& netns) {
  int ready[2];
  if (pipe(ready) != 0) return -1;
  int out[2];
  if (pipe(out) != 0) return -1;
  pid_t pod = fork();
  if (pod == 0) {
    close(ready[0]);
    close(out[0]);
    int r = -1;
    if (common::MoveToCgroup(pod_cgroup, getpid()).ok() && common::EnterNetns(netns).ok()) {
      int s = socket(AF_INET, SOCK_DGRAM, 0);
      sockaddr_in a = SockAddr4(kPod, 5353);
      timeval tv{2, 0};
      setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
          write(ready[1], "r", 1) == 1) {
        char b[16];
        sockaddr_in from{};
        socklen_t flen = sizeof(from);
        if (recvfrom(s, b, sizeof(b), 0, reinterpret_cast<sockaddr*>(&from), &flen) > 0) {
          r = sendto(s, "y", 1, 0, reinterpret_cast<sockaddr*>(&from), flen) == 1 ? 0 : errno;
        }
      }
    }
    _exit(write(out[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
  }
  close(ready[1]);
  close(out[1]);
  char c;
  int result = -1;
  if (read(ready[0], &c, 1) == 1) {
    testlib::RunInChild(world_cgroup, netns, [] {
      int s = socket(AF_INET, SOCK_DGRAM, 0);
      sockaddr_in src = SockAddr4(kWorld, 53), dst = SockAddr4(kPod, 5353);
      if (bind(s, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) return -1;
      return sendto(s, "q", 1, 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) == 1 ? 0 : -1;
    });
    if (read(out[0], &result, sizeof(result)) != sizeof(result)) result = -1;
  }
  close(ready[0]);
  close(out[0]);
  waitpid(pod, nullptr, 0);
  return result;
}

TEST_F(BpfTest, AConnectionFromTheWorldCarriesNothingBack) {
  Netns ns;
  LoadPod(kCluster, "x/open");
  AttachToNode();
  // Lockdown: the SYN reaches the pod, its SYN-ACK does not leave.
  EXPECT_EQ(WorldConnectsToPod(burstable_pod_.container, cgroups_.home(), ns.name()), 0);
  EXPECT_GE(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 1u);
  // With the peer allowed (every port of it), the connection works: the check is the lockdown's.
  Load(kCluster, {.local_pod = "x/open", .allow = Allow({"203.0.113.9/32"})});
  EXPECT_EQ(WorldConnectsToPod(burstable_pod_.container, cgroups_.home(), ns.name()), 1);
}

TEST_F(BpfTest, ADatagramFromTheWorldGivesTheSocketNoWayOut) {
  Netns ns;
  LoadPod(kCluster, "x/open");
  AttachToNode();
  // The datagram arrives; the answer is refused at sendmsg, at once.
  EXPECT_EQ(PodAnswersWorldDatagram(burstable_pod_.container, cgroups_.home(), ns.name()), EPERM);
  EXPECT_EQ(Counter(WD_HOOK_SENDMSG, WD_REASON_DENY_POOL_LOCKDOWN), 1u);
  Load(kCluster, {.local_pod = "x/open", .allow = Allow({"203.0.113.9/32:53/UDP"})});
  EXPECT_EQ(PodAnswersWorldDatagram(burstable_pod_.container, cgroups_.home(), ns.name()), 0);
}

}  // namespace
}  // namespace warden::testing
