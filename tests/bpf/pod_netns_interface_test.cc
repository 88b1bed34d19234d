// A pod behind a bridge (flannel, the bridge plugin): no host route names its interface, and the
// agent finds the node end of its veth from inside the pod's network namespace
// (pod_netns_interface.h). Real namespaces, a real bridge and veth, a real process in a pod
// cgroup. Needs root (fails, never skips, without it).
#include "agent/node/pod_netns_interface.h"

#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "agent/common/cgroup.h"
#include "agent/common/netns.h"
#include "agent/node/pod_interfaces.h"
#include "tests/lib/child_process.h"
#include "tests/lib/scratch_cgroup.h"
#include "tests/lib/shell.h"

namespace warden::node {
namespace {

policy::IpAddress Ip(const char* text) { return *policy::ParseIp(text); }

// A node namespace with a bridge, the pod's veth plugged into it and the pod CIDR routed to the
// bridge (as the bridge CNI plugin sets it up), and a pod namespace with the other end as eth0.
class PodBehindBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(geteuid(), 0u) << "needs root (network namespaces, cgroups)";
    std::string id = std::to_string(getpid());
    node_ = "wdt-node-" + id;
    pod_ = "wdt-pod-" + id;
    testlib::MustSh("ip netns add " + node_ + " && ip netns add " + pod_);
    testlib::MustSh("ip -n " + node_ + " link add cni0 type bridge && ip -n " + node_ +
                    " link set cni0 up && ip -n " + node_ + " addr add 10.244.7.1/24 dev cni0");
    testlib::MustSh("ip -n " + node_ + " link add veth7 type veth peer name eth0 netns " + pod_ +
                    " && ip -n " + node_ + " link set veth7 master cni0 up");
    testlib::MustSh("ip -n " + pod_ + " addr add 10.244.7.5/24 dev eth0 && ip -n " + pod_ +
                    " addr add fd00:7::5/64 dev eth0 nodad && ip -n " + pod_ +
                    " link set eth0 up && ip -n " + pod_ + " link set lo up");
    auto cg = testlib::ScratchCgroup::Create("wdt-podns-" + id);
    ASSERT_TRUE(cg.ok()) << cg.status();
    cgroup_ = std::move(*cg);
  }
  void TearDown() override {
    if (process_ > 0) {
      kill(process_, SIGKILL);
      waitpid(process_, nullptr, 0);
    }
    EXPECT_TRUE(cgroup_.Remove().ok());
    testlib::Sh("ip netns del " + pod_ + " 2>/dev/null; ip netns del " + node_ + " 2>/dev/null");
  }

  // A process of the pod: in its cgroup and its network namespace, until killed.
  void StartPodProcess() {
    process_ = testlib::StartParked([&] {
      return common::MoveToCgroup(cgroup_.path(), getpid()).ok() && common::EnterNetns(pod_).ok();
    });
    ASSERT_GT(process_, 0);
  }

  // Runs `f` on a thread in the node's namespace (setns moves only the calling thread).
  template <typename F>
  void OnNode(F f) {
    std::thread t([&] {
      ASSERT_TRUE(common::EnterNetns(node_).ok());
      f();
    });
    t.join();
  }

  std::string node_, pod_;
  testlib::ScratchCgroup cgroup_;
  pid_t process_ = -1;
};

TEST_F(PodBehindBridgeTest, TheNodeEndOfThePodsVethIsFoundFromInsideThePod) {
  StartPodProcess();
  OnNode([&] {
    uint32_t veth = if_nametoindex("veth7");
    ASSERT_NE(veth, 0u);
    // No host route names it: the pod CIDR goes to the bridge.
    EXPECT_EQ(PodInterface(ReadHostRoutes(), {Ip("10.244.7.5")}), 0u);
    absl::StatusOr<uint32_t> found = PodInterfaceFromNetns(cgroup_.path(), {Ip("10.244.7.5")});
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_EQ(*found, veth);
    found = PodInterfaceFromNetns(cgroup_.path(), {Ip("fd00:7::5")});
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_EQ(*found, veth);
    // An address the pod does not hold: no interface.
    found = PodInterfaceFromNetns(cgroup_.path(), {Ip("10.244.7.6")});
    EXPECT_TRUE(absl::IsNotFound(found.status())) << found.status();
  });
}

// A pod with NET_ADMIN puts its address on a device of its own as well (a veth pair inside the
// pod): only a veth whose other end is outside the pod counts.
TEST_F(PodBehindBridgeTest, DevicesInsideThePodAreNotTakenForItsInterface) {
  testlib::MustSh("ip -n " + pod_ + " link add in0 type veth peer name in1 && ip -n " + pod_ +
                  " addr add 10.244.7.5/32 dev in0 && ip -n " + pod_ + " link set in0 up");
  StartPodProcess();
  OnNode([&] {
    absl::StatusOr<uint32_t> found = PodInterfaceFromNetns(cgroup_.path(), {Ip("10.244.7.5")});
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_EQ(*found, if_nametoindex("veth7"));
  });
  // Without the real interface's address, nothing is found.
  testlib::MustSh("ip -n " + pod_ + " addr del 10.244.7.5/24 dev eth0");
  OnNode([&] { EXPECT_FALSE(PodInterfaceFromNetns(cgroup_.path(), {Ip("10.244.7.5")}).ok()); });
}

TEST_F(PodBehindBridgeTest, APodWithoutProcessesHasNoInterface) {
  OnNode([&] {
    absl::StatusOr<uint32_t> found = PodInterfaceFromNetns(cgroup_.path(), {Ip("10.244.7.5")});
    EXPECT_TRUE(absl::IsNotFound(found.status())) << found.status();
  });
}

}  // namespace
}  // namespace warden::node
