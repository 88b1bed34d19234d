// The second line: the interface programs (wd_if_egress at the tc ingress of the node side of a
// pod's interface: what the pod sends; wd_if_ingress at its tc egress: what goes to the pod) on
// crafted packets through BPF_PROG_TEST_RUN. The packets meet a real interface of the test's
// network namespace (a veth pair made and removed by the test), whose ifindex the tables name
// as x/app's.
//
// Every refusal here is an attack that must fail: a spoofed source, headers that cannot be read,
// world-bound packets that no allowance covers (also as "replies" of a world-opened flow), the
// kernel's own answers to a peer that default-deny ingress refused; each is paired with the packet
// that must pass, so no test can pass by dropping everything.
#include <net/if.h>
#include <unistd.h>

#include "tests/bpf/bpf_fixture.h"
#include "tests/lib/shell.h"

namespace warden::testing {
namespace {

using testlib::IcmpError;
using testlib::kAck;
using testlib::kDestOpts;
using testlib::kIcmp;
using testlib::kIcmp6;
using testlib::kNoNextHeader;
using testlib::kTcp;
using testlib::kUdp;
using testlib::Packet;
using testlib::PacketSpec;

// x/app: egress only to x/peer on TCP 80, ingress default deny. x/peer: no policy.
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
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: open-in, namespace: x}
spec:
  podSelector: {matchLabels: {app: open}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: peer}}}]
---
apiVersion: v1
kind: Pod
metadata: {name: open, namespace: x, labels: {app: open}}
status: {podIPs: [{ip: 10.244.1.13}]}
)";

constexpr char kApp[] = "10.244.1.11";
constexpr char kApp6[] = "fd00::11";
constexpr char kPeer[] = "10.244.1.12";
constexpr char kPeer6[] = "fd00::12";
constexpr char kOpen[] = "10.244.1.13";
constexpr char kWorld[] = "203.0.113.9";
constexpr uint32_t kPass = static_cast<uint32_t>(-1);  // TC_ACT_UNSPEC / TCX_NEXT
constexpr uint32_t kDrop = 2;                          // TC_ACT_SHOT

class InterfaceTest : public BpfTest {
 protected:
  void SetUp() override {
    BpfTest::SetUp();
    if (HasFatalFailure()) return;
    dev_ = "wdt" + std::to_string(getpid() % 100000);
    testlib::Sh("ip link del " + dev_ + " 2>/dev/null");
    testlib::MustSh("ip link add " + dev_ + " type veth peer name " + dev_ + "p && ip link set " +
                    dev_ + " up");
    ifindex_ = if_nametoindex(dev_.c_str());
    ASSERT_NE(ifindex_, 0u) << dev_;
  }
  void TearDown() override {
    testlib::Sh("ip link del " + dev_);
    BpfTest::TearDown();
  }

  void LoadApp(const std::string& pod = "x/app", std::vector<policy::Allowance> allow = {}) {
    LoadOnInterface(kCluster, {.local_pod = pod, .allow = std::move(allow)});
  }
  // `yaml` with the scene's local pod on this test's interface.
  void LoadOnInterface(const char* yaml, Scene s) {
    s.ifindex = ifindex_;
    Load(yaml, s);
  }

  uint32_t RunIf(const char* prog, const std::vector<uint8_t>& pkt) {
    auto r = dp_->TestRun(prog, pkt, 1, nullptr, ifindex_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : 99;
  }
  // What the pod sends / what goes to it.
  uint32_t Out(const std::vector<uint8_t>& pkt) { return RunIf("wd_if_egress", pkt); }
  uint32_t In(const std::vector<uint8_t>& pkt) { return RunIf("wd_if_ingress", pkt); }

  std::string dev_;
  uint32_t ifindex_ = 0;
};

TEST_F(InterfaceTest, SourceMustBeOneOfThePodsAddresses) {
  LoadApp();
  EXPECT_EQ(Out(Ipv4Packet(kApp, kPeer, kTcp, 40000, 80)), kPass);
  EXPECT_EQ(Out(Ipv6Packet(kApp6, kPeer6, kTcp, 40000, 80)), kPass);
  // The same packets "from" the peer's own address, or an address of no pod.
  EXPECT_EQ(Out(Ipv4Packet(kOpen, kPeer, kTcp, 40000, 80)), kDrop);
  EXPECT_EQ(Out(Ipv4Packet("10.244.1.99", kPeer, kTcp, 40000, 80)), kDrop);
  EXPECT_EQ(Out(Ipv6Packet("fd00::99", kPeer6, kTcp, 40000, 80)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_SPOOFED_SOURCE), 3u);
  // Toward the pod, the destination must be the pod's.
  EXPECT_EQ(In(Ipv4Packet(kPeer, kOpen, kTcp, 80, 40000)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_INGRESS, WD_REASON_DENY_NOT_POD_ADDRESS), 1u);
}

TEST_F(InterfaceTest, AnInterfaceWithoutAnEntryIsClosed) {
  LoadApp("");  // no local pod: the interface names nobody
  EXPECT_EQ(Out(Ipv4Packet(kApp, kPeer, kTcp, 40000, 80)), kDrop);
  EXPECT_EQ(In(Ipv4Packet(kPeer, kApp, kTcp, 80, 40000)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_UNKNOWN_POD), 1u);
}

TEST_F(InterfaceTest, WhatCannotBeParsedIsDroppedBothWays) {
  LoadApp();
  PacketSpec options{.src = kApp, .dst = kPeer, .proto = kTcp, .sport = 40000, .dport = 80};
  options.ipv4_options = 40;  // a 60-byte header...
  EXPECT_EQ(Out(Packet(options)), kPass);
  options.truncate_to = 14 + 60 + 10;  // ... leaving 10 bytes of TCP
  EXPECT_EQ(Out(Packet(options)), kDrop);
  PacketSpec ext{.src = kApp6, .dst = kPeer6, .proto = kTcp, .sport = 40000, .dport = 80};
  ext.ipv6_ext = {kDestOpts, kDestOpts};
  EXPECT_EQ(Out(Packet(ext)), kPass);  // a well-formed chain is walked
  ext.truncate_to = 14 + 40 + 8 + 4;   // the second header cut short
  EXPECT_EQ(Out(Packet(ext)), kDrop);
  PacketSpec lying{.src = kPeer, .dst = kApp, .proto = kUdp, .sport = 53, .dport = 5353};
  lying.ip_length = 400;  // beyond the frame
  EXPECT_EQ(In(Packet(lying)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_MALFORMED), 2u);
  EXPECT_EQ(Counter(WD_HOOK_IF_INGRESS, WD_REASON_DENY_MALFORMED), 1u);
}

TEST_F(InterfaceTest, ArpAndNeighbourDiscoveryPass) {
  LoadApp();
  EXPECT_EQ(Out(ArpPacket()), kPass);
  EXPECT_EQ(In(ArpPacket()), kPass);
  // Neighbour solicitation from the pod's link-local address to a solicited-node group, and
  // the node's advertisement back; router solicitation to all-routers.
  PacketSpec ns{.src = "fe80::1", .dst = "ff02::1:ff00:12", .proto = kIcmp6, .icmp_type = 135};
  EXPECT_EQ(Out(Packet(ns)), kPass);
  PacketSpec na{.src = "fe80::2", .dst = "fe80::1", .proto = kIcmp6, .icmp_type = 136};
  EXPECT_EQ(In(Packet(na)), kPass);
  PacketSpec rs{.src = "fe80::1", .dst = "ff02::2", .proto = kIcmp6, .icmp_type = 133};
  EXPECT_EQ(Out(Packet(rs)), kPass);
  // An echo request is no link message: from a link-local source it is spoofed.
  PacketSpec echo{.src = "fe80::1", .dst = kPeer6, .proto = kIcmp6, .icmp_type = 128};
  EXPECT_EQ(Out(Packet(echo)), kDrop);
  // Neither is a "neighbour solicitation" routed off the link.
  PacketSpec far{.src = "fe80::1", .dst = "2001:db8::1", .proto = kIcmp6, .icmp_type = 135};
  EXPECT_EQ(Out(Packet(far)), kDrop);
}

TEST_F(InterfaceTest, WorldBoundPassesOnlyByAnAllowance) {
  LoadApp("x/open");  // no egress to the world by policy is needed: the lockdown decides
  EXPECT_EQ(Out(Ipv4Packet(kOpen, kWorld, kTcp, 40000, 443)), kDrop);
  EXPECT_EQ(Out(Ipv4Packet(kOpen, kWorld, kUdp, 40000, 53)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 2u);
  // x/open's egress policy admits only x/peer: an allowance alone does not let it out.
  LoadApp("x/open", Allow({"203.0.113.0/24:443/TCP"}));
  EXPECT_EQ(Out(Ipv4Packet(kOpen, kWorld, kTcp, 40000, 443)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_POLICY), 1u);
}

TEST_F(InterfaceTest, AnAllowanceAndPolicyLetTheWorldBoundPacketOut) {
  const char* open_world = R"(
apiVersion: v1
kind: Pod
metadata: {name: free, namespace: y}
status: {podIP: 10.244.1.20}
)";
  LoadOnInterface(open_world, {.local_pod = "y/free", .allow = Allow({"203.0.113.0/24:443/TCP"})});
  EXPECT_EQ(Out(Ipv4Packet("10.244.1.20", kWorld, kTcp, 40000, 443)), kPass);
  EXPECT_EQ(In(Ipv4Packet(kWorld, "10.244.1.20", kTcp, 443, 40000)), kPass);  // its replies
  EXPECT_EQ(Out(Ipv4Packet("10.244.1.20", kWorld, kTcp, 40000, 444)), kDrop);
}

// On a gateway node the lockdown lets the gateway's pods reach the world on TCP 80/443; at the
// interface such a packet must also have been sent by one of the pod's own sockets (a flow the
// first line admitted). BPF_PROG_TEST_RUN gives the packet a socket of the calling process's
// cgroup: from a host process's cgroup it stands for what no socket of the pod sent (a packet
// socket's frame, a forwarded or tunnelled packet, the kernel's own answer): refused; from the
// pod's container, passed.
TEST_F(InterfaceTest, GatewayPodsWorldPacketsNeedTheirOwnSocket) {
  const char* gw = R"(
apiVersion: v1
kind: Pod
metadata: {name: gateway, namespace: warden-egress}
status: {podIP: 10.244.3.5}
---
apiVersion: v1
kind: Pod
metadata: {name: peer, namespace: x}
status: {podIP: 10.244.1.12}
)";
  // host: the test's packets carry a socket that is no socket of the pod's.
  LoadOnInterface(gw, {.local_pod = "warden-egress/gateway",
                       .pool = WD_POOL_GATEWAY,
                       .gateway = true,
                       .host = true});
  const auto to_world = Ipv4Packet("10.244.3.5", kWorld, kTcp, 40000, 443);
  EXPECT_EQ(Out(to_world), kDrop);
  EXPECT_EQ(Out(Ipv4Packet("10.244.3.5", kWorld, kTcp, 40000, 8443)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 2u);
  // In-cluster packets need no socket; what comes back from the world passes (nothing isolates
  // the pod's ingress).
  EXPECT_EQ(Out(Ipv4Packet("10.244.3.5", kPeer, kTcp, 40000, 80)), kPass);
  PacketSpec synack{
      .src = kWorld, .dst = "10.244.3.5", .proto = kTcp, .sport = 443, .dport = 40000};
  synack.tcp_flags = testlib::kSyn | kAck;
  EXPECT_EQ(In(Packet(synack)), kPass);
  // Sent by a socket of the pod (the test process in the pod's container): passes, and every
  // such packet is checked again (nothing cached admits the next one without a socket).
  ASSERT_TRUE(common::MoveToCgroup(burstable_pod_.container, getpid()).ok());
  EXPECT_EQ(Out(to_world), kPass);
  ASSERT_TRUE(common::MoveToCgroup(host_cgroup_, getpid()).ok());
  EXPECT_EQ(Out(to_world), kDrop);
}

// A world address opens a flow toward a pod whose ingress nothing isolates: the inbound packets
// pass (NetworkPolicy ingress), and the pod's answers meet the lockdown, never the reverse
// verdict. Also when an allowance covers the world port but the pod's egress policy does not:
// the reverse verdict (ingress, about a world address) is reply-barred.
TEST_F(InterfaceTest, AWorldOpenedFlowGetsNoAnswers) {
  const char* c = R"(
apiVersion: v1
kind: Pod
metadata: {name: srv, namespace: y, labels: {app: srv}}
status: {podIP: 10.244.1.30}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: y}
spec:
  podSelector: {matchLabels: {app: srv}}
  policyTypes: [Egress]
)";
  LoadOnInterface(c, {.local_pod = "y/srv", .allow = Allow({"203.0.113.0/24"})});
  EXPECT_EQ(In(Ipv4Packet(kWorld, "10.244.1.30", kUdp, 443, 8080)), kPass);
  EXPECT_EQ(Out(Ipv4Packet("10.244.1.30", kWorld, kUdp, 8080, 443)), kDrop);
  PacketSpec synack{
      .src = "10.244.1.30", .dst = kWorld, .proto = kTcp, .sport = 8080, .dport = 443};
  synack.tcp_flags = testlib::kSyn | kAck;
  EXPECT_EQ(Out(Packet(synack)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_POLICY), 2u);
}

// Default-deny ingress also silences the kernel's own answers: the request is refused on the way
// in, and an answer (an echo reply, a port unreachable, a RST) on the way out belongs to no
// admitted flow.
TEST_F(InterfaceTest, DefaultDenyIngressSilencesTheKernelsAnswers) {
  LoadApp();
  PacketSpec echo{.src = kPeer, .dst = kApp, .proto = kIcmp, .icmp_type = 8};
  EXPECT_EQ(In(Packet(echo)), kDrop);
  EXPECT_EQ(In(Ipv4Packet(kPeer, kApp, kUdp, 5353, 53)), kDrop);
  EXPECT_EQ(In(Ipv4Packet(kPeer, kApp, kTcp, 40000, 22)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_INGRESS, WD_REASON_DENY_POLICY), 3u);
  PacketSpec reply{.src = kApp, .dst = kPeer, .proto = kIcmp, .icmp_type = 0};
  EXPECT_EQ(Out(Packet(reply)), kDrop);
  PacketSpec rst{.src = kApp, .dst = kPeer, .proto = kTcp, .sport = 22, .dport = 40000};
  rst.tcp_flags = testlib::kRst | kAck;
  EXPECT_EQ(Out(Packet(rst)), kDrop);
  PacketSpec probe{.src = kPeer, .dst = kApp, .proto = kUdp, .sport = 5353, .dport = 53};
  EXPECT_EQ(Out(IcmpError(kApp, kPeer, probe)), kDrop);
  // The same peer answering the pod's own admitted connection does pass; its SYN does not.
  PacketSpec answer{.src = kPeer, .dst = kApp, .proto = kTcp, .sport = 80, .dport = 40000};
  EXPECT_EQ(In(Packet(answer)), kDrop);
  answer.tcp_flags = testlib::kSyn | kAck;
  EXPECT_EQ(In(Packet(answer)), kPass);
}

TEST_F(InterfaceTest, IcmpErrorsPassOnlyAboutAdmittedFlows) {
  LoadApp();
  // A router's "fragmentation needed" about the pod's admitted connection to the peer.
  PacketSpec admitted{.src = kApp, .dst = kPeer, .proto = kTcp, .sport = 40000, .dport = 80};
  EXPECT_EQ(In(IcmpError("10.244.0.1", kApp, admitted, 3, 4)), kPass);
  // About a flow the pod may not have: to the world, or to the peer on another port.
  PacketSpec world{.src = kApp, .dst = kWorld, .proto = kUdp, .sport = 40000, .dport = 53};
  EXPECT_EQ(In(IcmpError(kWorld, kApp, world)), kDrop);
  PacketSpec other{.src = kApp, .dst = kPeer, .proto = kTcp, .sport = 40000, .dport = 22};
  EXPECT_EQ(In(IcmpError(kPeer, kApp, other)), kDrop);
  // A quote that is not the pod's own packet is judged as the ICMP packet it is (refused).
  PacketSpec foreign{.src = kOpen, .dst = kPeer, .proto = kTcp, .sport = 40000, .dport = 80};
  EXPECT_EQ(In(IcmpError(kPeer, kApp, foreign)), kDrop);
  // The pod's kernel answering the world's probe with an unreachable: lockdown.
  PacketSpec probe{.src = kWorld, .dst = kApp, .proto = kUdp, .sport = 53, .dport = 9999};
  EXPECT_EQ(Out(IcmpError(kApp, kWorld, probe)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 1u);
  // IPv6: a packet-too-big about the admitted flow passes.
  PacketSpec admitted6{.src = kApp6, .dst = kPeer6, .proto = kTcp, .sport = 40000, .dport = 80};
  EXPECT_EQ(In(IcmpError("fd00::1", kApp6, admitted6, 2, 0)), kPass);
}

TEST_F(InterfaceTest, LaterFragmentsPassOnlyBehindAnAdmittedFirst) {
  LoadApp();
  PacketSpec first{.src = kApp, .dst = kPeer, .proto = kTcp, .sport = 40000, .dport = 80};
  first.more_fragments = true;
  first.fragment_id = 77;
  PacketSpec later = first;
  later.fragment_offset = 3;
  later.more_fragments = false;
  later.l4 = std::vector<uint8_t>(16, 0);
  EXPECT_EQ(Out(Packet(later)), kDrop);  // no first fragment yet
  EXPECT_EQ(Out(Packet(first)), kPass);
  EXPECT_EQ(Out(Packet(later)), kPass);
  PacketSpec refused = first;  // a first fragment to a port the policy refuses
  refused.dport = 22;
  refused.fragment_id = 78;
  PacketSpec refused_later = later;
  refused_later.fragment_id = 78;
  EXPECT_EQ(Out(Packet(refused)), kDrop);
  EXPECT_EQ(Out(Packet(refused_later)), kDrop);
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_FRAGMENT), 2u);
}

TEST_F(InterfaceTest, ACachedVerdictAdmitsOnlyItsOwnFlowAndGeneration) {
  LoadApp();
  auto pkt = Ipv4Packet(kApp, kPeer, kTcp, 40001, 80);
  EXPECT_EQ(Out(pkt), kPass);
  uint64_t slow = Counter(WD_HOOK_IF_EGRESS, WD_REASON_ALLOW_POLICY);
  EXPECT_EQ(Out(pkt), kPass);  // from wd_ifcache
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_ALLOW_POLICY), slow);
  EXPECT_GE(Counter(WD_HOOK_IF_EGRESS, WD_REASON_ALLOW_TRACKED), 1u);
  // A new policy (nothing allowed) retires the slot.
  const char* closed = R"(
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: x, labels: {app: app}}
status: {podIPs: [{ip: 10.244.1.11}, {ip: "fd00::11"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: peer, namespace: x, labels: {app: peer}}
status: {podIP: 10.244.1.12}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: app, namespace: x}
spec:
  podSelector: {matchLabels: {app: app}}
  policyTypes: [Ingress, Egress]
)";
  LoadOnInterface(closed, {.local_pod = "x/app"});
  EXPECT_EQ(Out(pkt), kDrop);
}

// Events are rate-limited per pod: a flood of refused packets yields a burst of events, then
// none until tokens come back; the next event says how many were held back. The counters still
// count every packet.
TEST_F(InterfaceTest, EventsAreRateLimitedPerPod) {
  LoadApp();
  std::vector<wd_event> drained;
  auto drain = [&] {
    drained.clear();
    ASSERT_TRUE(dp_->PollEvents(0, [&](const wd_event& e) { drained.push_back(e); }).ok());
  };
  drain();
  const auto spoofed = Ipv4Packet("10.244.1.99", kPeer, kUdp, 1, 2);
  constexpr int kFlood = 1000;
  for (int i = 0; i < kFlood; ++i) ASSERT_EQ(Out(spoofed), kDrop);
  drain();
  EXPECT_EQ(Counter(WD_HOOK_IF_EGRESS, WD_REASON_DENY_SPOOFED_SOURCE), uint64_t{kFlood});
  // The burst, plus what refilled while the flood ran (50 a second).
  EXPECT_GE(drained.size(), size_t{WD_EVENTS_PER_POD_BURST});
  EXPECT_LT(drained.size(), size_t{WD_EVENTS_PER_POD_BURST + 100});
  for (const auto& e : drained) {
    EXPECT_EQ(e.hook, WD_HOOK_IF_EGRESS);
    EXPECT_EQ(e.reason, WD_REASON_DENY_SPOOFED_SOURCE);
    EXPECT_EQ(e.ifindex, ifindex_);
    EXPECT_EQ(e.cgroup_id, burstable_pod_.id);
  }
  // After the bucket refills a little, one more event reports the held-back ones.
  usleep(100 * 1000);
  ASSERT_EQ(Out(spoofed), kDrop);
  drain();
  ASSERT_EQ(drained.size(), 1u);
  uint64_t sent = 0;
  EXPECT_GT(drained[0].suppressed, 0u);
  sent = drained[0].suppressed;
  EXPECT_LE(sent, uint64_t{kFlood - WD_EVENTS_PER_POD_BURST});
}

}  // namespace
}  // namespace warden::testing

namespace warden::testing {
namespace {

// The agent's attach: tcx links pinned per interface, adopted in place by the next agent (the
// same link, the new program), taken off again; a pin whose interface went away is replaced.
TEST_F(InterfaceTest, LinksArePinnedAdoptedAndRemoved) {
  LoadApp();
  auto a = dp_->AttachInterface(ifindex_);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->tcx);
  EXPECT_FALSE(a->replaced);
  EXPECT_NE(a->egress_prog_id, 0u);
  EXPECT_NE(a->ingress_prog_id, 0u);
  EXPECT_EQ(dp_->PinnedInterfaces(), std::vector<uint32_t>{ifindex_});
  auto q = dp_->QueryInterface(ifindex_);
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->egress_prog_id, a->egress_prog_id);

  // A second agent on the same pins adopts the links.
  datapath::BpfDatapath::Options opts;
  opts.bpffs_dir = dir_;
  auto next = datapath::BpfDatapath::Open(opts);
  ASSERT_TRUE(next.ok()) << next.status();
  auto b = (*next)->AttachInterface(ifindex_);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->replaced);
  auto q2 = dp_->QueryInterface(ifindex_);
  ASSERT_TRUE(q2.ok());
  EXPECT_NE(q2->egress_prog_id, a->egress_prog_id);  // the new agent's program, same link
  next->reset();

  ASSERT_TRUE(dp_->DetachInterface(ifindex_).ok());
  EXPECT_TRUE(dp_->PinnedInterfaces().empty());
  auto q3 = dp_->QueryInterface(ifindex_);
  ASSERT_TRUE(q3.ok());
  EXPECT_EQ(q3->egress_prog_id, 0u);

  // The interface goes away under an attached link: the pin stays, pointing at nothing, and the
  // next attach (to a new interface) replaces it.
  ASSERT_TRUE(dp_->AttachInterface(ifindex_).ok());
  testlib::MustSh("ip link del " + dev_);
  auto gone = dp_->QueryInterface(ifindex_);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->egress_prog_id, 0u);
  EXPECT_TRUE(dp_->DetachInterface(ifindex_).ok());
  EXPECT_TRUE(dp_->PinnedInterfaces().empty());
}

}  // namespace
}  // namespace warden::testing
