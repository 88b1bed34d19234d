// Shared by the BPF tests: a datapath loaded under a bpffs directory of its own (removed after
// the test), crafted packets, and a snapshot compiled from YAML. These tests need root and BPF;
// without them they fail, they never skip.
#pragma once

#include <arpa/inet.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <sys/stat.h>

#include "agent/common/cgroup.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/node/tables_builder.h"
#include "agent/nodestate/from_snapshot.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"

namespace warden::testing {

inline std::vector<uint8_t> Ipv4Packet(const std::string& src, const std::string& dst,
                                       uint8_t proto, uint16_t sport, uint16_t dport) {
  std::vector<uint8_t> p(14 + 20 + 20, 0);
  p[12] = 0x08;  // EtherType IPv4
  p[13] = 0x00;
  uint8_t* ip = &p[14];
  ip[0] = 0x45;
  uint16_t total = htons(static_cast<uint16_t>(p.size() - 14));
  memcpy(ip + 2, &total, 2);
  ip[8] = 64;
  ip[9] = proto;
  inet_pton(AF_INET, src.c_str(), ip + 12);
  inet_pton(AF_INET, dst.c_str(), ip + 16);
  uint8_t* l4 = ip + 20;
  uint16_t s = htons(sport), d = htons(dport);
  memcpy(l4, &s, 2);
  memcpy(l4 + 2, &d, 2);
  if (proto == 6) {
    l4[12] = 0x50;
    l4[13] = 0x02;  // SYN
  }
  return p;
}

inline std::vector<uint8_t> Ipv6Packet(const std::string& src, const std::string& dst,
                                       uint8_t proto, uint16_t sport, uint16_t dport,
                                       bool with_ext_header = false) {
  size_t ext = with_ext_header ? 8 : 0;
  std::vector<uint8_t> p(14 + 40 + ext + 20, 0);
  p[12] = 0x86;
  p[13] = 0xdd;
  uint8_t* ip = &p[14];
  ip[0] = 0x60;
  uint16_t len = htons(static_cast<uint16_t>(ext + 20));
  memcpy(ip + 4, &len, 2);
  ip[6] = with_ext_header ? 60 : proto;  // destination options header first
  ip[7] = 64;
  inet_pton(AF_INET6, src.c_str(), ip + 8);
  inet_pton(AF_INET6, dst.c_str(), ip + 24);
  uint8_t* l4 = ip + 40;
  if (with_ext_header) {
    l4[0] = proto;
    l4[1] = 0;  // 8 bytes
    l4 += 8;
  }
  uint16_t s = htons(sport), d = htons(dport);
  memcpy(l4, &s, 2);
  memcpy(l4 + 2, &d, 2);
  return p;
}

// Where the test's own process sits while it runs packets: BPF_PROG_TEST_RUN gives the packet a
// socket of the calling process's cgroup, so the fixture builds a kubelet-like tree
//   <cgroup2>/warden-test-<pid>/{host, kubepods/burstable/pod-test/c1}
// and moves itself into c1 (a pod's container) or host before running packets.
struct Scene {
  std::string local_pod;  // "ns/name" whose endpoint is pod-test's cgroup; "" = unknown pod
  uint8_t pool = WD_POOL_DEFAULT;
  uint8_t unknown_pod = WD_UNKNOWN_POD_DENY;
  std::vector<policy::Allowance> allow;
  bool gateway = false;
  bool host = false;                        // run packets as a host process instead
  std::vector<std::string> node_addresses;  // this node's own addresses
  bool guaranteed = false;  // the pod sits at kubepods/pod-g (Guaranteed QoS) instead
};

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

    auto mount = common::FindCgroup2Mount();
    ASSERT_TRUE(mount.ok()) << mount.status();
    auto home = common::CgroupOfProcess(0);
    ASSERT_TRUE(home.ok()) << home.status();
    home_cgroup_ = *home;
    cg_base_ = *mount + "/warden-test-" + std::to_string(getpid());
    for (const char* sub :
         {"", "/host", "/kubepods", "/kubepods/burstable", "/kubepods/burstable/pod-test",
          "/kubepods/burstable/pod-test/c1", "/kubepods/pod-g", "/kubepods/pod-g/c1"}) {
      ASSERT_EQ(mkdir((cg_base_ + sub).c_str(), 0755) == 0 || errno == EEXIST, true)
          << cg_base_ + sub;
    }
  }

  void TearDown() override {
    EXPECT_TRUE(common::MoveToCgroup(home_cgroup_, getpid()).ok());
    for (const char* sub :
         {"/kubepods/pod-g/c1", "/kubepods/pod-g", "/kubepods/burstable/pod-test/c1",
          "/kubepods/burstable/pod-test", "/kubepods/burstable", "/kubepods", "/host", ""}) {
      rmdir((cg_base_ + sub).c_str());
    }
    if (dp_) {
      EXPECT_TRUE(dp_->DetachAndUnpin().ok());
    }
    dp_.reset();
    rmdir("/sys/fs/bpf/warden-test");
  }

  void Load(const std::string& yaml, const Scene& s) {
    auto loaded = policy::LoadManifestTexts({{"test.yaml", yaml}});
    ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
    state_ = std::make_unique<policy::ClusterState>(std::move(loaded.state));
    snap_ = std::make_unique<policy::Snapshot>(policy::Compile(*state_).value());
    std::string pod_dir =
        cg_base_ + (s.guaranteed ? "/kubepods/pod-g" : "/kubepods/burstable/pod-test");
    auto pod_id = common::CgroupId(pod_dir);
    auto kubepods_id = common::CgroupId(cg_base_ + "/kubepods");
    auto kubepods_level = common::CgroupLevel(cg_base_ + "/kubepods");
    ASSERT_TRUE(pod_id.ok() && kubepods_id.ok() && kubepods_level.ok());
    // The pods of the YAML have no nodeName: they are the node "" state's pods.
    nodestate::NodeState ns = nodestate::ComputeNodeState(*state_, *snap_, "", {"", {}});
    for (auto& [key, p] : ns.pods.Mut()) p.gateway = s.gateway && key == s.local_pod;
    for (const auto& a : s.node_addresses) ns.node_addresses.push_back(*policy::ParseIp(a));
    std::vector<node::LocalPod> pods;
    if (!s.local_pod.empty()) pods.push_back({s.local_pod, *pod_id});
    tables_ = node::BuildNodeTables(ns, pods, s.allow);
    datapath::NodeConfig cfg;
    cfg.kubepods_cgroup_id = *kubepods_id;
    cfg.kubepods_level = *kubepods_level;
    cfg.pod_levels[0] = *kubepods_level + 2;  // Burstable, BestEffort: kubepods/<qos>/pod<uid>
    cfg.pod_levels[1] = *kubepods_level + 1;  // Guaranteed: kubepods/pod<uid>
    cfg.pool = s.pool;
    cfg.unknown_pod = s.unknown_pod;
    config_ = cfg;
    auto st = dp_->Apply(tables_, cfg);
    ASSERT_TRUE(st.ok()) << st;
    std::string where = s.host ? cg_base_ + "/host" : pod_dir + "/c1";
    ASSERT_TRUE(common::MoveToCgroup(where, getpid()).ok());
  }
  void LoadPod(const std::string& yaml, const std::string& local_pod) {
    Scene s;
    s.local_pod = local_pod;
    Load(yaml, s);
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
  std::string cg_base_, home_cgroup_;
  std::unique_ptr<datapath::BpfDatapath> dp_;
  std::unique_ptr<policy::ClusterState> state_;
  std::unique_ptr<policy::Snapshot> snap_;
  datapath::NodeTables tables_;
  datapath::NodeConfig config_;
};

}  // namespace warden::testing
