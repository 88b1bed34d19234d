// Shared by the BPF tests: a datapath loaded under a bpffs directory of its own (removed after
// the test), a kubelet-like pod cgroup tree, and a snapshot compiled from YAML. These tests need
// root and BPF; without them they fail, they never skip.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agent/common/cgroup.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/node/tables_builder.h"
#include "agent/nodestate/from_snapshot.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/packets.h"
#include "tests/lib/scratch_cgroup.h"

namespace warden::testing {

using testlib::ArpPacket;
using testlib::Ipv4Packet;
using testlib::Ipv6Packet;

// Where the test's own process sits while it runs packets: BPF_PROG_TEST_RUN gives the packet a
// socket of the calling process's cgroup, so the fixture builds a kubelet-like tree
//   <cgroup2>/warden-test-<pid>/{host, kubepods/burstable/podtest/c1, kubepods/podg/c1}
// and moves itself into c1 (a pod's container) or host before running packets.
struct Scene {
  std::string local_pod;  // "ns/name" whose endpoint is podtest's cgroup; "" = unknown pod
  uint8_t pool = WD_POOL_DEFAULT;
  uint8_t unknown_pod = WD_UNKNOWN_POD_DENY;
  std::vector<policy::Allowance> allow;
  bool gateway = false;
  bool host = false;                        // run packets as a host process instead
  std::vector<std::string> node_addresses;  // this node's own addresses
  bool guaranteed = false;  // the pod sits at kubepods/podg (Guaranteed QoS) instead
  uint32_t ifindex = 0;     // the local pod's interface (wd_ifaces), 0 for none
  datapath::NodeConfig::Forwarder forwarder;  // the node forwarder (port 0: none)
};

// Node-pool allowances from their flag texts ("203.0.113.0/24:443/TCP"); a bad one fails the test.
inline std::vector<policy::Allowance> Allow(std::initializer_list<const char*> specs) {
  std::vector<policy::Allowance> out;
  for (const char* spec : specs) {
    auto a = policy::ParseAllowance(spec);
    EXPECT_TRUE(a.ok()) << spec << ": " << a.status();
    if (a.ok()) out.push_back(*a);
  }
  return out;
}

class BpfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u)
        << "this test loads BPF programs and moves cgroups: it must run as root";
    dir_ = "/sys/fs/bpf/warden-test/" + std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    datapath::BpfDatapath::Options opts;
    opts.bpffs_dir = dir_;
    auto dp = datapath::BpfDatapath::Open(opts);
    ASSERT_TRUE(dp.ok()) << dp.status();
    dp_ = std::move(*dp);

    auto cgroups = testlib::ScratchCgroup::Create("warden-test-" + std::to_string(getpid()));
    ASSERT_TRUE(cgroups.ok()) << cgroups.status();
    cgroups_ = std::move(*cgroups);
    host_cgroup_ = cgroups_.path() + "/host";
    ASSERT_TRUE(common::MakeCgroup(host_cgroup_).ok()) << host_cgroup_;
    auto kubelet = testlib::KubeletNode::Create(cgroups_.path());
    ASSERT_TRUE(kubelet.ok()) << kubelet.status();
    kubelet_ = std::move(*kubelet);
    auto burstable = kubelet_.AddPodWithContainer("test", "burstable");
    auto guaranteed = kubelet_.AddPodWithContainer("g", "guaranteed");
    ASSERT_TRUE(burstable.ok() && guaranteed.ok()) << burstable.status() << guaranteed.status();
    burstable_pod_ = *burstable;
    guaranteed_pod_ = *guaranteed;
  }

  void TearDown() override {
    if (attached_) {
      // Its links go; the maps it shares with dp_ go with dp_ below.
      for (const char* name : datapath::kProgramNames) unlink((dir_ + "/links/" + name).c_str());
      attached_.reset();
    }
    EXPECT_TRUE(cgroups_.Remove().ok());
    if (dp_) {
      EXPECT_TRUE(dp_->DetachAndUnpin().ok());
    }
    dp_.reset();
    // Whatever is left (maps pinned by a load that then failed): removed too.
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    rmdir("/sys/fs/bpf/warden-test");
  }

  void Load(const std::string& yaml, const Scene& s) {
    auto loaded = policy::LoadManifestTexts({{"test.yaml", yaml}});
    ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
    state_ = std::make_unique<policy::ClusterState>(std::move(loaded.state));
    snap_ = std::make_unique<policy::Snapshot>(policy::Compile(*state_).value());
    const testlib::PodCgroup& pod = s.guaranteed ? guaranteed_pod_ : burstable_pod_;
    // The pods of the YAML have no nodeName: they are the node "" state's pods.
    nodestate::NodeState ns = nodestate::ComputeNodeState(*state_, *snap_, "", {"", {}});
    for (auto& [key, p] : ns.pods.Mut()) p.gateway = s.gateway && key == s.local_pod;
    for (const auto& a : s.node_addresses) ns.node_addresses.push_back(*policy::ParseIp(a));
    std::vector<node::LocalPod> pods;
    if (!s.local_pod.empty()) pods.push_back({s.local_pod, pod.id, s.ifindex});
    tables_ = node::BuildNodeTables(ns, pods, s.allow);
    datapath::NodeConfig cfg = kubelet_.Config(s.pool, s.unknown_pod);
    cfg.forwarder = s.forwarder;
    config_ = cfg;
    auto st = dp_->Apply(tables_, cfg);
    ASSERT_TRUE(st.ok()) << st;
    std::string where = s.host ? host_cgroup_ : pod.container;
    ASSERT_TRUE(common::MoveToCgroup(where, getpid()).ok());
  }
  void LoadPod(const std::string& yaml, const std::string& local_pod) {
    Scene s;
    s.local_pod = local_pod;
    Load(yaml, s);
  }

  // Attaches the programs to the node's cgroup (the kubelet tree's root), for tests with real
  // sockets: a second datapath on the same pins, detached when the test ends.
  void AttachToNode() {
    datapath::BpfDatapath::Options opts;
    opts.bpffs_dir = dir_;
    opts.cgroup_path = kubelet_.root();
    auto dp = datapath::BpfDatapath::Open(opts);
    ASSERT_TRUE(dp.ok()) << dp.status();
    attached_ = std::move(*dp);
    auto st = attached_->Attach();
    ASSERT_TRUE(st.ok()) << st.status();
  }

  uint32_t Run(const char* prog, const std::vector<uint8_t>& pkt) {
    auto r = dp_->TestRun(prog, pkt);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : 99;
  }
  uint32_t Egress(const std::vector<uint8_t>& pkt) { return Run("wd_egress", pkt); }
  uint32_t Ingress(const std::vector<uint8_t>& pkt) { return Run("wd_ingress", pkt); }

  uint64_t Counter(uint8_t hook, uint8_t reason) {
    auto c = dp_->ReadCounters();
    EXPECT_TRUE(c.ok());
    return c.ok() ? (*c)[hook * WD_REASON_COUNT + reason] : 0;
  }

  std::string dir_;
  testlib::ScratchCgroup cgroups_;
  testlib::KubeletNode kubelet_;
  testlib::PodCgroup burstable_pod_, guaranteed_pod_;
  std::string host_cgroup_;
  std::unique_ptr<datapath::BpfDatapath> dp_;
  std::unique_ptr<datapath::BpfDatapath> attached_;  // AttachToNode()
  std::unique_ptr<policy::ClusterState> state_;
  std::unique_ptr<policy::Snapshot> snap_;
  datapath::NodeTables tables_;
  datapath::NodeConfig config_;
};

}  // namespace warden::testing
