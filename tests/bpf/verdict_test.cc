// Each verdict path of the cgroup_skb programs, on crafted IPv4/IPv6 packets through
// BPF_PROG_TEST_RUN, with tables compiled from NetworkPolicy YAML.
#include <arpa/inet.h>

#include "tests/bpf/bpf_fixture.h"

namespace warden::testing {
namespace {

using testlib::kIcmp;
using testlib::kSctp;
using testlib::kTcp;
using testlib::kUdp;
using testlib::Packet;
using testlib::PacketSpec;

const char* kCluster = R"(
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {ns: x}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y, labels: {ns: y}}
---
apiVersion: v1
kind: Node
metadata: {name: n1}
spec: {podCIDR: 10.244.0.0/16}
status: {addresses: [{type: InternalIP, address: 10.10.0.1}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {app: a}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
status: {podIP: 10.244.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {app: b}}
status: {podIP: 10.244.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: c, namespace: y, labels: {app: c}}
status: {podIPs: [{ip: 10.244.2.10}, {ip: "fd00::c"}]}
)";

const char* kPolicy = R"(
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Ingress, Egress]
  ingress:
  - from: [{podSelector: {matchLabels: {app: b}}}]
    ports: [{port: http}]
  egress:
  - to: [{podSelector: {matchLabels: {app: b}}}]
    ports: [{port: 80, endPort: 90}, {protocol: SCTP, port: 7}]
  - to: [{ipBlock: {cidr: 203.0.113.0/24, except: [203.0.113.66/32]}}]
    ports: [{port: 443}]
  - to: [{ipBlock: {cidr: 198.51.100.0/24}}]
    ports: [{protocol: UDP, port: 53}]
  - to: [{namespaceSelector: {matchLabels: {ns: y}}}]
  - to: [{ipBlock: {cidr: "fd00:dead::/32"}}]
    ports: [{port: 443}]
)";

std::string All() { return std::string(kCluster) + kPolicy; }

TEST_F(BpfTest, NotConfiguredDropsEverything) {
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 40000, 80)), 0u);
  EXPECT_EQ(Ingress(Ipv4Packet("10.244.1.11", "10.244.1.10", kTcp, 40000, 80)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_NOT_CONFIGURED), 1u);
  EXPECT_EQ(Counter(WD_HOOK_INGRESS, WD_REASON_DENY_NOT_CONFIGURED), 1u);
}

TEST_F(BpfTest, PolicyPortsAndRanges) {
  LoadPod(All(), "x/a");
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 40000, 80)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 40001, 90)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 40002, 91)), 0u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 40003, 79)), 0u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kUdp, 40004, 85)), 0u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kSctp, 40005, 7)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kSctp, 40006, 8)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_POLICY), 3u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POLICY), 4u);
}

TEST_F(BpfTest, GuaranteedPodsSitOneLevelHigher) {
  Load(All(), {.local_pod = "x/a", .guaranteed = true});
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 40000, 80)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 40001, 91)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POLICY), 1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_UNKNOWN_POD), 0u);
}

TEST_F(BpfTest, RuleWithoutPortsAllowsEveryProtocol) {
  LoadPod(All(), "x/a");
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.2.10", kIcmp, 0, 0)), 1u);  // to y/c
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.2.10", kUdp, 5, 9999)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kIcmp, 0, 0)), 0u);  // to x/b
}

TEST_F(BpfTest, IpBlockWithExceptBehindLockdownAllowance) {
  // Without an allowance a default-pool node never reaches the world directly.
  LoadPod(All(), "x/a");
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "203.0.113.10", kTcp, 40000, 443)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 1u);
  // With one, NetworkPolicy still decides: the except carves 203.0.113.66 out.
  Load(All(), {.local_pod = "x/a", .allow = Allow({"203.0.113.0/24:443/TCP"})});
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "203.0.113.10", kTcp, 40001, 443)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "203.0.113.66", kTcp, 40002, 443)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POLICY), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "203.0.113.10", kTcp, 40003, 80)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 2u);
}

TEST_F(BpfTest, Ipv6) {
  Load(All(), {.local_pod = "x/a", .allow = Allow({"fd00:dead::/32:443/TCP"})});
  EXPECT_EQ(Egress(Ipv6Packet("fd00::a", "fd00:dead::1", kTcp, 40000, 443)), 1u);
  EXPECT_EQ(Egress(Ipv6Packet("fd00::a", "fd00:dead::1", kTcp, 40001, 443, /*ext=*/true)), 1u);
  EXPECT_EQ(Egress(Ipv6Packet("fd00::a", "fd00:dead::1", kTcp, 40002, 444)), 0u);
  EXPECT_EQ(Egress(Ipv6Packet("fd00::a", "fd00:beef::1", kTcp, 40003, 443)), 0u);  // lockdown
  EXPECT_EQ(Egress(Ipv6Packet("fd00::a", "fd00::c", kUdp, 40004, 53)), 1u);        // y/c over v6
}

TEST_F(BpfTest, IngressUsesLocalPortAndRemoteIdentity) {
  LoadPod(All(), "x/a");
  EXPECT_EQ(Ingress(Ipv4Packet("10.244.1.11", "10.244.1.10", kTcp, 40000, 8080)),
            1u);  // from x/b, http
  EXPECT_EQ(Ingress(Ipv4Packet("10.244.1.11", "10.244.1.10", kTcp, 40001, 8081)), 0u);
  EXPECT_EQ(Ingress(Ipv4Packet("10.244.2.10", "10.244.1.10", kTcp, 40002, 8080)), 0u);  // from y/c
  EXPECT_EQ(Ingress(Ipv4Packet("203.0.113.9", "10.244.1.10", kTcp, 40003, 8080)),
            0u);  // from the world
  EXPECT_EQ(Counter(WD_HOOK_INGRESS, WD_REASON_ALLOW_POLICY), 1u);
  EXPECT_EQ(Counter(WD_HOOK_INGRESS, WD_REASON_DENY_POLICY), 3u);
}

TEST_F(BpfTest, APodAlwaysAcceptsItsOwnNode) {
  Load(All(), {.local_pod = "x/a", .node_addresses = {"10.10.0.1"}});
  EXPECT_EQ(Ingress(Ipv4Packet("10.10.0.1", "10.244.1.10", kTcp, 40000, 9999)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_INGRESS, WD_REASON_ALLOW_HOST), 1u);
  // Another node is just a host address: x/a's ingress rules do not admit it.
  LoadPod(All() + R"(
---
apiVersion: v1
kind: Node
metadata: {name: n2}
status: {addresses: [{type: InternalIP, address: 10.10.0.2}]}
)",
          "x/a");
  EXPECT_EQ(Ingress(Ipv4Packet("10.10.0.2", "10.244.1.10", kTcp, 40001, 9999)), 0u);
  // Egress to the own node stays under NetworkPolicy.
  Load(All(), {.local_pod = "x/a", .node_addresses = {"10.10.0.1"}});
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.10.0.1", kTcp, 40002, 22)), 0u);
}

TEST_F(BpfTest, RepliesOfAdmittedFlowsPass) {
  LoadPod(All(), "x/a");
  // x/a -> x/b:80 admitted on egress; x/b's reply comes in on x/a's ephemeral port, which no
  // ingress rule allows.
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 41000, 80)), 1u);
  EXPECT_EQ(Ingress(Ipv4Packet("10.244.1.11", "10.244.1.10", kTcp, 80, 41000)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_INGRESS, WD_REASON_ALLOW_TRACKED), 1u);
  // A packet from x/b to the same port without the flow: denied.
  EXPECT_EQ(Ingress(Ipv4Packet("10.244.1.11", "10.244.1.10", kTcp, 81, 41000)), 0u);
}

TEST_F(BpfTest, PolicyChangeRechecksTrackedFlows) {
  LoadPod(All(), "x/a");
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 42000, 85)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 42000, 85)), 1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_TRACKED), 1u);
  // The policy shrinks to 80-84: the tracked flow is re-checked under the new generation.
  std::string narrowed = All();
  narrowed.replace(narrowed.find("endPort: 90"), 11, "endPort: 84");
  LoadPod(narrowed, "x/a");
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 42000, 85)), 0u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 42001, 84)), 1u);
}

TEST_F(BpfTest, UnknownPodFailsClosedUnlessConfigured) {
  Load(All(), Scene{});  // no endpoint for pod-test: an unknown pod
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.99", "10.244.1.11", kTcp, 40000, 80)), 0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_UNKNOWN_POD), 1u);
  Load(All(), {.unknown_pod = WD_UNKNOWN_POD_ALLOW});
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.99", "10.244.1.11", kTcp, 40001, 80)), 1u);
  // ... but never past the lockdown.
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.99", "203.0.113.10", kTcp, 40002, 443)), 0u);
}

TEST_F(BpfTest, HostProcessesOnDefaultPool) {
  Load(All(),
       {.allow = Allow({"169.254.169.254/32:80/TCP", "199.36.153.8/30:443/TCP"}), .host = true});
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.1", "203.0.113.66", kTcp, 40000, 443)), 0u);
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.1", "169.254.169.254", kTcp, 40001, 80)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.1", "169.254.169.254", kTcp, 40002, 81)), 0u);
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.1", "199.36.153.9", kTcp, 40003, 443)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.1", "199.36.153.12", kTcp, 40004, 443)), 0u);
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.1", "10.244.1.11", kTcp, 40005, 22)),
            1u);  // inside the cluster
  EXPECT_EQ(Ingress(Ipv4Packet("203.0.113.66", "10.10.0.1", kTcp, 40006, 22)),
            1u);  // lockdown is egress-only
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_POOL_LOCKDOWN), 3u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_ALLOW_HOST), 3u);
}

TEST_F(BpfTest, NestedAllowancesKeepTheirPorts) {
  Load(All(), {.allow = Allow({"198.51.0.0/16:53/UDP", "198.51.100.0/24:443/TCP"}), .host = true});
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.1", "198.51.100.1", kUdp, 40000, 53)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.1", "198.51.100.1", kTcp, 40001, 443)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.1", "198.51.7.1", kTcp, 40002, 443)), 0u);
}

TEST_F(BpfTest, GatewayPoolLetsOnlyGatewaysOutOn80And443) {
  Load(All(), {.local_pod = "y/c", .pool = WD_POOL_GATEWAY, .gateway = true});
  EXPECT_EQ(Egress(Ipv4Packet("10.244.2.10", "203.0.113.10", kTcp, 40000, 443)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.2.10", "203.0.113.10", kTcp, 40001, 80)), 1u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.2.10", "203.0.113.10", kTcp, 40002, 8443)), 0u);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.2.10", "203.0.113.10", kUdp, 40003, 443)), 0u);
  Load(All(), {.local_pod = "y/c", .pool = WD_POOL_GATEWAY});
  EXPECT_EQ(Egress(Ipv4Packet("10.244.2.10", "203.0.113.10", kTcp, 40004, 443)), 0u);
  Load(All(), {.pool = WD_POOL_GATEWAY, .host = true});
  EXPECT_EQ(Egress(Ipv4Packet("10.10.0.3", "203.0.113.10", kTcp, 40005, 443)), 0u);
}

TEST_F(BpfTest, NonIpPassesAndTruncatedIsDropped) {
  LoadPod(All(), "x/a");
  EXPECT_EQ(Egress(ArpPacket()), 1u);
  EXPECT_EQ(Egress(Packet({.src = "10.244.1.10", .dst = "10.244.1.11", .truncate_to = 14 + 24})),
            0u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_MALFORMED), 1u);
}

// What the parser cannot read, the programs cannot judge: IPv4 and IPv6 packets whose headers
// are cut short, lie about their length or chain more extension headers than are walked are
// dropped as malformed, in both directions, whatever the policy says.
std::vector<std::pair<std::string, std::vector<uint8_t>>> MalformedPackets(bool egress) {
  const std::string pod4 = "10.244.1.10", peer4 = "10.244.2.10";  // y/c: every port allowed
  const std::string pod6 = "fd00::a", peer6 = "fd00::c";
  auto v4 = [&](PacketSpec s) {
    s.src = egress ? pod4 : peer4;
    s.dst = egress ? peer4 : pod4;
    s.sport = 40000;
    s.dport = 80;
    return Packet(s);
  };
  auto v6 = [&](PacketSpec s) {
    s.src = egress ? pod6 : peer6;
    s.dst = egress ? peer6 : pod6;
    s.sport = 40000;
    s.dport = 80;
    return Packet(s);
  };
  std::vector<uint8_t> tcp8(8, 0);  // ports, then the TCP header ends
  std::vector<uint8_t> bad_version = v4({});
  bad_version[14] = 0x65;
  std::vector<uint8_t> short_ihl = v4({});
  short_ihl[14] = 0x44;
  return {
      {"IPv4 options that cut the TCP header short", v4({.l4 = tcp8, .ipv4_options = 40})},
      {"IPv4 options running past the packet", v4({.ipv4_options = 40, .truncate_to = 14 + 50})},
      // (An IPv4 header cut short never gets this far: BPF_PROG_TEST_RUN refuses the frame.)
      {"IPv4 TCP header cut short", v4({.truncate_to = 14 + 20 + 12})},
      {"IPv4 total length beyond the packet", v4({.ip_length = 200})},
      {"IPv4 total length shorter than the header", v4({.ip_length = 16})},
      {"IPv4 total length that cuts the UDP header", v4({.proto = testlib::kUdp, .ip_length = 24})},
      {"IPv4 version 6 in an IPv4 frame", bad_version},
      {"IPv4 header length below 5 words", short_ihl},
      {"TCP data offset below 5 words", v4({.tcp_doff = 4})},
      {"a first fragment too short for the TCP header", v4({.l4 = tcp8, .more_fragments = true})},
      {"IPv6 destination options whose next header is missing",
       v6({.ipv6_ext = {testlib::kDestOpts}, .truncate_to = 14 + 40 + 8})},
      {"IPv6 extension header cut short",
       v6({.ipv6_ext = {testlib::kDestOpts}, .truncate_to = 14 + 40 + 4})},
      {"IPv6 with more extension headers than are walked",
       v6({.ipv6_ext = std::vector<uint8_t>(WD_IPV6_EXT_MAX + 1, testlib::kDestOpts)})},
      {"IPv6 payload length beyond the packet", v6({.ip_length = 400})},
      {"IPv6 TCP header cut short", v6({.truncate_to = 14 + 40 + 12})},
  };
}

TEST_F(BpfTest, MalformedIsDroppedInBothDirections) {
  LoadPod(All(), "x/a");
  dp_->PollEvents(0, [](const wd_event&) {}).IgnoreError();
  uint64_t n = 0;
  for (bool egress : {true, false}) {
    for (const auto& [what, pkt] : MalformedPackets(egress)) {
      EXPECT_EQ(egress ? Egress(pkt) : Ingress(pkt), 0u)
          << (egress ? "egress: " : "ingress: ") << what;
      ++n;
    }
  }
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_MALFORMED) +
                Counter(WD_HOOK_INGRESS, WD_REASON_DENY_MALFORMED),
            n);
  // Each one is an event of the pod, with the malformed reason.
  std::vector<wd_event> events;
  ASSERT_TRUE(dp_->PollEvents(100, [&](const wd_event& e) { events.push_back(e); }).ok());
  ASSERT_EQ(events.size(), n);
  for (const auto& e : events) {
    EXPECT_EQ(e.reason, WD_REASON_DENY_MALFORMED);
    EXPECT_EQ(e.verdict, WD_VERDICT_DENY);
    EXPECT_EQ(e.local_identity, snap_->pods.at("x/a").identity);
  }
  // The same packets well formed pass: x/a may reach y/c on any port.
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.2.10", kTcp, 40000, 80)), 1u);
  EXPECT_EQ(Egress(Ipv6Packet("fd00::a", "fd00::c", kTcp, 40000, 80, /*ext=*/true)), 1u);
  // Not malformed: an IPv6 packet with no next header, a later fragment (no ports to read:
  // judged on port 0), a first fragment that holds its whole TCP header.
  EXPECT_EQ(Egress(Packet({.src = "fd00::a",
                           .dst = "fd00::c",
                           .proto = testlib::kNoNextHeader,
                           .ipv6_ext = {testlib::kDestOpts}})),
            1u);
  EXPECT_EQ(Egress(Packet({.src = "10.244.1.10",
                           .dst = "10.244.2.10",
                           .proto = kUdp,
                           .l4 = std::vector<uint8_t>(16, 0),
                           .fragment_offset = 3})),
            1u);
  EXPECT_EQ(Egress(Packet({.src = "10.244.1.10",
                           .dst = "10.244.2.10",
                           .sport = 40001,
                           .dport = 80,
                           .more_fragments = true})),
            1u);
  EXPECT_EQ(Counter(WD_HOOK_EGRESS, WD_REASON_DENY_MALFORMED) +
                Counter(WD_HOOK_INGRESS, WD_REASON_DENY_MALFORMED),
            n);
}

TEST_F(BpfTest, EventsCarryReasonAddressesAndPorts) {
  LoadPod(All(), "x/a");
  ASSERT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 43000, 99)), 0u);
  std::vector<wd_event> events;
  auto st = dp_->PollEvents(100, [&](const wd_event& e) { events.push_back(e); });
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_EQ(events.size(), 1u);
  const wd_event& e = events[0];
  EXPECT_EQ(e.verdict, WD_VERDICT_DENY);
  EXPECT_EQ(e.reason, WD_REASON_DENY_POLICY);
  EXPECT_EQ(e.hook, WD_HOOK_EGRESS);
  EXPECT_EQ(e.direction, WD_DIR_EGRESS);
  EXPECT_EQ(e.protocol, kTcp);
  EXPECT_EQ(e.local_port, 43000);
  EXPECT_EQ(e.remote_port, 99);
  EXPECT_EQ(e.local_identity, snap_->pods.at("x/a").identity);
  EXPECT_EQ(e.remote_identity, snap_->pods.at("x/b").identity);
  char remote[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, e.remote_addr, remote, sizeof(remote));
  EXPECT_STREQ(remote, "10.244.1.11");
}

TEST_F(BpfTest, ApplyIsDoubleBufferedAndRejectsWhatDoesNotFit) {
  LoadPod(All(), "x/a");
  auto c1 = dp_->ReadConfig();
  ASSERT_TRUE(c1.ok());
  EXPECT_EQ(c1->configured, 1);
  LoadPod(All(), "x/a");
  auto c2 = dp_->ReadConfig();
  ASSERT_TRUE(c2.ok());
  EXPECT_NE(c1->active, c2->active);
  EXPECT_EQ(c2->generation, c1->generation + 1);
  auto live = dp_->ReadLiveTables();
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->policy.size(), tables_.policy.size());
  EXPECT_EQ(live->ipcache.size(), tables_.ipcache.size());
  EXPECT_EQ(live->endpoints.size(), 1u);
  for (const auto& [k, v] : tables_.policy) {
    auto it = live->policy.find(k);
    ASSERT_NE(it, live->policy.end());
    EXPECT_TRUE(datapath::SameBytes(it->second, v));
  }
  // Too many port sets: refused, and the live copy and its generation stay as they were.
  datapath::NodeTables huge = tables_;
  huge.portsets.resize(dp_->capacity().portsets + 1);
  auto st = dp_->Apply(huge, config_);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  auto c3 = dp_->ReadConfig();
  ASSERT_TRUE(c3.ok());
  EXPECT_EQ(c3->active, c2->active);
  EXPECT_EQ(c3->generation, c2->generation);
  EXPECT_EQ(Egress(Ipv4Packet("10.244.1.10", "10.244.1.11", kTcp, 44000, 80)), 1u);
}

// Updates told which policy keys changed write only those, into copies that lag one update
// behind: after any sequence, both copies must hold exactly what they were given.
TEST_F(BpfTest, HintedUpdatesKeepBothCopiesExact) {
  LoadPod(All(), "x/a");
  datapath::NodeTables t = tables_;
  auto key = [](uint32_t local, uint32_t remote) {
    wd_policy_key k{};
    k.local_identity = local;
    k.remote_identity = remote;
    k.direction = WD_DIR_EGRESS;
    return datapath::Raw<wd_policy_key>(k);
  };
  wd_policy_value v{};
  v.portset[WD_L4_TCP] = WD_PORTSET_ALL;
  auto expect_live = [&](const datapath::NodeTables& want, const char* step) {
    auto live = dp_->ReadLiveTables();
    ASSERT_TRUE(live.ok()) << live.status();
    EXPECT_TRUE(datapath::SameEntries(live->policy, want.policy)) << step;
    EXPECT_TRUE(datapath::SameEntries(live->ipcache, want.ipcache)) << step;
  };
  datapath::TableChanges none;
  none.known = true;
  none.ipcache = false;
  ASSERT_TRUE(dp_->Apply(t, config_, &none).ok());  // both copies now hold t
  expect_live(t, "same tables again");
  // Step 1 adds two entries, step 2 changes one and removes the other, step 3 changes nothing,
  // step 4 adds one back: each told only its own keys.
  std::vector<std::vector<std::pair<datapath::Raw<wd_policy_key>, int>>> steps = {
      {{key(900, 901), 1}, {key(900, 902), 1}},
      {{key(900, 901), 2}, {key(900, 902), 0}},
      {},
      {{key(900, 902), 1}}};
  int n = 0;
  for (const auto& step : steps) {
    datapath::TableChanges ch;
    ch.known = true;
    ch.ipcache = false;
    for (const auto& [k, op] : step) {
      ch.policy.push_back(k);
      if (op == 0) {
        t.policy.erase(k);
      } else {
        wd_policy_value w = v;
        w.portset[WD_L4_UDP] = op == 2 ? WD_PORTSET_ALL : WD_PORTSET_EMPTY;
        t.policy[k] = w;
      }
    }
    ASSERT_TRUE(dp_->Apply(t, config_, &ch).ok());
    expect_live(t, absl::StrCat("step ", ++n).c_str());
  }
  // An update without a hint compares everything, and the idle copy is right as well: a last
  // hinted update that changes nothing must leave exactly t live.
  ASSERT_TRUE(dp_->Apply(t, config_).ok());
  expect_live(t, "unhinted");
  ASSERT_TRUE(dp_->Apply(t, config_, &none).ok());
  expect_live(t, "after unhinted");
  ASSERT_TRUE(dp_->Apply(t, config_, &none).ok());
  expect_live(t, "hinted after unhinted");
}

}  // namespace
}  // namespace warden::testing
