// The node forwarder's part of the programs (bpf/warden_forward.h) with real sockets: the
// programs attached to the node's cgroup, a pod's process (a child in the pod's cgroup) in a
// network namespace of the test's own, and a stand-in forwarder (a host process of the node)
// listening on the forwarder's address. A world-bound connect on a gateway port reaches the
// forwarder only from a pod whose policy admits the gateway, its record is there when the
// forwarder accepts (and gone once taken), getpeername shows the original peer; everything
// else stays refused at connect. Then crafted packets through BPF_PROG_TEST_RUN: the hole for the
// forwarder's port is that port of that address, TCP, nothing else.
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

// x/app may reach the gateway namespace on its mTLS port, and 203.0.113.0/24 on port 80 (which
// the lockdown refuses unless an allowance lets it out); x/closed nothing at all.
const char* kCluster = R"(
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: warden-egress, labels: {role: egress}}
---
apiVersion: v1
kind: Pod
metadata: {name: gateway, namespace: warden-egress, labels: {app: warden-gateway}}
status: {podIP: 10.244.9.10}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: x, labels: {app: app}}
status: {podIP: 10.244.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: closed, namespace: x, labels: {app: closed}}
status: {podIP: 10.244.1.12}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: app, namespace: x}
spec:
  podSelector: {matchLabels: {app: app}}
  policyTypes: [Egress]
  egress:
  - to: [{namespaceSelector: {matchLabels: {role: egress}}}]
    ports: [{port: 15008, protocol: TCP}]
  - to: [{ipBlock: {cidr: 203.0.113.0/24}}]
    ports: [{port: 80, protocol: TCP}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: closed, namespace: x}
spec:
  podSelector: {matchLabels: {app: closed}}
  policyTypes: [Egress]
)";

constexpr char kPod[] = "10.244.1.11";
constexpr char kForwarder[] = "10.77.0.1";
constexpr uint16_t kForwarderPort = 15001;
constexpr char kWorld[] = "203.0.113.10";

datapath::NodeConfig::Forwarder Forwarder(bool gateway_known = true) {
  datapath::NodeConfig::Forwarder f;
  inet_pton(AF_INET, kForwarder, f.addr);
  f.port = kForwarderPort;
  f.gateway_port = 15008;
  f.world_ports[0] = 80;
  f.world_ports[1] = 443;
  if (gateway_known) {
    f.gateway_family = WD_AF_INET;
    inet_pton(AF_INET, "10.244.9.10", f.gateway_addr);
  }
  return f;
}

// A network namespace of the test's own, holding the addresses of the test on its loopback.
class Netns : public testlib::ScratchNetns {
 public:
  Netns() : ScratchNetns("wdf-" + std::to_string(getpid()), {kPod, kForwarder, kWorld}) {}
};

using testlib::SockAddr4;

// What a pod's connect came to.
struct Outcome {
  int connect_errno = -1;      // 0: connected
  bool peer_is_dst = false;    // getpeername in the pod named the address it connected to
  bool echoed = false;         // "ping" reached the listener, its "pong" came back
  uint16_t accepted_port = 0;  // the pod's port as the listener saw it (0: nothing accepted)
  in_addr accepted_addr{};     // and its address
};

// A listener (a process in `server_cgroup`) on `listen_ip`:`listen_port`, and a process in
// `client_cgroup` connecting to `dst_ip`:`dst_port`, both in `netns`.
Outcome Exchange(const std::string& client_cgroup, const std::string& server_cgroup,
                 const std::string& netns, const char* listen_ip, uint16_t listen_port,
                 const char* dst_ip, uint16_t dst_port) {
  Outcome out;
  int ready[2], accepted[2];
  if (pipe(ready) != 0 || pipe(accepted) != 0) return out;
  pid_t server = fork();
  if (server == 0) {
    close(ready[0]);
    close(accepted[0]);
    if (!common::MoveToCgroup(server_cgroup, getpid()).ok() || !common::EnterNetns(netns).ok())
      _exit(2);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    timeval tv{2, 0};
    setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in a = SockAddr4(listen_ip, listen_port);
    if (bind(l, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(l, 4) != 0) _exit(3);
    if (write(ready[1], "r", 1) != 1) _exit(4);
    sockaddr_in peer{};
    int c = accept(l, nullptr, nullptr);
    if (c >= 0) {
      socklen_t len = sizeof(peer);
      getpeername(c, reinterpret_cast<sockaddr*>(&peer), &len);
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      char b[4];
      if (read(c, b, 4) == 4 && std::memcmp(b, "ping", 4) == 0 && write(c, "pong", 4) != 4)
        _exit(5);
    }
    _exit(write(accepted[1], &peer, sizeof(peer)) == sizeof(peer) ? 0 : 6);
  }
  close(ready[1]);
  close(accepted[1]);
  char r;
  if (read(ready[0], &r, 1) == 1) {
    int code = testlib::RunInChild(client_cgroup, netns, [&] {
      int c = socket(AF_INET, SOCK_STREAM, 0);
      timeval tv{2, 0};
      setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      sockaddr_in dst = SockAddr4(dst_ip, dst_port);
      if (connect(c, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)) != 0) return 1000 + errno;
      int flags = 0;
      sockaddr_in peer{};
      socklen_t len = sizeof(peer);
      if (getpeername(c, reinterpret_cast<sockaddr*>(&peer), &len) == 0 &&
          peer.sin_addr.s_addr == dst.sin_addr.s_addr && peer.sin_port == dst.sin_port)
        flags |= 1;
      char b[4];
      if (write(c, "ping", 4) == 4 && read(c, b, 4) == 4 && std::memcmp(b, "pong", 4) == 0)
        flags |= 2;
      return flags;
    });
    out.connect_errno = code >= 1000 ? code - 1000 : (code < 0 ? -1 : 0);
    out.peer_is_dst = code >= 0 && code < 1000 && (code & 1);
    out.echoed = code >= 0 && code < 1000 && (code & 2);
  }
  close(ready[0]);
  // A listener that accepted nothing gives up after its 2 s timeout.
  sockaddr_in peer{};
  if (read(accepted[0], &peer, sizeof(peer)) == sizeof(peer)) {
    out.accepted_port = ntohs(peer.sin_port);
    out.accepted_addr = peer.sin_addr;
  }
  close(accepted[0]);
  kill(server, SIGKILL);
  waitpid(server, nullptr, 0);
  return out;
}

// The record's key of the connection the listener accepted.
wd_fwd_key KeyOf(const Outcome& o) {
  wd_fwd_key k{};
  k.family = WD_AF_INET;
  k.port = o.accepted_port;
  std::memcpy(k.addr, &o.accepted_addr, 4);
  return k;
}

class ForwardTest : public BpfTest {
 protected:
  void LoadScene(const std::string& pod, bool gateway_known = true,
                 std::vector<policy::Allowance> allow = {}) {
    Load(kCluster, {.local_pod = pod,
                    .allow = std::move(allow),
                    .node_addresses = {kForwarder},
                    .forwarder = Forwarder(gateway_known)});
  }
  std::unique_ptr<datapath::ForwardRecords> Records() {
    auto r = datapath::ForwardRecords::Open(dir_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }
  // The pod connects to `dst`:`port`; the forwarder (a host process) listens.
  Outcome PodConnects(const Netns& ns, const char* dst, uint16_t port) {
    return Exchange(burstable_pod_.container, host_cgroup_, ns.name(), kForwarder, kForwarderPort,
                    dst, port);
  }
};

TEST_F(ForwardTest, AWorldConnectOnAGatewayPortReachesTheForwarderWithItsRecord) {
  Netns ns;
  LoadScene("x/app");
  AttachToNode();
  auto records = Records();
  ASSERT_TRUE(records);
  for (uint16_t port : {80, 443}) {
    Outcome o = PodConnects(ns, kWorld, port);
    EXPECT_EQ(o.connect_errno, 0) << port;
    EXPECT_TRUE(o.peer_is_dst) << "getpeername must show the original peer, port " << port;
    EXPECT_TRUE(o.echoed) << port;
    ASSERT_NE(o.accepted_port, 0) << port;
    auto rec = records->Take(KeyOf(o));
    ASSERT_TRUE(rec.ok()) << rec.status();
    ASSERT_TRUE(rec->has_value()) << "no record for the accepted connection, port " << port;
    const wd_fwd_record& r = **rec;
    EXPECT_EQ(r.orig_family, WD_AF_INET);
    EXPECT_EQ(r.orig_port, port);
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, r.orig_addr, ip, sizeof(ip));
    EXPECT_STREQ(ip, kWorld);
    EXPECT_EQ(r.cgroup_id, burstable_pod_.id);
    EXPECT_EQ(r.identity, tables_.endpoints.at(burstable_pod_.id).identity);
    EXPECT_NE(r.cookie, 0u);
    // Taken once: nothing is left behind.
    auto again = records->Take(KeyOf(o));
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE(again->has_value());
  }
  EXPECT_EQ(*records->Count(), 0u);
  EXPECT_EQ(Counter(WD_HOOK_CONNECT, WD_REASON_REDIRECT_GATEWAY), 2u);
}

TEST_F(ForwardTest, OtherPortsStayRefusedAtConnect) {
  Netns ns;
  LoadScene("x/app");
  AttachToNode();
  Outcome o = PodConnects(ns, kWorld, 8443);
  EXPECT_EQ(o.connect_errno, EPERM);
  EXPECT_EQ(o.accepted_port, 0);
  EXPECT_EQ(Counter(WD_HOOK_CONNECT, WD_REASON_DENY_POOL_LOCKDOWN), 1u);
  EXPECT_EQ(*Records()->Count(), 0u);
}

TEST_F(ForwardTest, APodWhosePolicyRefusesTheGatewayGetsEperm) {
  Netns ns;
  LoadScene("x/closed");
  AttachToNode();
  Outcome o = PodConnects(ns, kWorld, 80);
  EXPECT_EQ(o.connect_errno, EPERM);
  EXPECT_EQ(o.accepted_port, 0);
  EXPECT_EQ(Counter(WD_HOOK_CONNECT, WD_REASON_DENY_POOL_LOCKDOWN), 1u);
  EXPECT_EQ(Counter(WD_HOOK_CONNECT, WD_REASON_REDIRECT_GATEWAY), 0u);
  EXPECT_EQ(*Records()->Count(), 0u);
}

TEST_F(ForwardTest, NoGatewayKnownMeansRefusedAtConnect) {
  Netns ns;
  LoadScene("x/app", /*gateway_known=*/false);
  AttachToNode();
  EXPECT_EQ(PodConnects(ns, kWorld, 80).connect_errno, EPERM);
  EXPECT_EQ(*Records()->Count(), 0u);
}

TEST_F(ForwardTest, HostProcessesAreNotRedirected) {
  Netns ns;
  LoadScene("x/app");
  AttachToNode();
  Outcome o =
      Exchange(host_cgroup_, host_cgroup_, ns.name(), kForwarder, kForwarderPort, kWorld, 80);
  EXPECT_EQ(o.connect_errno, EPERM);
  EXPECT_EQ(o.accepted_port, 0);
}

TEST_F(ForwardTest, ADirectConnectToTheForwarderHasNoRecord) {
  Netns ns;
  LoadScene("x/closed");  // may reach nothing, yet the forwarder's port is open to it...
  AttachToNode();
  Outcome o = PodConnects(ns, kForwarder, kForwarderPort);
  EXPECT_EQ(o.connect_errno, 0);
  ASSERT_NE(o.accepted_port, 0);
  // ... and the forwarder finds no record for it: it closes such a connection.
  auto rec = Records()->Take(KeyOf(o));
  ASSERT_TRUE(rec.ok());
  EXPECT_FALSE(rec->has_value());
  // Another port of the forwarder's address is the node's, which x/closed may not reach.
  EXPECT_EQ(PodConnects(ns, kForwarder, kForwarderPort + 1).accepted_port, 0);
}

TEST_F(ForwardTest, LockdownAllowancesStayDirect) {
  Netns ns;
  LoadScene("x/app", true, Allow({"203.0.113.10/32:80/TCP"}));
  AttachToNode();
  // The world address itself listens (on the namespace's loopback): reached directly.
  Outcome o = Exchange(burstable_pod_.container, host_cgroup_, ns.name(), kWorld, 80, kWorld, 80);
  EXPECT_EQ(o.connect_errno, 0);
  EXPECT_TRUE(o.echoed);
  EXPECT_EQ(Counter(WD_HOOK_CONNECT, WD_REASON_REDIRECT_GATEWAY), 0u);
  EXPECT_EQ(*Records()->Count(), 0u);
}

TEST_F(ForwardTest, TheHoleIsTheForwardersPortOfItsAddressOnTcpOnly) {
  Load(kCluster,
       {.local_pod = "x/closed", .node_addresses = {kForwarder}, .forwarder = Forwarder()});
  EXPECT_EQ(Egress(Ipv4Packet(kPod, kForwarder, kTcp, 40000, kForwarderPort)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_FORWARDER), 1u);
  EXPECT_EQ(Egress(Ipv4Packet(kPod, kForwarder, kTcp, 40001, kForwarderPort + 1)), 0u);
  EXPECT_EQ(Egress(Ipv4Packet(kPod, kForwarder, kUdp, 40002, kForwarderPort)), 0u);
  EXPECT_EQ(Egress(Ipv4Packet(kPod, "10.77.0.2", kTcp, 40003, kForwarderPort)), 0u);
  // Without a forwarder, its port is closed too.
  Load(kCluster, {.local_pod = "x/closed"});
  EXPECT_EQ(Egress(Ipv4Packet(kPod, kForwarder, kTcp, 40004, kForwarderPort)), 0u);
}

TEST_F(ForwardTest, TheSecondLinePassesTheForwardersPortAndNothingElse) {
  const std::string dev = "wdf" + std::to_string(getpid() % 100000);
  testlib::Sh("ip link del " + dev + " 2>/dev/null");
  testlib::MustSh("ip link add " + dev + " type veth peer name " + dev + "p && ip link set " + dev +
                  " up");
  struct Del {
    std::string dev;
    ~Del() { testlib::Sh("ip link del " + dev); }
  } del{dev};
  const uint32_t ifindex = if_nametoindex(dev.c_str());
  ASSERT_NE(ifindex, 0u);
  Load(kCluster, {.local_pod = "x/app",
                  .node_addresses = {kForwarder},
                  .ifindex = ifindex,
                  .forwarder = Forwarder()});
  auto out = [&](const std::vector<uint8_t>& pkt) {
    auto r = dp_->TestRun("wd_if_egress", pkt, 1, nullptr, ifindex);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : 99u;
  };
  constexpr uint32_t kPass = static_cast<uint32_t>(-1), kDrop = 2;
  EXPECT_EQ(out(Ipv4Packet(kPod, kForwarder, kTcp, 40000, kForwarderPort)), kPass);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_ALLOW_FORWARDER), 1u);
  EXPECT_EQ(out(Ipv4Packet(kPod, kForwarder, kTcp, 40001, kForwarderPort + 1)), kDrop);
  EXPECT_EQ(out(Ipv4Packet(kPod, kForwarder, kUdp, 40002, kForwarderPort)), kDrop);
  // The world itself stays shut, on the gateway ports too: only the redirect reaches out.
  EXPECT_EQ(out(Ipv4Packet(kPod, kWorld, kTcp, 40003, 80)), kDrop);
  EXPECT_EQ(out(Ipv4Packet(kPod, kWorld, kTcp, 40003, 443)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_ALLOW_FORWARDER), 1u);
  // From an address not the pod's, the forwarder's port is refused as any other.
  EXPECT_EQ(out(Ipv4Packet("10.244.1.99", kForwarder, kTcp, 40004, kForwarderPort)), kDrop);
}

}  // namespace
}  // namespace warden::testing
