// The node forwarder end to end, as root: real network namespaces (a node, two pods behind veths,
// an "internet"), a kubelet-like cgroup tree, the real `warden node` binary with its real BPF
// programs and --forwarder-listen, and two test TLS servers standing in for the egress gateways
// (on the gateway pods' addresses, each presenting its node's certificate, verifying the node's
// client certificate, reading the flow header with DecodeFlowHeader and echoing what follows).
//
//   internet (203.0.113.10, listening on 80) ── node (10.10.0.1; forwarder :15001; gateways
//                                              10.244.9.10 and .11 :15443 on its loopback)
//                                                ├── x/app    10.244.1.11 (may reach the gateway)
//                                                └── x/closed 10.244.1.12 (may reach nothing)
//
// One environment for the whole suite (the agent loads its programs once); the tests run in
// order, the last ones killing the gateways. Every check of "nothing got out" is made on the
// receiving side: the internet namespace records every packet it sees.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/common/netns.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/lab/lab_pki.h"
#include "agent/nodestate/flow_header.h"
#include "tests/e2e/capture.h"
#include "tests/lib/child_process.h"
#include "tests/lib/cleanup.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/scratch_cgroup.h"
#include "tests/lib/shell.h"
#include "tests/lib/test_gateway.h"

namespace warden::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using testlib::Seen;
using testlib::TestGateway;

constexpr char kNodeIp[] = "10.10.0.1";
constexpr char kInetIp[] = "10.10.0.254";
constexpr char kApp[] = "10.244.1.11";
constexpr char kClosed[] = "10.244.1.12";
constexpr char kWorld[] = "203.0.113.10";
constexpr char kGateway1[] = "10.244.9.10";
constexpr char kGateway2[] = "10.244.9.11";
constexpr uint16_t kGatewayPort = 15443;
constexpr uint16_t kForwarderPort = 15001;

std::string Manifests() {
  return R"(
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {cloud.google.com/gke-nodepool: default-pool}}
status: {addresses: [{type: InternalIP, address: 10.10.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: gw-1, labels: {cloud.google.com/gke-nodepool: gateway}}
---
apiVersion: v1
kind: Node
metadata: {name: gw-2, labels: {cloud.google.com/gke-nodepool: gateway}}
---
apiVersion: v1
kind: Namespace
metadata: {name: x}
---
apiVersion: v1
kind: Namespace
metadata: {name: warden-egress, labels: {role: egress}}
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: x, uid: uid-app, labels: {app: app}}
spec: {nodeName: node-a, serviceAccountName: app-sa}
status: {podIP: 10.244.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: closed, namespace: x, uid: uid-closed, labels: {app: closed}}
spec: {nodeName: node-a}
status: {podIP: 10.244.1.12}
---
apiVersion: v1
kind: Pod
metadata: {name: gateway-1, namespace: warden-egress, uid: uid-gw1, labels: {app: warden-gateway}}
spec:
  nodeName: gw-1
  containers: [{name: gateway, ports: [{name: mtls, containerPort: 15443}]}]
status: {podIP: 10.244.9.10}
---
apiVersion: v1
kind: Pod
metadata: {name: gateway-2, namespace: warden-egress, uid: uid-gw2, labels: {app: warden-gateway}}
spec:
  nodeName: gw-2
  containers: [{name: gateway, ports: [{name: mtls, containerPort: 15443}]}]
status: {podIP: 10.244.9.11}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: app, namespace: x}
spec:
  podSelector: {matchLabels: {app: app}}
  policyTypes: [Egress]
  egress:
  - to:
    - namespaceSelector: {matchLabels: {role: egress}}
      podSelector: {matchLabels: {app: warden-gateway}}
    ports: [{protocol: TCP, port: mtls}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: closed, namespace: x}
spec:
  podSelector: {matchLabels: {app: closed}}
  policyTypes: [Egress]
)";
}

// A pod's connection: what it saw.
struct PodResult {
  int connect_errno = -1;  // 0: connected
  bool peer_is_dst = false;
  bool echoed = false;  // what it sent came back whole, then the end of the stream
  bool cut = false;     // the connection ended with nothing read (reset or closed)
  long ms = 0;          // how long it all took
};

struct Env {
  std::string id, node_ns, app_ns, closed_ns, inet_ns, dir, bpffs, log;
  testlib::ScratchCgroup cgroups;
  testlib::KubeletNode kubelet;
  testlib::PodCgroup app, closed;
  pid_t agent = -1;
  std::unique_ptr<TestGateway> gw1, gw2;
  testlib::Cleanup cleanup;
};

Env* env = nullptr;

class ForwarderE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(geteuid(), 0u) << "this test makes network namespaces and loads BPF: run as root";
    env = new Env();
    Env& e = *env;
    e.id = std::to_string(getpid() % 100000);
    e.node_ns = "wfn" + e.id;
    e.app_ns = "wfa" + e.id;
    e.closed_ns = "wfc" + e.id;
    e.inet_ns = "wfi" + e.id;
    e.dir = "/tmp/warden-fwd-e2e-" + e.id;
    e.bpffs = "/sys/fs/bpf/warden-fwd-e2e-" + e.id;
    e.log = e.dir + "/verdicts.jsonl";
    std::filesystem::create_directories(e.dir + "/manifests");
    e.cleanup.Add("scratch dir", [d = e.dir] { std::filesystem::remove_all(d); });
    for (const std::string& ns : {e.node_ns, e.app_ns, e.closed_ns, e.inet_ns}) {
      testlib::MustSh("ip netns add " + ns + " && ip -n " + ns + " link set lo up");
      e.cleanup.Add("netns " + ns, [ns] { testlib::Sh("ip netns del " + ns); });
    }
    const std::string n = "ip -n " + e.node_ns + " ";
    const std::string i = "ip -n " + e.inet_ns + " ";
    // node <-> internet
    testlib::MustSh("ip link add wfni" + e.id + " netns " + e.node_ns +
                    " type veth peer name wfin" + e.id + " netns " + e.inet_ns);
    testlib::MustSh(n + "addr add " + kNodeIp + "/24 dev wfni" + e.id + " && " + n +
                    "link set wfni" + e.id + " up && " + i + "addr add " + kInetIp +
                    "/24 dev wfin" + e.id + " && " + i + "link set wfin" + e.id + " up && " + i +
                    "addr add " + kWorld + "/32 dev lo && " + n + "route add default via " +
                    kInetIp + " && " + i + "route add 10.244.0.0/16 via " + kNodeIp +
                    " && ip netns exec " + e.node_ns + " sysctl -qw net.ipv4.ip_forward=1");
    // The gateways' addresses live on the node's loopback (the test servers listen there).
    testlib::MustSh(n + "addr add " + kGateway1 + "/32 dev lo && " + n + "addr add " + kGateway2 +
                    "/32 dev lo");
    // Pods behind veths, as the lab makes them.
    for (auto [ns, ip, dev] : {std::tuple{e.app_ns, kApp, "wfpa" + e.id},
                               std::tuple{e.closed_ns, kClosed, "wfpc" + e.id}}) {
      const std::string p = "ip -n " + ns + " ";
      testlib::MustSh("ip link add " + dev + " netns " + e.node_ns +
                      " type veth peer name eth0 netns " + ns);
      testlib::MustSh(p + "addr add " + ip + "/32 dev eth0 && " + p + "link set eth0 up && " + p +
                      "route add 169.254.1.1 dev eth0 scope link && " + p +
                      "route add default via 169.254.1.1 dev eth0 && " + n + "link set " + dev +
                      " up && ip netns exec " + e.node_ns + " sysctl -qw net.ipv4.conf." + dev +
                      ".proxy_arp=1 && " + n + "route add " + ip + "/32 dev " + dev + " src " +
                      kNodeIp);
    }
    auto cg = testlib::ScratchCgroup::Create("warden-fwd-e2e-" + e.id);
    ASSERT_TRUE(cg.ok()) << cg.status();
    e.cgroups = std::move(*cg);
    auto kubelet = testlib::KubeletNode::Create(e.cgroups.path() + "/node-a");
    ASSERT_TRUE(kubelet.ok()) << kubelet.status();
    e.kubelet = std::move(*kubelet);
    auto app = e.kubelet.AddPodWithContainer("uid-app");
    auto closed = e.kubelet.AddPodWithContainer("uid-closed");
    ASSERT_TRUE(app.ok() && closed.ok());
    e.app = *app;
    e.closed = *closed;
    e.cleanup.Add("cgroups", [] { (void)env->cgroups.Remove(); });
    // The PKI: the node's client certificate, each gateway node's server certificate.
    ASSERT_TRUE(lab::MakePki(e.dir + "/pki", {{"node-a", ""}, {"gw-1", ""}, {"gw-2", ""}}).ok());
    std::ofstream(e.dir + "/manifests/cluster.yaml") << Manifests();
    e.gw1 =
        std::make_unique<TestGateway>(e.node_ns, kGateway1, kGatewayPort, "gw-1", e.dir + "/pki");
    e.gw2 =
        std::make_unique<TestGateway>(e.node_ns, kGateway2, kGatewayPort, "gw-2", e.dir + "/pki");
    const std::string pki = e.dir + "/pki";
    e.agent = testlib::Spawn({std::string(WARDEN_BINARY_DIR) + "/bin/warden",
                              "node",
                              "--node",
                              "node-a",
                              "--netns",
                              e.node_ns,
                              "--manifests",
                              e.dir + "/manifests",
                              "--cgroup-root",
                              e.kubelet.root(),
                              "--bpffs",
                              e.bpffs,
                              "--log",
                              e.log,
                              "--forwarder-listen",
                              std::string(kNodeIp) + ":" + std::to_string(kForwarderPort),
                              "--tls-cert",
                              lab::CertPath(pki, "node-a"),
                              "--tls-key",
                              lab::KeyPath(pki, "node-a"),
                              "--tls-ca",
                              lab::CaPath(pki),
                              "--forwarder-connect-timeout-ms",
                              "500"},
                             e.dir + "/agent.log");
    e.cleanup.Add("pins", [b = e.bpffs] {
      auto dp = datapath::BpfDatapath::Open({b, "", {}});
      if (dp.ok()) (void)(*dp)->DetachAndUnpin();
      std::filesystem::remove_all(b);
    });
    e.cleanup.Add("agent", [] { testlib::EndChild(env->agent); });
    // In force: the programs attached and the forwarder's configuration written.
    bool ready = false;
    for (auto start = Clock::now(); Clock::now() - start < std::chrono::seconds(60);) {
      auto ps = datapath::ReadPinnedState(e.bpffs);
      if (ps.ok() && ps->config.configured && ps->config.fwd_port == kForwarderPort &&
          ps->config.gw_family == WD_AF_INET && !ps->links.empty() && ps->links.back().link_id &&
          ps->live.ifaces.size() == 2) {
        ready = true;
        break;
      }
      ASSERT_FALSE(testlib::Exited(e.agent)) << testlib::LogTail(e.dir + "/agent.log", 20);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    ASSERT_TRUE(ready) << "the agent did not put the forwarder in place:\n"
                       << testlib::LogTail(e.dir + "/agent.log", 20);
  }

  static void TearDownTestSuite() {
    if (!env) return;
    env->gw1.reset();
    env->gw2.reset();
    env->cleanup.RunAll();
    delete env;
    env = nullptr;
  }

  // Process of pod `pod` (its container cgroup, its netns) connects to dst:port, sends
  // `payload`, half-closes, and reads until the end of the stream.
  static PodResult PodExchange(const testlib::PodCgroup& pod, const std::string& netns,
                               const char* dst, uint16_t port, const std::string& payload) {
    PodResult r;
    auto start = Clock::now();
    int code = testlib::RunInChild(pod.container, netns, [&] {
      int c = socket(AF_INET, SOCK_STREAM, 0);
      timeval tv{5, 0};
      setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
      setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(port);
      inet_pton(AF_INET, dst, &a.sin_addr);
      if (connect(c, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) return 1000 + errno;
      int flags = 0;
      sockaddr_in peer{};
      socklen_t len = sizeof(peer);
      if (getpeername(c, reinterpret_cast<sockaddr*>(&peer), &len) == 0 &&
          peer.sin_addr.s_addr == a.sin_addr.s_addr && peer.sin_port == a.sin_port)
        flags |= 1;
      if (send(c, payload.data(), payload.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(payload.size()))
        return flags | 4;
      shutdown(c, SHUT_WR);  // half-close: the answer must still come
      std::string got;
      char b[4096];
      ssize_t n;
      while ((n = read(c, b, sizeof(b))) > 0) got.append(b, static_cast<size_t>(n));
      if (n == 0 && got == payload) flags |= 2;
      // Cut: nothing came back and the stream ended (a reset or an end), not a time-out.
      if (got.empty() && (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))) flags |= 4;
      return flags;
    });
    r.ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
    r.connect_errno = code >= 1000 ? code - 1000 : (code < 0 ? -1 : 0);
    if (code >= 0 && code < 1000) {
      r.peer_is_dst = code & 1;
      r.echoed = code & 2;
      r.cut = code & 4;
    }
    return r;
  }
  static PodResult App(const char* dst, uint16_t port, const std::string& payload) {
    return PodExchange(env->app, env->app_ns, dst, port, payload);
  }
  static size_t Flows() { return env->gw1->seen().size() + env->gw2->seen().size(); }

  // The verdict log's lines of the forwarder.
  static std::vector<nlohmann::json> ForwarderLines() {
    std::vector<nlohmann::json> out;
    std::ifstream in(env->log);
    std::string line;
    while (std::getline(in, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.value("hook", "") == "forwarder") out.push_back(j);
    }
    return out;
  }
};

TEST_F(ForwarderE2e, InspectShowsTheForwarderAndItsPrograms) {
  auto j = nlohmann::json::parse(
      testlib::ShOut(std::string(WARDEN_BINARY_DIR) + "/bin/warden inspect --output json --bpffs " +
                     env->bpffs),
      nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["config"]["forwarder"]["listen"], "10.10.0.1:15001");
  EXPECT_EQ(j["config"]["forwarder"]["gateway"], "10.244.9.10:15443") << "the first gateway";
  EXPECT_EQ(j["config"]["forwarder"]["world_ports"], nlohmann::json({80, 443}));
  std::set<std::string> attached;
  for (const auto& a : j["attach"])
    if (a["attached"].get<bool>()) attached.insert(a["program"].get<std::string>());
  EXPECT_TRUE(attached.count("wd_sockops") && attached.count("wd_getpeername4"));
}

TEST_F(ForwarderE2e, AWorldBoundConnectReachesAGatewayWithItsFlowHeader) {
  PodResult r = App(kWorld, 80, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(r.connect_errno, 0);
  EXPECT_TRUE(r.peer_is_dst) << "getpeername in the pod must show 203.0.113.10:80";
  EXPECT_TRUE(r.echoed) << "the bytes must come back, then the end of the stream (half-close)";
  std::vector<Seen> seen = env->gw1->seen();
  for (const Seen& s : env->gw2->seen()) seen.push_back(s);
  ASSERT_EQ(seen.size(), 1u);
  const nodestate::Flow& f = seen[0].flow;
  EXPECT_EQ(f.ns, "x");
  EXPECT_EQ(f.pod, "app");
  EXPECT_EQ(f.service_account, "app-sa");
  EXPECT_NE(f.identity, 0u);
  EXPECT_EQ(f.original_ip.ToString(), kWorld);
  EXPECT_EQ(f.original_port, 80);
  EXPECT_NE(f.flow_id, 0u);
  EXPECT_TRUE(seen[0].client_is_node_a) << "the forwarder must present the node's certificate";
  // Port 443 too.
  EXPECT_TRUE(App(kWorld, 443, "\x16\x03\x01 hello").echoed);
  EXPECT_EQ(Flows(), 2u);
}

TEST_F(ForwarderE2e, FlowsSpreadOverTheGatewaysAndResumeTls) {
  const size_t before = Flows();
  for (int k = 0; k < 6; ++k) EXPECT_TRUE(App(kWorld, 80, "flow " + std::to_string(k)).echoed);
  EXPECT_EQ(Flows(), before + 6);
  for (TestGateway* g : {env->gw1.get(), env->gw2.get()}) {
    std::vector<Seen> seen = g->seen();
    ASSERT_GE(seen.size(), 2u) << "flows must spread over both gateways";
    int resumed = 0;
    for (size_t k = 1; k < seen.size(); ++k) resumed += seen[k].resumed;
    EXPECT_GE(resumed, 1) << "later connections to a gateway must resume a TLS session";
    EXPECT_FALSE(seen[0].resumed);
  }
}

TEST_F(ForwarderE2e, APodWhosePolicyRefusesTheGatewayGetsEperm) {
  const size_t before = Flows();
  PodResult r = PodExchange(env->closed, env->closed_ns, kWorld, 80, "x");
  EXPECT_EQ(r.connect_errno, EPERM);
  EXPECT_EQ(App(kWorld, 8080, "x").connect_errno, EPERM) << "not a gateway port";
  EXPECT_EQ(Flows(), before);
}

TEST_F(ForwarderE2e, AConnectionStraightToTheForwarderGetsNothingForwarded) {
  const size_t before = Flows();
  for (auto [pod, ns] :
       {std::pair{&env->app, env->app_ns}, std::pair{&env->closed, env->closed_ns}}) {
    PodResult r = PodExchange(*pod, ns, kNodeIp, kForwarderPort, "GET / HTTP/1.1\r\n\r\n");
    EXPECT_FALSE(r.echoed);
    EXPECT_TRUE(r.connect_errno != 0 || r.cut) << "connect " << r.connect_errno;
  }
  EXPECT_EQ(Flows(), before);
  int no_record = 0;
  for (const auto& j : ForwarderLines()) no_record += j.value("reason", "") == "no-record";
  EXPECT_GE(no_record, 2);
}

TEST_F(ForwarderE2e, AttacksFromInsideThePodReachNothingOutside) {
  Capture inet(env->inet_ns);
  const std::string bin = WARDEN_ATTACK_BIN;
  const std::string marker = "fwd-attack-" + env->id;
  // As root with every capability (NET_RAW and NET_ADMIN included) inside x/app.
  const std::vector<std::vector<std::string>> attacks = {
      {"frame", "src=" + std::string(kApp), "dst=" + std::string(kWorld), "proto=tcp",
       "sport=40000", "dport=80", "marker=" + marker},
      {"frame", "src=" + std::string(kApp), "dst=" + std::string(kWorld), "proto=tcp",
       "sport=40001", "dport=443", "marker=" + marker, "bypass=1"},
      {"hdrincl", "src=" + std::string(kApp), "dst=" + std::string(kWorld), "kind=udp",
       "marker=" + marker},
      {"udp", "dst=" + std::string(kWorld), "dport=80", "marker=" + marker},
      {"raw", "dst=" + std::string(kWorld), "marker=" + marker},
      {"tcp", "dst=" + std::string(kWorld), "dport=8443"},
      // The redirect itself: it reaches a gateway, never the world.
      {"tcp", "dst=" + std::string(kWorld), "dport=80", "marker=" + marker},
  };
  for (const auto& a : attacks) {
    int rc = testlib::RunInChild(env->app.container, env->app_ns, [&] {
      std::vector<char*> argv{const_cast<char*>(bin.c_str())};
      for (const auto& s : a) argv.push_back(const_cast<char*>(s.c_str()));
      argv.push_back(nullptr);
      pid_t p = fork();
      if (p == 0) {
        execv(bin.c_str(), argv.data());
        _exit(127);
      }
      int status = 0;
      waitpid(p, &status, 0);
      return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
    });
    EXPECT_NE(rc, 127) << a[0];
  }
  std::vector<SeenPacket> seen = inet.Stop();
  EXPECT_EQ(Matching(seen,
                     [&](const SeenPacket& p) {
                       return p.Contains(marker) || p.dst == kWorld || p.src == kApp;
                     }),
            "")
      << "the internet must see nothing of the pod";
}

TEST_F(ForwarderE2e, FlowsFailOverWhenAGatewayDies) {
  env->gw1->Kill();
  const size_t gw2_before = env->gw2->seen().size();
  for (int k = 0; k < 4; ++k)
    EXPECT_TRUE(App(kWorld, 80, "after the kill " + std::to_string(k)).echoed) << k;
  EXPECT_EQ(env->gw2->seen().size(), gw2_before + 4);
}

TEST_F(ForwarderE2e, WithNoGatewayTheConnectionFailsAtOnce) {
  env->gw2->Kill();
  PodResult r = App(kWorld, 80, "nobody home");
  EXPECT_FALSE(r.echoed);
  EXPECT_TRUE(r.connect_errno != 0 || r.cut);
  EXPECT_LT(r.ms, 1500) << "a refused gateway is known at once; the pod must not wait";
  bool logged = false;
  for (const auto& j : ForwarderLines()) logged |= j.value("reason", "") == "no-gateway";
  EXPECT_TRUE(logged);
}

TEST_F(ForwarderE2e, EveryFlowHasAVerdictLogLine) {
  int forwarded = 0;
  for (const auto& j : ForwarderLines()) {
    if (j.value("verdict", "") != "allow") continue;
    ++forwarded;
    EXPECT_EQ(j.value("namespace", ""), "x");
    EXPECT_EQ(j.value("pod", ""), "app");
    EXPECT_EQ(j.value("dst", ""), kWorld);
    EXPECT_FALSE(j.value("gateway", "").empty());
  }
  EXPECT_GE(forwarded, 12);
}

}  // namespace
}  // namespace warden::e2e
