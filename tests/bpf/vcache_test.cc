// The per-CPU verdict cache (bpf/warden_vcache.h) admits a packet or a connect only from a slot
// that is whole, of the current generation and hashed with the current seed. Real programs
// attached to a real cgroup: a process in a pod's cgroup connects to an address of its own (on
// the loopback device of a network namespace of its own, but not a loopback address: those the
// programs always allow), while the test forges slots in the pinned wd_vcache map. The pod may not
// send anything (an egress policy with no rules), so every admitted connect came from a slot.
// Needs root (fails, never skips, without it).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "agent/common/cgroup.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/node/tables_builder.h"
#include "agent/nodestate/from_snapshot.h"
#include "agent/policy/allowance.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"
#include "bpf/warden_vcache.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/scratch_cgroup.h"

namespace warden::datapath {
namespace {

constexpr char kCluster[] = R"(
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, uid: ua, labels: {app: a}}
spec: {containers: [{name: c}]}
status: {podIP: 10.0.1.1}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: no-egress, namespace: x}
spec:
  podSelector: {matchLabels: {app: a}}
  policyTypes: [Egress]
)";

constexpr uint16_t kPort = 18080;
// The addresses the pod connects to: world addresses to the tables (not loopback, which the
// programs allow before any table), held by the loopback device of the pod's network namespace.
constexpr char kAddr4[] = "10.99.0.1";
constexpr char kAddr6[] = "fd00:99::1";

// in6_ifreq of <linux/ipv6.h>, which does not mix with <netinet/in.h>.
struct In6Ifreq {
  in6_addr addr;
  uint32_t prefixlen;
  int ifindex;
};

// In a child: joins `cgroup`, makes a network namespace with loopback up and kAddr4 and kAddr6 on
// it, listens on kAddr4:kPort (kAddr6 with `v6`) and connects to it. Returns 0 when the connect
// succeeded, else its errno.
int ConnectFromPod(const std::string& cgroup, bool v6 = false) {
  int p[2];
  if (pipe(p) != 0) return -1;
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    close(p[0]);
    int result = 1000;
    auto report = [&](int r) {
      ssize_t w = write(p[1], &r, sizeof(r));
      _exit(w == sizeof(r) ? 0 : 1);
    };
    if (!common::MoveToCgroup(cgroup, getpid()).ok()) report(1001);
    if (unshare(CLONE_NEWNET) != 0) report(1002);
    int ctl = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    if (ctl < 0 || ioctl(ctl, SIOCGIFFLAGS, &ifr) != 0) report(1003);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(ctl, SIOCSIFFLAGS, &ifr) != 0) report(1004);
    ifreq alias{};
    std::strcpy(alias.ifr_name, "lo:1");
    auto* a4 = reinterpret_cast<sockaddr_in*>(&alias.ifr_addr);
    a4->sin_family = AF_INET;
    inet_pton(AF_INET, kAddr4, &a4->sin_addr);
    if (ioctl(ctl, SIOCSIFADDR, &alias) != 0) report(1006);
    In6Ifreq a6{};
    inet_pton(AF_INET6, kAddr6, &a6.addr);
    a6.prefixlen = 128;
    a6.ifindex = static_cast<int>(if_nametoindex("lo"));
    int ctl6 = socket(AF_INET6, SOCK_DGRAM, 0);
    if (ctl6 < 0 || ioctl(ctl6, SIOCSIFADDR, &a6) != 0) report(1007);
    sockaddr_storage ss{};
    socklen_t len;
    if (v6) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(kPort);
      inet_pton(AF_INET6, kAddr6, &a->sin6_addr);
      len = sizeof(*a);
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(kPort);
      inet_pton(AF_INET, kAddr4, &a->sin_addr);
      len = sizeof(*a);
    }
    const int family = v6 ? AF_INET6 : AF_INET;
    int ls = socket(family, SOCK_STREAM, 0);
    int one = 1;
    if (v6) setsockopt(ls, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    // A new IPv6 address is tentative until the kernel's address work has run (no duplicate
    // address detection on loopback, but that work is asynchronous): bind fails until then.
    int bound = -1;
    for (int i = 0; ls >= 0 && i < 200 && bound != 0; ++i) {
      bound = bind(ls, reinterpret_cast<sockaddr*>(&ss), len);
      if (bound != 0) usleep(5000);
    }
    if (bound != 0 || listen(ls, 4) != 0) report(1005);
    int c = socket(family, SOCK_STREAM, 0);
    timeval tv{2, 0};
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    result = connect(c, reinterpret_cast<sockaddr*>(&ss), len) == 0 ? 0 : errno;
    report(result);
  }
  close(p[1]);
  int r = -1;
  if (read(p[0], &r, sizeof(r)) != sizeof(r)) r = -1;
  close(p[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return r;
}

class VcacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u)
        << "this test loads BPF programs and makes cgroups: it must run as root";
    auto cgroups = testlib::ScratchCgroup::Create("warden-vctest-" + std::to_string(getpid()));
    ASSERT_TRUE(cgroups.ok()) << cgroups.status();
    cgroups_ = std::move(*cgroups);
    auto kubelet = testlib::KubeletNode::Create(cgroups_.path());
    ASSERT_TRUE(kubelet.ok()) << kubelet.status();
    auto pod = kubelet->AddPodWithContainer("a", "burstable");
    ASSERT_TRUE(pod.ok()) << pod.status();
    container_ = pod->container;
    BpfDatapath::Options opts;
    opts.bpffs_dir = "/sys/fs/bpf/warden-vctest-" + std::to_string(getpid());
    opts.cgroup_path = cgroups_.path();
    auto dp = BpfDatapath::Open(opts);
    ASSERT_TRUE(dp.ok()) << dp.status();
    dp_ = std::move(*dp);

    auto loaded = policy::LoadManifestTexts({{"test.yaml", kCluster}});
    ASSERT_TRUE(loaded.errors.empty()) << loaded.errors[0].ToString();
    policy::Snapshot snap = policy::Compile(loaded.state).value();
    nodestate::NodeState ns = nodestate::ComputeNodeState(loaded.state, snap, "", {"", {}});
    // The pod's own addresses kAddr4 and kAddr6 are in no cluster range: to the datapath they
    // are world addresses, and the listener's replies to the client pass only where the node-pool
    // lockdown lets the pod reach the client (the lockdown comes before any reply shortcut).
    std::vector<policy::Allowance> own;
    for (const char* a : {"10.99.0.1/32", "fd00:99::1/128"})
      own.push_back(*policy::ParseAllowance(a));
    tables_ = node::BuildNodeTables(ns, {{"x/a", pod->id}}, own);
    config_ = kubelet->Config();
    ASSERT_TRUE(dp_->Apply(tables_, config_).ok());
    ASSERT_TRUE(dp_->Attach().ok());
  }
  void TearDown() override {
    if (dp_) {
      EXPECT_TRUE(dp_->DetachAndUnpin().ok());
    }
    dp_.reset();
    EXPECT_TRUE(cgroups_.Remove().ok());
  }

  // The key connect4 (connect6 with `v6`) builds for the container's connect to kAddr4:kPort
  // (kAddr6).
  wd_verdict_key Key(uint16_t port = kPort, bool v6 = false) {
    wd_verdict_key k{};
    auto id = common::CgroupId(container_);
    EXPECT_TRUE(id.ok());
    k.cgroup_id = id.ok() ? *id : 0;
    k.family = v6 ? WD_AF_INET6 : WD_AF_INET;
    k.protocol = IPPROTO_TCP;
    k.direction = WD_DIR_EGRESS;
    k.port = port;
    if (v6) {
      inet_pton(AF_INET6, kAddr6, k.remote_addr);
    } else {
      inet_pton(AF_INET, kAddr4, k.remote_addr);
    }
    return k;
  }
  wd_config Config() {
    auto c = dp_->ReadConfig();
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : wd_config{};
  }
  // Writes `slot` into index `idx` of every CPU's wd_vcache.
  void Put(uint32_t idx, const wd_vcache_slot& slot) {
    int n = libbpf_num_possible_cpus();
    ASSERT_GT(n, 0);
    std::vector<wd_vcache_slot> all(n, slot);
    ASSERT_EQ(bpf_map_update_elem(dp_->MapFd("wd_vcache"), &idx, all.data(), BPF_ANY), 0)
        << std::strerror(errno);
  }
  // A slot for `k` as the programs would write it, under `generation` and `seed`.
  static wd_vcache_slot Slot(const wd_verdict_key& k, uint32_t generation, uint32_t seed) {
    wd_vcache_slot s{};
    s.key = k;
    s.generation = generation;
    s.check = wd_vcache_check(wd_vcache_hash(&k, seed), generation);
    return s;
  }

  testlib::ScratchCgroup cgroups_;
  std::string container_;
  std::unique_ptr<BpfDatapath> dp_;
  NodeTables tables_;
  NodeConfig config_;
};

TEST_F(VcacheTest, OnlyWholeSlotsOfTheCurrentGenerationAdmit) {
  ASSERT_EQ(ConnectFromPod(container_), EPERM) << "the pod may not send anything";

  wd_config cfg = Config();
  const wd_verdict_key k = Key();
  const uint32_t idx = wd_vcache_index(wd_vcache_hash(&k, cfg.vcache_seed));

  // A whole slot of the current generation admits: the slot is what the programs trust.
  Put(idx, Slot(k, cfg.generation, cfg.vcache_seed));
  EXPECT_EQ(ConnectFromPod(container_), 0);

  // A slot whose check does not match its contents (as when a nested writer on the same CPU
  // left it half written) does not.
  wd_vcache_slot bad = Slot(k, cfg.generation, cfg.vcache_seed);
  bad.check ^= 1;
  Put(idx, bad);
  EXPECT_EQ(ConnectFromPod(container_), EPERM);

  // Torn: this key's words under another key's check.
  wd_verdict_key other = Key(kPort + 1);
  wd_vcache_slot torn = Slot(other, cfg.generation, cfg.vcache_seed);
  torn.key = k;
  Put(idx, torn);
  EXPECT_EQ(ConnectFromPod(container_), EPERM);

  // Of an earlier generation, or hashed with another seed.
  Put(idx, Slot(k, cfg.generation - 1, cfg.vcache_seed));
  EXPECT_EQ(ConnectFromPod(container_), EPERM);
  Put(idx, Slot(k, cfg.generation, cfg.vcache_seed + 1));
  EXPECT_EQ(ConnectFromPod(container_), EPERM);

  // Any update (a new generation, a new seed) retires every slot.
  Put(idx, Slot(k, cfg.generation, cfg.vcache_seed));
  ASSERT_EQ(ConnectFromPod(container_), 0);
  ASSERT_TRUE(dp_->Apply(tables_, config_).ok());
  wd_config next = Config();
  EXPECT_EQ(next.generation, cfg.generation + 1);
  EXPECT_EQ(ConnectFromPod(container_), EPERM);
}

// IPv6: connect6 and the packets of the connection (SYN, replies) use the 16-byte key; a slot
// admits exactly that key, and a slot of another address (fd00:99::2) does not.
TEST_F(VcacheTest, Ipv6KeysAreWholeAddresses) {
  ASSERT_EQ(ConnectFromPod(container_, true), EPERM) << "the pod may not send anything";
  wd_config cfg = Config();
  const wd_verdict_key k = Key(kPort, true);
  const uint32_t idx = wd_vcache_index(wd_vcache_hash(&k, cfg.vcache_seed));
  Put(idx, Slot(k, cfg.generation, cfg.vcache_seed));
  EXPECT_EQ(ConnectFromPod(container_, true), 0);
  // Another address: fd00:99::2 (the slot's key differs in the last byte) does not match
  // fd00:99::1.
  wd_verdict_key other = k;
  other.remote_addr[15] = 2;
  Put(idx, Slot(other, cfg.generation, cfg.vcache_seed));
  EXPECT_EQ(ConnectFromPod(container_, true), EPERM);
  // Even with the check this key would have (as two keys whose hashes collide would): the
  // stored key itself is compared, to its last byte.
  wd_vcache_slot collided = Slot(k, cfg.generation, cfg.vcache_seed);
  collided.key = other;
  Put(idx, collided);
  EXPECT_EQ(ConnectFromPod(container_, true), EPERM);
}

}  // namespace
}  // namespace warden::datapath
