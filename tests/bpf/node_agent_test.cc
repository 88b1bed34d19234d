// The node agent patches the tables in force in place for each update; when the kernel refuses
// an update (here: more port sets than ids can name), what the agent holds as "in force" must be
// put back exactly, so that the next update still produces exactly its own tables. Tables that
// outgrow their maps grow under traffic without a moment unenforced.
// Real programs and maps in the real kernel; needs root (fails, never skips, without it).
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"
#include "agent/control/control_plane.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/node/manifests_source.h"
#include "agent/node/node_agent.h"
#include "agent/node/tables_builder.h"
#include "agent/nodestate/from_snapshot.h"
#include "agent/nodestate/wire.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/metrics_endpoint.h"
#include "tests/lib/scratch_cgroup.h"
#include "tests/lib/scratch_dir.h"
#include "tests/lib/yaml_text.h"

namespace warden::node {
namespace {

constexpr char kCluster[] = R"(
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, uid: ua, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, uid: ub, labels: {app: b}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIP: 10.0.2.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-from-b, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  ingress:
  - from: [{podSelector: {matchLabels: {app: b}}}]
    ports: [{port: 8080}]
)";

// The live tables as ReadPinnedState gives them (port sets up to the highest one referenced)
// hold exactly `want`.
// Node n1's state, cut from the manifests `yaml` as warden control would.
nodestate::NodeState StateOfN1(const std::string& yaml) {
  auto loaded = policy::LoadManifestTexts({{"c.yaml", yaml}});
  EXPECT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
  policy::Snapshot snap = policy::Compile(loaded.state).value();
  return nodestate::ComputeNodeState(loaded.state, snap, "n1", {"", {}});
}

bool LiveHolds(const datapath::NodeTables& live, const datapath::NodeTables& want) {
  if (live.portsets.size() > want.portsets.size()) return false;
  for (size_t i = 0; i < live.portsets.size(); ++i) {
    if (!datapath::SameBytes(live.portsets[i], want.portsets[i])) return false;
  }
  return datapath::SameEntries(live.policy, want.policy) &&
         datapath::SameEntries(live.ipcache, want.ipcache) &&
         datapath::SameEntries(live.endpoints, want.endpoints) &&
         datapath::SameEntries(live.lockdown, want.lockdown);
}

// A source whose states the test hands the agent itself.
class OfferedHere : public DesiredStateSource {
 public:
  std::optional<nodestate::NodeState> Initial() override { return std::nullopt; }
  void Start(Enforce) override {}
  void AppendMetrics(const std::string&, std::string*) const override {}
};

class NodeAgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "this test loads BPF programs: it must run as root";
    auto cgroups = testlib::ScratchCgroup::Create("warden-agenttest-" + std::to_string(getpid()));
    ASSERT_TRUE(cgroups.ok()) << cgroups.status();
    cgroups_ = std::move(*cgroups);
    ASSERT_TRUE(testlib::KubeletNode::Create(cgroups_.path()).ok());
    bpffs_ = "/sys/fs/bpf/warden-agenttest-" + std::to_string(getpid());
  }
  void TearDown() override {
    agent_.reset();
    datapath::BpfDatapath::Options o;
    o.bpffs_dir = bpffs_;
    o.cgroup_path = cgroups_.path();
    if (auto dp = datapath::BpfDatapath::Open(o); dp.ok()) {
      EXPECT_TRUE((*dp)->DetachAndUnpin().ok());
    }
    std::error_code ec;
    std::filesystem::remove_all(bpffs_, ec);  // what a failed load or grow left
    EXPECT_TRUE(cgroups_.Remove().ok());
  }

  NodeAgentOptions Options() const {
    NodeAgentOptions opts;
    opts.node = "n1";
    opts.cgroup_root = cgroups_.path();
    opts.bpffs = bpffs_;
    opts.log_path = "/dev/null";
    return opts;
  }
  // An agent of node n1 reading `manifests` itself, started; `portsets`: how many port sets its
  // compiles may have (0: as many as the datapath holds).
  void StartFromManifests(const std::string& manifests, size_t portsets = 0) {
    nodestate::PipelineOptions po;
    po.manifests = manifests;
    if (portsets) po.limits.portsets = portsets;
    auto agent = NodeAgent::Create(Options(), std::make_unique<ManifestsSource>("n1", po));
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    ASSERT_TRUE(agent_->Start().ok());
  }

  // An agent of node n1 that is offered its states here (Enforce), as a source would; not
  // started. `metrics`: its /metrics and /ready address.
  void MakeOfferedAgent(const std::string& metrics = "") {
    NodeAgentOptions opts = Options();
    opts.metrics_address = metrics;
    auto agent = NodeAgent::Create(opts, std::make_unique<OfferedHere>());
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
  }
  // The tables the kernel reads now.
  datapath::NodeTables Live() const {
    auto st = datapath::ReadPinnedState(bpffs_);
    EXPECT_TRUE(st.ok()) << st.status();
    return st.ok() ? st->live : datapath::NodeTables{};
  }

  testlib::ScratchCgroup cgroups_;
  std::string bpffs_;
  std::unique_ptr<NodeAgent> agent_;
};

TEST_F(NodeAgentTest, AnUpdateTheKernelRefusesLeavesTheTablesInForceExactly) {
  nodestate::NodeState good = StateOfN1(kCluster);
  good.version = 1;
  ASSERT_EQ(good.policy.size(), 1u);
  const uint32_t local = good.policy.begin()->first;
  const auto first_key = good.policy.begin()->second->begin()->first;

  // Refused: one more entry in x/a's block, and more port sets than ids can name (those in use
  // plus WD_PORTSETS_MAX_ENTRIES new ones): no table can grow that far.
  nodestate::NodeState bad = good;
  bad.version = 2;
  wd_policy_value all{};
  for (auto& ps : all.portset) ps = WD_PORTSET_ALL;
  bad.policy[local].Mut()[{first_key.local, first_key.remote + 1, first_key.direction}] = all;
  for (int i = 0; i < WD_PORTSETS_MAX_ENTRIES; ++i) {
    bad.portsets.Mut().push_back(
        {{static_cast<uint16_t>(1000 + i), static_cast<uint16_t>(1000 + i)}});
  }
  // Then a good update that changes the same block in another way.
  nodestate::NodeState next = good;
  next.version = 3;
  next.policy[local].Mut()[first_key] = all;

  // Without Start(): the states are offered here, as a source would.
  ASSERT_NO_FATAL_FAILURE(MakeOfferedAgent());

  ASSERT_TRUE(agent_->Enforce(good).ok());
  const datapath::NodeTables want_good = BuildNodeTables(good, {}, good.allowances);
  ASSERT_TRUE(LiveHolds(Live(), want_good));
  ASSERT_FALSE(want_good.policy.empty());

  absl::Status refused = agent_->Enforce(bad);
  EXPECT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("portset entries"), std::string::npos) << refused.message();
  EXPECT_TRUE(LiveHolds(Live(), want_good)) << "a refused update changed the tables";
  EXPECT_EQ(agent_->stats().apply_errors.load(), 1u);

  ASSERT_TRUE(agent_->Enforce(next).ok());
  const datapath::NodeTables want_next = BuildNodeTables(next, {}, next.allowances);
  EXPECT_FALSE(datapath::SameTables(want_next, want_good));
  EXPECT_TRUE(LiveHolds(Live(), want_next))
      << "the refused update's entries leaked into the next one";
  // And back to the first state: both copies of the maps have been written since the failure.
  nodestate::NodeState again = good;
  again.version = 4;
  ASSERT_TRUE(agent_->Enforce(again).ok());
  EXPECT_TRUE(LiveHolds(Live(), want_good));
}

// A state that writes many entries (here 5,000 more pod addresses, as a first state from the
// control plane patching a saved one does) leaves the other copy of the maps in step too: the
// next update, however small, then writes only what it changes. A small change flips once.
TEST_F(NodeAgentTest, ALargeWriteLeavesBothCopiesInStepASmallOneFlipsOnce) {
  nodestate::NodeState first = StateOfN1(kCluster);
  first.version = 1;
  nodestate::NodeState second = first;  // pods elsewhere: more addresses, same entries
  second.version = 2;
  const uint32_t cidr_identity = second.ipcache->begin()->second.cidr_identity;
  for (int i = 0; i < 5000; ++i) {
    second.ipcache
        .Mut()[*policy::ParseCidr(absl::StrCat("10.250.", i / 250, ".", 1 + i % 250, "/32"))] =
        wd_ipcache_value{WD_ID_CLUSTER, cidr_identity, WD_ID_NONE};
  }
  nodestate::NodeState third = second;  // one pod more
  third.version = 3;
  third.ipcache.Mut()[*policy::ParseCidr("10.244.77.7/32")] =
      wd_ipcache_value{WD_ID_CLUSTER, cidr_identity, WD_ID_NONE};
  ASSERT_NO_FATAL_FAILURE(MakeOfferedAgent());
  int cfg_fd = bpf_obj_get((bpffs_ + "/wd_config").c_str());
  ASSERT_GE(cfg_fd, 0);
  auto config = [&] {
    uint32_t zero = 0;
    wd_config cfg{};
    EXPECT_EQ(bpf_map_lookup_elem(cfg_fd, &zero, &cfg), 0);
    return cfg;
  };
  ASSERT_TRUE(agent_->Enforce(first).ok());
  ASSERT_TRUE(agent_->Enforce(second).ok());
  const datapath::NodeTables want = BuildNodeTables(second, {}, second.allowances);
  ASSERT_TRUE(LiveHolds(Live(), want));
  // Make the other copy the live one, as the next update's flip would, and read it.
  wd_config cfg = config();
  const uint64_t generation = cfg.generation;
  cfg.active = !cfg.active;
  uint32_t zero = 0;
  ASSERT_EQ(bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY), 0);
  EXPECT_TRUE(LiveHolds(Live(), want)) << "the other copy is not in step";
  cfg.active = !cfg.active;
  ASSERT_EQ(bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY), 0);

  ASSERT_TRUE(agent_->Enforce(third).ok());
  EXPECT_EQ(config().generation, generation + 1) << "one address more: one flip, not two";
  EXPECT_TRUE(LiveHolds(Live(), BuildNodeTables(third, {}, third.allowances)));
  close(cfg_fd);
}

constexpr char kGatewayNode[] = R"(
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {cloud.google.com/gke-nodepool: gateway}}
)";

// The agent reading the manifests itself and the agent given the state the control plane cut
// decide the node's pool the same way: from the Node object's label, whatever --pool says (it
// holds only until the first state).
// /ready: 200 only with the programs attached and a desired state in force; before that 503 and
// why. A state refused later leaves the one in force, and the agent ready.
TEST_F(NodeAgentTest, ReadyOnlyWithTheProgramsAttachedAndAStateInForce) {
  ASSERT_NO_FATAL_FAILURE(MakeOfferedAgent("127.0.0.1:0"));
  std::string why;
  EXPECT_FALSE(agent_->Ready(&why));
  EXPECT_EQ(why, "not ready: the programs are not attached yet");
  ASSERT_TRUE(agent_->Start().ok());
  const uint16_t port = agent_->metrics_port();
  ASSERT_NE(port, 0);
  std::string ready = testlib::HttpGet(port, "/ready");
  EXPECT_NE(ready.find(" 503 "), std::string::npos) << ready;
  EXPECT_NE(ready.find("not ready: no desired state in force yet"), std::string::npos) << ready;
  std::string metrics = testlib::HttpGet(port, "/metrics");
  EXPECT_NE(metrics.find(" 200 "), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("warden_applies_total"), std::string::npos) << metrics;

  nodestate::NodeState good = StateOfN1(kCluster);
  good.version = 1;
  ASSERT_TRUE(agent_->Enforce(good).ok());
  EXPECT_TRUE(agent_->Ready(&why)) << why;
  ready = testlib::HttpGet(port, "/ready");
  EXPECT_NE(ready.find(" 200 "), std::string::npos) << ready;
  EXPECT_EQ(ready.substr(ready.size() - 6), "ready\n") << ready;

  nodestate::NodeState bad = good;  // more port sets than ids can name: refused
  bad.version = 2;
  for (int i = 0; i < WD_PORTSETS_MAX_ENTRIES + 1; ++i)
    bad.portsets.Mut().push_back(
        {{static_cast<uint16_t>(1000 + i), static_cast<uint16_t>(1000 + i)}});
  EXPECT_FALSE(agent_->Enforce(bad).ok());
  ready = testlib::HttpGet(port, "/ready");
  EXPECT_NE(ready.find(" 200 "), std::string::npos) << ready;
  EXPECT_EQ(testlib::HttpGet(port, "/nope").find(" 404 "), 8u);
}

// From the manifests, ready as soon as it has started; an earlier agent's tables, kept with no
// state of the new agent's own, are not a state in force.
TEST_F(NodeAgentTest, ReadyFromManifestsAtStartNotWithAnEarlierAgentsTablesAlone) {
  testlib::ScratchDir scratch(std::filesystem::temp_directory_path().string() +
                              "/warden-agenttest-manifests-" + std::to_string(getpid()));
  std::ofstream(scratch.path() + "/c.yaml") << kCluster;
  StartFromManifests(scratch.path());
  std::string why;
  EXPECT_TRUE(agent_->Ready(&why)) << why;

  agent_.reset();  // the tables stay in force; a new agent has no state of its own yet
  ASSERT_NO_FATAL_FAILURE(MakeOfferedAgent());
  ASSERT_TRUE(agent_->Start().ok());
  EXPECT_FALSE(agent_->Ready(&why));
  EXPECT_NE(why.find("no desired state in force yet"), std::string::npos) << why;
  ASSERT_TRUE(agent_->Enforce(StateOfN1(kCluster)).ok());
  EXPECT_TRUE(agent_->Ready(&why)) << why;
}

// An agent started again hands the forwarder its state and its pods' cgroups before it loads
// the programs (the verifier's seconds), so the forwarder serves meanwhile; nothing reaches the
// kernel until Start.
TEST_F(NodeAgentTest, PreviewHandsTheForwarderTheStateAndPodsBeforeAnythingLoads) {
  testlib::ScratchDir scratch(std::filesystem::temp_directory_path().string() +
                              "/warden-agenttest-manifests-" + std::to_string(getpid()));
  std::ofstream(scratch.path() + "/c.yaml") << kCluster;
  auto node = testlib::KubeletNode::Create(cgroups_.path());
  ASSERT_TRUE(node.ok()) << node.status();
  auto pod_a = node->AddPod("ua");
  ASSERT_TRUE(pod_a.ok()) << pod_a.status();
  NodeAgentOptions opts = Options();
  opts.load_in_start = true;
  int calls = 0;
  absl::flat_hash_map<uint64_t, std::string> seen;
  opts.on_applied = [&](const nodestate::NodeState& s,
                        const absl::flat_hash_map<uint64_t, std::string>& pods) {
    ++calls;
    EXPECT_NE(s.pods.find("x/a"), s.pods.end());
    seen = pods;
  };
  nodestate::PipelineOptions po;
  po.manifests = scratch.path();
  auto agent = NodeAgent::Create(opts, std::make_unique<ManifestsSource>("n1", po));
  ASSERT_TRUE(agent.ok()) << agent.status();
  agent_ = std::move(*agent);
  ASSERT_TRUE(agent_->Preview().ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, (absl::flat_hash_map<uint64_t, std::string>{{pod_a->id, "x/a"}}));
  // Nothing loaded, nothing pinned yet.
  EXPECT_FALSE(std::filesystem::exists(bpffs_ + "/wd_config"));
  std::string why;
  EXPECT_FALSE(agent_->Ready(&why));
  ASSERT_TRUE(agent_->Start().ok());
  EXPECT_TRUE(std::filesystem::exists(bpffs_ + "/wd_config"));
  EXPECT_TRUE(agent_->Ready(&why)) << why;
  EXPECT_EQ(calls, 2);  // the state put in force, as before
  EXPECT_EQ(seen, (absl::flat_hash_map<uint64_t, std::string>{{pod_a->id, "x/a"}}));
}

TEST_F(NodeAgentTest, BothSourcesTakeThePoolFromTheNodeLabel) {
  testlib::ScratchDir scratch(std::filesystem::temp_directory_path().string() +
                              "/warden-agenttest-manifests-" + std::to_string(getpid()));
  const std::string& manifests = scratch.path();
  std::ofstream(manifests + "/c.yaml") << kCluster << "---\n" << kGatewayNode;
  ASSERT_EQ(Options().pool, WD_POOL_DEFAULT);
  StartFromManifests(manifests);
  auto pinned = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->config.pool, WD_POOL_GATEWAY) << "manifests mode";

  // The control plane's cut of the same manifests, offered to a new agent on the same pins.
  agent_.reset();
  control::ControlPlaneOptions co;
  co.pipeline.manifests = manifests;
  control::ControlPlane cp(co);
  cp.Refresh(true);
  ASSERT_NO_FATAL_FAILURE(MakeOfferedAgent());
  ASSERT_TRUE(agent_->Enforce(*cp.Current("n1")).ok());
  pinned = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_EQ(pinned->config.pool, WD_POOL_GATEWAY) << "control mode";
}

// Manifests whose tables do not fit (more port sets than the compile may have: 100 here) never
// reach the datapath: the agent keeps the tables in force and counts the failed compile.
TEST_F(NodeAgentTest, ManifestsThatDoNotFitKeepTheTablesInForce) {
  testlib::ScratchDir scratch(std::filesystem::temp_directory_path().string() +
                              "/warden-agenttest-manifests-" + std::to_string(getpid()));
  const std::string& manifests = scratch.path();
  std::ofstream(manifests + "/c.yaml") << kCluster;
  StartFromManifests(manifests, /*portsets=*/100);
  auto before = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_FALSE(before->live.policy.empty());
  std::string many = testlib::EgressPortsPolicy("x", "many", "{}", 110, 2000);
  std::ofstream(manifests + "/many.yaml") << many;
  std::filesystem::last_write_time(
      manifests + "/many.yaml",
      std::filesystem::file_time_type::clock::now() + std::chrono::seconds(5));
  std::atomic<bool> stop{false};
  std::thread loop([&] { agent_->Run(stop); });
  const std::string counted = "warden_compile_errors_total{node=\"n1\"} 1";
  for (int i = 0; i < 100 && agent_->RenderMetrics().find(counted) == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  loop.join();
  EXPECT_NE(agent_->RenderMetrics().find(counted), std::string::npos);
  auto after = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->config.generation, before->config.generation);
  EXPECT_TRUE(LiveHolds(after->live, before->live));
}

// x/a on n1 may send UDP to port 80 of the pods labelled role=peer (p0..p<peers-1>, on n2),
// never to x/q.
std::string GrowthCluster(int peers) {
  std::string y = R"(
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, uid: ua, labels: {app: a}}
spec: {nodeName: n1, containers: [{name: c}]}
status: {podIP: 10.0.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: q, namespace: x, uid: uq, labels: {role: other}}
spec: {nodeName: n2, containers: [{name: c}]}
status: {podIP: 10.0.3.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: a-to-peers, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {role: peer}}}]
    ports: [{protocol: UDP, port: 80}]
)";
  for (int i = 0; i < peers; ++i) {
    y += "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p" + std::to_string(i) +
         ", namespace: x, uid: up" + std::to_string(i) + ", labels: {role: peer, id: p" +
         std::to_string(i) + "}}\nspec: {nodeName: n2, containers: [{name: c}]}\n" +
         "status: {podIP: 10.0.2." + std::to_string(i + 1) + "}\n";
  }
  return y;
}

nodestate::NodeState GrowthState(int peers, uint64_t version) {
  auto loaded = policy::LoadManifestTexts({{"c.yaml", GrowthCluster(peers)}});
  EXPECT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
  policy::Snapshot snap = policy::Compile(loaded.state).value();
  nodestate::NodeState s = nodestate::ComputeNodeState(loaded.state, snap, "n1", {"", {}});
  s.version = version;
  return s;
}

// What a pod's process saw while sending datagrams in a loop: how many rounds, how many
// verdicts were wrong (an allowed peer refused, x/q admitted), and the first round at which
// the peer only the grown state allows got through (-1: never).
struct Traffic {
  int rounds = 0, wrong = 0, late_peer_from = -1;
};

// A process of pod `container` in a network namespace of its own (no routes: a datagram the
// programs admit fails with ENETUNREACH after them, one they refuse with EPERM at sendmsg)
// sends to x/p0 (always allowed), x/q (never) and `late_peer` (allowed once the state says so)
// until the write end of `stop` is closed, then reports on `report`'s write end.
pid_t StartSender(const std::string& container, const std::string& late_peer, const int stop[2],
                  const int report[2]) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  close(stop[1]);
  close(report[0]);
  Traffic t;
  if (!common::MoveToCgroup(container, getpid()).ok() || unshare(CLONE_NEWNET) != 0) _exit(2);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  auto send_to = [&](const char* ip) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(80);
    inet_pton(AF_INET, ip, &a.sin_addr);
    if (sendto(s, "x", 1, 0, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 1) return true;
    return errno != EPERM;  // admitted by the programs, then unroutable
  };
  fcntl(stop[0], F_SETFL, O_NONBLOCK);
  char c;
  while (read(stop[0], &c, 1) < 0 && errno == EAGAIN) {
    if (!send_to("10.0.2.1")) ++t.wrong;
    if (send_to("10.0.3.1")) ++t.wrong;
    if (t.late_peer_from < 0 && send_to(late_peer.c_str())) t.late_peer_from = t.rounds;
    ++t.rounds;
  }
  _exit(write(report[1], &t, sizeof(t)) == sizeof(t) ? 0 : 3);
}

// A state that outgrows the tables (40 peers where the policy and address tables hold 4 and
// 8): the agent grows them (new, larger maps under the same links, pinned where the old ones
// were) and enforcement never stops: a pod's process sending all along sees every verdict
// right before, during and after, and the peer only the new state allows gets through.
TEST_F(NodeAgentTest, TablesGrowUnderTrafficWithoutAGap) {
  auto kubelet = testlib::KubeletNode::Create(cgroups_.path());
  ASSERT_TRUE(kubelet.ok()) << kubelet.status();
  auto pod = kubelet->AddPodWithContainer("ua");
  ASSERT_TRUE(pod.ok()) << pod.status();
  NodeAgentOptions o = Options();
  o.capacity.policy = 4;
  o.capacity.iphost = 8;
  auto agent = NodeAgent::Create(o, std::make_unique<OfferedHere>());
  ASSERT_TRUE(agent.ok()) << agent.status();
  agent_ = std::move(*agent);
  ASSERT_TRUE(agent_->Start().ok());
  ASSERT_TRUE(agent_->Enforce(GrowthState(2, 1)).ok());
  auto before = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_EQ(before->capacity.policy, 4u);

  int stop[2], report[2];
  ASSERT_EQ(pipe(stop), 0);
  ASSERT_EQ(pipe(report), 0);
  pid_t sender = StartSender(pod->container, "10.0.2.40", stop, report);
  ASSERT_GT(sender, 0);
  close(stop[0]);
  close(report[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  absl::Status grown = agent_->Enforce(GrowthState(40, 2));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  close(stop[1]);
  Traffic t;
  ssize_t got = read(report[0], &t, sizeof(t));
  close(report[0]);
  int status = 0;
  waitpid(sender, &status, 0);
  ASSERT_TRUE(grown.ok()) << grown;
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof(t))) << "the sender did not report";
  EXPECT_GT(t.rounds, 100) << "too few rounds to have sent across the growth";
  EXPECT_EQ(t.wrong, 0) << "verdicts were wrong while the tables grew";
  EXPECT_GT(t.late_peer_from, 0)
      << "the peer the grown state allows was never (or always) let through";

  auto after = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_GE(after->capacity.policy, 80u) << "the pinned policy map is not the grown one";
  EXPECT_GE(after->capacity.iphost, 84u);
  EXPECT_EQ(after->capacity.endpoints, before->capacity.endpoints) << "grew what fitted";
  EXPECT_EQ(after->live.policy.size(), 40u);
  EXPECT_NE(agent_->RenderMetrics().find("warden_table_grows_total{node=\"n1\"} 1"),
            std::string::npos);

  // The next agent adopts the grown maps at their size (libbpf reuses a pin only of the same
  // size), keeps what they hold, and applies the same state without growing again.
  agent_.reset();
  auto next = NodeAgent::Create(o, std::make_unique<OfferedHere>());
  ASSERT_TRUE(next.ok()) << next.status();
  agent_ = std::move(*next);
  ASSERT_TRUE(agent_->Start().ok());
  ASSERT_TRUE(agent_->Enforce(GrowthState(40, 3)).ok());
  auto again = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->capacity.policy, after->capacity.policy);
  EXPECT_EQ(again->live.policy.size(), 40u);
  EXPECT_NE(agent_->RenderMetrics().find("warden_table_grows_total{node=\"n1\"} 0"),
            std::string::npos);
}

// A cluster of 70,000 pods: more pod addresses than the address table held before tables grew
// (65,536), which failed the compile of every node. It compiles, its node state goes through the
// wire (a full update, as the control plane pushes it), and the agent applies it into real maps,
// growing the address table (to twice the need, a power of two) on the way.
TEST_F(NodeAgentTest, AClusterBeyondTheOldAddressTableIsCompiledPushedAndApplied) {
  constexpr int kPods = 70000;
  auto loaded = policy::LoadManifestTexts({{"c.yaml", GrowthCluster(1)}});
  ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
  policy::ClusterState state = std::move(loaded.state);
  auto& pods = state.pods.Mut();
  for (int i = 0; i < kPods; ++i) {
    policy::Pod p;
    p.ns = "ns" + std::to_string(i / 1000);
    p.name = "p" + std::to_string(i);
    p.uid = "u" + std::to_string(i);
    p.labels = {{"app", "a" + std::to_string(i % 10)}};
    p.node_name = "n2";
    p.ips = {*policy::ParseIp("10." + std::to_string(16 + i / 65536) + "." +
                              std::to_string((i >> 8) & 255) + "." + std::to_string(i & 255))};
    pods[p.Key()] = std::move(p);
  }
  state.Finalize();
  absl::StatusOr<policy::Snapshot> snap = policy::Compile(state);
  ASSERT_TRUE(snap.ok()) << snap.status();
  nodestate::NodeState computed = nodestate::ComputeNodeState(state, *snap, "n1", {"", {}});
  computed.version = 1;
  nodestate::NodeState pushed;
  ASSERT_TRUE(nodestate::ApplyUpdate(nodestate::FullUpdate(computed), &pushed).ok());
  ASSERT_GT(pushed.ipcache->size(), static_cast<size_t>(WD_IPHOST_MAX_ENTRIES));

  auto kubelet = testlib::KubeletNode::Create(cgroups_.path());
  ASSERT_TRUE(kubelet.ok()) << kubelet.status();
  ASSERT_TRUE(kubelet->AddPodWithContainer("ua").ok());
  ASSERT_NO_FATAL_FAILURE(MakeOfferedAgent());
  ASSERT_TRUE(agent_->Start().ok());
  absl::Status st = agent_->Enforce(pushed);
  ASSERT_TRUE(st.ok()) << st;

  auto live = datapath::ReadPinnedState(bpffs_);
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->capacity.iphost, 262144u) << "twice the need, a power of two";
  EXPECT_GT(live->live.ipcache.size(), static_cast<size_t>(kPods));
  // The last pod's address holds the identity the compile gave it.
  auto last = policy::ParseIp("10.17.17.111");  // pod 69999
  ASSERT_TRUE(last.ok());
  wd_ipcache_key k = policy::MakeIpcacheKey(policy::HostPrefix(*last));
  auto in_kernel = live->live.ipcache.find(k);
  ASSERT_NE(in_kernel, live->live.ipcache.end());
  bool found = false;
  for (const auto& [key, v] : snap->ipcache) {
    if (datapath::SameBytes(key, k)) {
      found = true;
      EXPECT_TRUE(datapath::SameBytes(v, in_kernel->second));
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace warden::node
