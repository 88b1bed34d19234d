// `warden node` as the DaemonSet runs it: root, but with every capability dropped except those
// of node::kRequiredCapabilities (bounding, permitted and effective sets; none inheritable or
// ambient; no_new_privs), in the node's network namespace already (hostNetwork: no --netns), on
// a bpffs mounted for it (the DaemonSet's init container). On the lab's node default-1 it
// attaches, enforces (a probe policy denies is refused, one it admits connects), adopts its pins
// after a restart, and serves /metrics and /ready. Without any one of the capabilities it stops
// at once naming it; and with its own check skipped, the kernel refuses it, the refusal naming
// the capability too: each one is needed.
// Needs root, BPF, iproute2 and setpriv: fails, never skips, without them.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/magic.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/capabilities.h"
#include "agent/common/cgroup.h"
#include "agent/lab/lab_state.h"
#include "agent/node/required_capabilities.h"
#include "tests/e2e/e2e_util.h"
#include "tests/lib/child_process.h"

namespace warden::e2e {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using ::testing::HasSubstr;

constexpr char kNode[] = "default-1";
constexpr char kMetrics[] = "127.0.0.1:19180";  // in the node's network namespace

std::string StateDir() { return "/tmp/warden-capabilities-test-" + std::to_string(getpid()); }

// setpriv's name of a capability: "net_admin" for CAP_NET_ADMIN.
std::string SetprivName(int cap) { return absl::AsciiStrToLower(common::CapabilityName(cap)); }

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class AgentCapabilitiesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_EQ(geteuid(), 0u) << "the lab needs root (network namespaces, cgroups, BPF)";
    ASSERT_EQ(access("/usr/bin/setpriv", X_OK), 0) << "setpriv (util-linux) is needed";
    // The DaemonSet's init container mounts bpffs on the host: the agent (without
    // CAP_SYS_ADMIN) cannot. The mount stays: it is the machine's, as on a node.
    struct statfs st;
    if (statfs("/sys/fs/bpf", &st) != 0 || st.f_type != BPF_FS_MAGIC) {
      ASSERT_EQ(mount("bpf", "/sys/fs/bpf", "bpf", 0, nullptr), 0) << "mounting bpffs";
    }
    Result r = Warden(absl::StrCat("lab up --manifests ", WARDEN_SOURCE_DIR,
                                   "/deploy/examples/reference --state ", StateDir(),
                                   " --no-agents --no-control"));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
  }
  static void TearDownTestSuite() {
    Result r = Warden("lab down --state " + StateDir());
    EXPECT_EQ(r.code, 0) << r.err;
    std::error_code ec;
    fs::remove_all(StateDir(), ec);
  }

  void SetUp() override {
    auto lab = lab::ReadLabState(StateDir());
    ASSERT_TRUE(lab.ok()) << lab.status();
    for (const auto& n : lab->nodes)
      if (n.name == kNode) node_ = n;
    ASSERT_EQ(node_.name, kNode);
    daemons_cgroup_ = lab->daemons_cgroup();
    manifests_ = lab->manifests;
    log_ = absl::StrCat(StateDir(), "/agent-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name(), ".log");
    RemovePins();
  }
  void TearDown() override {
    Stop();
    RemovePins();
  }

  // Unpinning the links detaches the programs: each test starts from a node without them.
  void RemovePins() {
    std::error_code ec;
    fs::remove_all(node_.bpffs, ec);
    ASSERT_FALSE(ec) << node_.bpffs << ": " << ec.message();
  }

  // `warden node` of default-1 as the lab would start it (manifests mode), with exactly `caps`,
  // in the node's cgroup for daemons and network namespace. `skip_check`: without its own
  // capability check.
  void Start(common::CapabilitySet caps, bool skip_check = false) {
    std::vector<std::string> bounding = {"-all"};
    for (int n = 0; n < 64; ++n)
      if (caps & common::Capability(n)) bounding.push_back(absl::StrCat("+", SetprivName(n)));
    std::vector<std::string> argv = {"/usr/bin/setpriv",
                                     "--reuid=0",
                                     "--regid=0",
                                     "--clear-groups",
                                     "--inh-caps=-all",
                                     "--ambient-caps=-all",
                                     "--bounding-set=" + absl::StrJoin(bounding, ","),
                                     "--no-new-privs",
                                     "--",
                                     WardenBin(),
                                     "node",
                                     "--node",
                                     kNode,
                                     "--cgroup-root",
                                     node_.cgroup,
                                     "--bpffs",
                                     node_.bpffs,
                                     "--pool",
                                     node_.pool,
                                     "--log",
                                     absl::StrCat(StateDir(), "/verdicts.jsonl"),
                                     "--metrics",
                                     kMetrics,
                                     "--manifests",
                                     manifests_,
                                     "--cluster-cidr",
                                     "10.10.0.0/24",
                                     "--cluster-cidr",
                                     "fd00:10:10::/64",
                                     "--allow-world",
                                     "169.254.169.254/32:80/TCP",
                                     "--allow-world",
                                     "199.36.153.8/30:443/TCP",
                                     "--allow-world",
                                     "199.36.153.4/30:443/TCP"};
    int netns = open(("/var/run/netns/" + node_.netns).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(netns, 0) << node_.netns;
    pid_ = fork();
    ASSERT_GE(pid_, 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      if (skip_check) setenv("WARDEN_NODE_SKIP_CAPABILITY_CHECK", "1", 1);
      // The cgroup first (lab down ends what is left there), then the namespace (setns, not
      // `ip netns exec`: that would remount /sys without cgroup2 and bpffs).
      if (!common::MoveToCgroup(daemons_cgroup_, getpid()).ok() || setns(netns, CLONE_NEWNET) != 0)
        _exit(126);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    close(netns);
  }

  void Stop() {
    testlib::EndChild(pid_);
    pid_ = 0;
  }

  // Waits (`seconds` at most) until the agent's log holds `text`; false if it exits first.
  bool WaitForLog(const std::string& text, int seconds = 90) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      if (Slurp(log_).find(text) != std::string::npos) return true;
      if (kill(pid_, 0) != 0) return false;
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return Slurp(log_).find(text) != std::string::npos;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  // Waits for the agent to exit; its exit code (-1: still running after `seconds`).
  int WaitForExit(int seconds = 60) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return -1;
  }

  // GET `path` from the agent in the node's namespace: "CODE BODY".
  std::string Get(const std::string& path) {
    Result r = Sh(absl::StrCat("ip netns exec ", node_.netns,
                               " curl -s --max-time 2 -w ' %{http_code}' http://", kMetrics, path));
    return r.out;
  }

  std::string Probe(const std::string& from, const std::string& to, int port,
                    const char* proto = "TCP") {
    Result r = Warden(absl::StrCat("lab probe --state ", StateDir(), " --from ", from, " --to ", to,
                                   " --port ", port, " --protocol ", proto,
                                   " --timeout-ms 500 --output json"));
    if (r.code != 0) return "error: " + r.err;
    return json::parse(r.out)["outcome"];
  }

  // The probes of the reference scenario this node's agent decides: a world destination the
  // pool lockdown refuses, and two the policies and allowances admit.
  void ExpectEnforced() {
    EXPECT_EQ(Probe("team-x/app", "203.0.113.66", 8443), "eperm");
    EXPECT_EQ(Probe("team-x/app", "198.51.100.53", 53, "UDP"), "eperm");
    EXPECT_EQ(Probe("team-x/app", "169.254.169.254", 80), "connected");
    EXPECT_EQ(Probe("team-x/app", "kube-system/kube-dns", 53, "UDP"), "connected");
  }

  lab::LabNode node_;
  std::string daemons_cgroup_, manifests_, log_;
  pid_t pid_ = 0;
};

TEST_F(AgentCapabilitiesTest, WithExactlyItsCapabilitiesTheAgentAttachesEnforcesAdoptsAndServes) {
  const common::CapabilitySet caps = node::RequiredCapabilitySet();
  Start(caps);
  ASSERT_TRUE(WaitForLog("attached 8 programs")) << testlib::LogTail(log_, 20);
  // It runs with those and no other.
  auto held = common::EffectiveCapabilities(pid_);
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(*held, caps) << std::hex << *held;
  EXPECT_TRUE(fs::exists(node_.bpffs + "/links/wd_connect4"));
  ExpectEnforced();
  EXPECT_THAT(Get("/ready"), HasSubstr("ready\n 200"));
  EXPECT_THAT(Get("/metrics"), HasSubstr("warden_applies_total{node=\"default-1\"}"));

  // Restarted: it takes the pins over; enforcement never stopped.
  Stop();
  EXPECT_EQ(Probe("team-x/app", "203.0.113.66", 8443), "eperm");
  Start(caps);
  ASSERT_TRUE(WaitForLog("adopted 8 programs")) << testlib::LogTail(log_, 20);
  ExpectEnforced();
  EXPECT_THAT(Get("/ready"), HasSubstr("ready\n 200"));
  EXPECT_THAT(Get("/metrics"), HasSubstr("warden_verdicts_total{node=\"default-1\""));
  EXPECT_EQ(Slurp(log_).find("needs CAP_"), std::string::npos) << Slurp(log_);
}

TEST_F(AgentCapabilitiesTest, WithoutAnyOneOfThemTheAgentStopsNamingIt) {
  for (const node::RequiredCapability& c : node::kRequiredCapabilities) {
    const std::string name = "CAP_" + common::CapabilityName(c.capability);
    SCOPED_TRACE(name);
    const common::CapabilitySet caps =
        node::RequiredCapabilitySet() & ~common::Capability(c.capability);

    // Its own check, before anything else.
    fs::remove(log_);
    Start(caps);
    EXPECT_EQ(WaitForExit(), 1);
    EXPECT_THAT(Slurp(log_), HasSubstr(absl::StrCat("warden node: needs ", name, " (", c.use,
                                                    "): not in its effective set")));
    EXPECT_FALSE(fs::exists(node_.bpffs + "/links/wd_connect4"));

    // Without the check, the kernel refuses it: the capability is needed, and the refusal
    // names it.
    fs::remove(log_);
    Start(caps, /*skip_check=*/true);
    EXPECT_EQ(WaitForExit(), 1);
    EXPECT_THAT(Slurp(log_), HasSubstr(absl::StrCat("likely missing: ", name, " (")))
        << Slurp(log_).substr(0, 4000);
    EXPECT_FALSE(fs::exists(node_.bpffs + "/links/wd_connect4"));
    EXPECT_EQ(Probe("team-x/app", "203.0.113.66", 8443), "connected") << "nothing enforces";
    RemovePins();
  }
}

}  // namespace
}  // namespace warden::e2e
