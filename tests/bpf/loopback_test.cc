// Loopback is not the world. Kubernetes does not let NetworkPolicy block localhost, and host
// processes (kubelet, the container runtime's streaming server) talk over 127.0.0.1: the cgroup
// programs allow a loopback peer (127.0.0.0/8, ::1) before any table, on a default-pool node that
// refuses the world, for a pod whose policy denies everything, and for host processes
// (WD_REASON_ALLOW_HOST). The interface programs do not: loopback never crosses a pod's
// interface, so such a packet there is forged and meets the lockdown like any world address.
//
// Crafted packets through BPF_PROG_TEST_RUN (the cgroup_skb and the interface programs), then
// real sockets in a network namespace with the programs attached to the node's cgroup (connect4/6
// and sendmsg4/6), including the unspecified address (0.0.0.0, ::), which the kernel sends to
// loopback. Each allowed case sits next to an address just outside loopback that stays refused,
// so no test passes by allowing everything.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "tests/bpf/bpf_fixture.h"
#include "tests/lib/child_process.h"
#include "tests/lib/scratch_netns.h"
#include "tests/lib/shell.h"

namespace warden::testing {
namespace {

using testlib::kTcp;
using testlib::kUdp;

// x/app: egress only to x/peer on TCP 80, ingress default deny.
const char* kCluster = R"(
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: x, labels: {app: app}}
status: {podIPs: [{ip: 10.244.1.11}, {ip: "fd00::11"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: peer, namespace: x, labels: {app: peer}}
status: {podIPs: [{ip: 10.244.1.12}, {ip: "fd00::12"}]}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: app, namespace: x}
spec:
  podSelector: {matchLabels: {app: app}}
  policyTypes: [Ingress, Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: peer}}}]
    ports: [{port: 80, protocol: TCP}]
)";

constexpr char kApp[] = "10.244.1.11";
constexpr char kApp6[] = "fd00::11";
constexpr char kPeer[] = "10.244.1.12";
constexpr uint32_t kPass = static_cast<uint32_t>(-1);  // TC_ACT_UNSPEC / TCX_NEXT
constexpr uint32_t kDrop = 2;                          // TC_ACT_SHOT

// Loopback addresses, and addresses next to them that are not.
const std::vector<const char*> kLoopback4 = {"127.0.0.1", "127.0.0.53", "127.255.255.254"};
const std::vector<const char*> kNotLoopback4 = {"128.0.0.1", "126.255.255.255"};

class LoopbackTest : public BpfTest {
 protected:
  std::vector<wd_event> Events() {
    std::vector<wd_event> events;
    auto st = dp_->PollEvents(100, [&](const wd_event& e) { events.push_back(e); });
    EXPECT_TRUE(st.ok()) << st;
    return events;
  }
};

TEST_F(LoopbackTest, APodReachesItsLoopbackWhateverItsPolicyAndTheLockdown) {
  LoadPod(kCluster, "x/app");  // default pool, no allowances
  // Egress to loopback: TCP and UDP, any port (the policy allows only x/peer on 80).
  for (const char* dst : kLoopback4) {
    EXPECT_EQ(Egress(Ipv4Packet("127.0.0.1", dst, kTcp, 40000, 8080)), 1u) << dst;
    EXPECT_EQ(Egress(Ipv4Packet("127.0.0.1", dst, kUdp, 40000, 53)), 1u) << dst;
  }
  EXPECT_EQ(Egress(Ipv6Packet("::1", "::1", kTcp, 40000, 8080)), 1u);
  EXPECT_EQ(Egress(Ipv6Packet("::1", "::1", kUdp, 40000, 53)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_HOST), 8u);
  // Ingress from loopback, through the pod's default-deny ingress.
  EXPECT_EQ(Ingress(Ipv4Packet("127.0.0.1", "127.0.0.1", kTcp, 40001, 8080)), 1u);
  EXPECT_EQ(Ingress(Ipv6Packet("::1", "::1", kUdp, 40001, 5353)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_INGRESS, WD_REASON_ALLOW_HOST), 2u);

  // Not loopback: the lockdown refuses the world as before, and the pod's ingress policy too.
  for (const char* dst : kNotLoopback4)
    EXPECT_EQ(Egress(Ipv4Packet(kApp, dst, kTcp, 40002, 8080)), 0u) << dst;
  EXPECT_EQ(Egress(Ipv6Packet(kApp6, "::2", kTcp, 40002, 8080)), 0u);
  EXPECT_EQ(Egress(Ipv6Packet(kApp6, "::1:0:0:0:1", kTcp, 40002, 8080)), 0u);
  EXPECT_EQ(Egress(Ipv6Packet(kApp6, "1::1", kTcp, 40002, 8080)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 5u);
  EXPECT_EQ(Ingress(Ipv4Packet("128.0.0.1", kApp, kTcp, 40003, 8080)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_INGRESS, WD_REASON_DENY_POLICY), 1u);
  // And the policy still holds for the cluster.
  EXPECT_EQ(Egress(Ipv4Packet(kApp, kPeer, kTcp, 40004, 80)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet(kApp, kPeer, kTcp, 40005, 8080)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POLICY), 1u);
}

TEST_F(LoopbackTest, TheVerdictNamesTheNodeAndStandsForReplies) {
  LoadPod(kCluster, "x/app");
  // A datagram from loopback to the pod's isolated ingress, then the pod's answer: tracked.
  EXPECT_EQ(Ingress(Ipv4Packet("127.0.0.1", "127.0.0.1", kUdp, 53000, 5353)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("127.0.0.1", "127.0.0.1", kUdp, 5353, 53000)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_TRACKED), 1u);
  std::vector<wd_event> events = Events();
  ASSERT_EQ(events.size(), 1u);
  const wd_event& e = events[0];
  EXPECT_EQ(e.verdict, WD_VERDICT_ALLOW);
  EXPECT_EQ(e.reason, WD_REASON_ALLOW_HOST);
  EXPECT_EQ(e.hook, WD_HOOK_INGRESS);
  EXPECT_EQ(e.remote_identity, WD_ID_LOCAL_HOST);
  EXPECT_EQ(e.local_identity, snap_->pods.at("x/app").identity);
}

TEST_F(LoopbackTest, HostProcessesReachLoopbackOnADefaultPoolNode) {
  Load(kCluster, {.local_pod = "x/app", .host = true});
  EXPECT_EQ(Egress(Ipv4Packet("127.0.0.1", "127.0.0.1", kTcp, 40000, 19100)), 1u);
  EXPECT_EQ(Egress(Ipv6Packet("::1", "::1", kTcp, 40000, 19100)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_HOST), 2u);
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.11", "128.0.0.1", kTcp, 40001, 19100)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 1u);
}

// ---- the interface programs: no exemption -----------------------------------------------------

class LoopbackInterfaceTest : public LoopbackTest {
 protected:
  void SetUp() override {
    LoopbackTest::SetUp();
    if (HasFatalFailure()) return;
    dev_ = "wdl" + std::to_string(getpid() % 100000);
    testlib::Sh("ip link del " + dev_ + " 2>/dev/null");
    testlib::MustSh("ip link add " + dev_ + " type veth peer name " + dev_ + "p && ip link set " +
                    dev_ + " up");
    ifindex_ = if_nametoindex(dev_.c_str());
    ASSERT_NE(ifindex_, 0u) << dev_;
  }
  void TearDown() override {
    testlib::Sh("ip link del " + dev_);
    LoopbackTest::TearDown();
  }
  uint32_t RunIf(const char* prog, const std::vector<uint8_t>& pkt) {
    auto r = dp_->TestRun(prog, pkt, 1, nullptr, ifindex_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : 99;
  }
  uint32_t Out(const std::vector<uint8_t>& pkt) { return RunIf("wd_if_egress", pkt); }
  uint32_t In(const std::vector<uint8_t>& pkt) { return RunIf("wd_if_ingress", pkt); }

  std::string dev_;
  uint32_t ifindex_ = 0;
};

TEST_F(LoopbackInterfaceTest, ALoopbackAddressOnAPodsInterfaceIsTheWorld) {
  Load(kCluster, {.local_pod = "x/app", .ifindex = ifindex_});
  // What the pod's policy allows passes (so nothing here passes by dropping everything)...
  EXPECT_EQ(Out(Ipv4Packet(kApp, kPeer, kTcp, 40000, 80)), kPass);
  // ... a packet from the pod to loopback does not: it was forged, and loopback is the world here.
  EXPECT_EQ(Out(Ipv4Packet(kApp, "127.0.0.1", kTcp, 40001, 8080)), kDrop);
  EXPECT_EQ(Out(Ipv4Packet(kApp, "127.0.0.53", kUdp, 40001, 53)), kDrop);
  EXPECT_EQ(Out(Ipv6Packet(kApp6, "::1", kTcp, 40001, 8080)), kDrop);
  EXPECT_EQ(Out(Ipv4Packet(kApp, "128.0.0.1", kTcp, 40001, 8080)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 4u);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_ALLOW_HOST), 0u);
  // Toward the pod, "from loopback": its default-deny ingress refuses it like any world address.
  EXPECT_EQ(In(Ipv4Packet("127.0.0.1", kApp, kTcp, 40002, 8080)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_INGRESS, WD_REASON_DENY_POLICY), 1u);
  EXPECT_EQ(Counter(WD_HOOK_IF_INGRESS, WD_REASON_ALLOW_HOST), 0u);
  // The same destinations from the pod's own sockets (the cgroup programs): allowed.
  EXPECT_EQ(Egress(Ipv4Packet("127.0.0.1", "127.0.0.1", kTcp, 40003, 8080)), 1u);
  EXPECT_EQ(Egress(Ipv6Packet("::1", "::1", kTcp, 40003, 8080)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_HOST), 2u);
}

// ---- real sockets: connect and sendmsg --------------------------------------------------------

using testlib::SockAddr4;

sockaddr_in6 SockAddr6(const char* ip, uint16_t port) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &a.sin6_addr);
  return a;
}

// A listener on `ip`:`port` and a connect to it, in one process: 0 when a byte went both ways,
// 1000 + errno when connect failed, -1 on a setup error.
template <typename Addr>
int TcpExchange(int family, const Addr& addr) {
  int l = socket(family, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(l, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 || listen(l, 4) != 0)
    return -1;
  int c = socket(family, SOCK_STREAM, 0);
  timeval tv{2, 0};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (connect(c, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) return 1000 + errno;
  int s = accept(l, nullptr, nullptr);
  char b = 0;
  if (s < 0 || write(c, "x", 1) != 1 || read(s, &b, 1) != 1 || write(s, "y", 1) != 1 ||
      read(c, &b, 1) != 1)
    return -1;
  return b == 'y' ? 0 : -1;
}

// A datagram to `addr` and its answer: 0 when both arrived, 1000 + errno when a send failed,
// -1 on a setup error or a loss.
template <typename Addr>
int UdpExchange(int family, const Addr& addr) {
  int srv = socket(family, SOCK_DGRAM, 0);
  if (bind(srv, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  int c = socket(family, SOCK_DGRAM, 0);
  timeval tv{2, 0};
  setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(srv, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  if (sendto(c, "q", 1, 0, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 1)
    return 1000 + errno;
  sockaddr_storage from{};
  socklen_t flen = sizeof(from);
  char b = 0;
  if (recvfrom(srv, &b, 1, 0, reinterpret_cast<sockaddr*>(&from), &flen) != 1) return -1;
  if (sendto(srv, "a", 1, 0, reinterpret_cast<sockaddr*>(&from), flen) != 1) return 1000 + errno;
  return recv(c, &b, 1, 0) == 1 && b == 'a' ? 0 : -1;
}

// connect to an address that is not loopback: 0 when connect got past the programs (it may
// then fail for want of a route: any errno but EPERM), 1000 + EPERM when they refused it.
int ConnectOnly(const char* ip4) {
  int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_in a = SockAddr4(ip4, 8080);
  if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 && errno == EPERM)
    return 1000 + EPERM;
  return 0;
}

class Netns : public testlib::ScratchNetns {
 public:
  Netns() : ScratchNetns("wdl-" + std::to_string(getpid()), {}) {}
};

TEST_F(LoopbackTest, ConnectAndSendmsgToLoopbackPassForPodsAndHostProcesses) {
  Netns ns;
  LoadPod(kCluster, "x/app");
  AttachToNode();
  struct Case {
    const char* what;
    int (*run)();
    int want;  // 0: a byte both ways; 1000 + EPERM: refused at connect
  };
  const Case cases[] = {
      {"TCP 127.0.0.1", [] { return TcpExchange(AF_INET, SockAddr4("127.0.0.1", 8080)); }, 0},
      {"TCP 127.0.0.53", [] { return TcpExchange(AF_INET, SockAddr4("127.0.0.53", 8081)); }, 0},
      {"TCP ::1", [] { return TcpExchange(AF_INET6, SockAddr6("::1", 8082)); }, 0},
      // A dual-stack socket to an IPv4-mapped loopback address: connect6 judges it as IPv4.
      {"TCP ::ffff:127.0.0.1",
       [] { return TcpExchange(AF_INET6, SockAddr6("::ffff:127.0.0.1", 8083)); }, 0},
      {"UDP 127.0.0.1", [] { return UdpExchange(AF_INET, SockAddr4("127.0.0.1", 5353)); }, 0},
      {"UDP ::1", [] { return UdpExchange(AF_INET6, SockAddr6("::1", 5354)); }, 0},
      // The unspecified address as a destination: the kernel sends to 127.0.0.1 or ::1, a
      // listener on it answers, and so do the programs.
      {"TCP 0.0.0.0", [] { return TcpExchange(AF_INET, SockAddr4("0.0.0.0", 8084)); }, 0},
      {"TCP ::", [] { return TcpExchange(AF_INET6, SockAddr6("::", 8085)); }, 0},
      {"TCP ::ffff:0.0.0.0",
       [] { return TcpExchange(AF_INET6, SockAddr6("::ffff:0.0.0.0", 8086)); }, 0},
      {"UDP 0.0.0.0", [] { return UdpExchange(AF_INET, SockAddr4("0.0.0.0", 5355)); }, 0},
      {"UDP ::", [] { return UdpExchange(AF_INET6, SockAddr6("::", 5356)); }, 0},
      // Next to loopback and to the unspecified address, the world: refused at connect.
      {"TCP 128.0.0.1", [] { return ConnectOnly("128.0.0.1"); }, 1000 + EPERM},
      {"TCP 0.0.0.1", [] { return ConnectOnly("0.0.0.1"); }, 1000 + EPERM},
  };
  for (const std::string& who : {burstable_pod_.container, host_cgroup_}) {
    for (const Case& c : cases)
      EXPECT_EQ(testlib::RunInChild(who, ns.name(), c.run), c.want) << who << ": " << c.what;
  }
  EXPECT_GE(Counter(WD_HOOK_CONNECT, WD_REASON_ALLOW_HOST), 14u);
  EXPECT_GE(Counter(WD_HOOK_SENDMSG, WD_REASON_ALLOW_HOST), 8u);
  EXPECT_EQ(Counter(WD_HOOK_CONNECT, WD_REASON_DENY_POOL_LOCKDOWN), 4u);
  EXPECT_EQ(Counter(WD_HOOK_SENDMSG, WD_REASON_DENY_POOL_LOCKDOWN), 0u);
}

}  // namespace
}  // namespace warden::testing
