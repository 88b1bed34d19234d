#include "tests/bench/datapath_rss.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/datapath/bpf_datapath.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/headline.h"
#include "tests/bench/rss_manifests.h"
#include "tests/lib/child_process.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/metrics_endpoint.h"
#include "tests/lib/proc_status.h"
#include "tests/lib/scratch_dir.h"
#include "tests/lib/shell.h"
#include "tests/lib/timing.h"

namespace warden::bench {
namespace {

using testlib::Clock;

struct AgentRun {
  std::string node, manifests, cgroup_root;
  long want_pods = 0;
};

// An agent started as the real binary, with its own pins, ended when this goes.
class Agent {
 public:
  Agent(const DatapathEnv& env, int index, const AgentRun& run)
      : bpffs_(absl::StrCat(env.bpffs.path(), "/agent-", index), testlib::ScratchDir::Make::kLater),
        log_(absl::StrCat(env.tmp.path(), "/agent-", index, ".log")),
        port_(testlib::FreePort()) {
    pid_ =
        testlib::Spawn({env.warden_binary, "node", "--node", run.node, "--manifests", run.manifests,
                        "--cgroup-root", run.cgroup_root, "--bpffs", bpffs_.path(), "--log",
                        "/dev/null", "--metrics", absl::StrCat("127.0.0.1:", port_)},
                       log_);
  }
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;
  ~Agent() { End(); }  // then the pins go: removing the link pins detaches the programs

  // Until its links are pinned and /metrics counts `want_pods` local pods and an apply.
  void WaitReady(const std::string& label, long want_pods);
  void End() {
    if (pid_ > 0) testlib::EndChild(pid_, std::chrono::milliseconds(5000));
    pid_ = -1;
  }
  pid_t pid() const { return pid_; }
  const std::string& bpffs() const { return bpffs_.path(); }

 private:
  [[noreturn]] void Fail(const std::string& label, const std::string& why) {
    std::string tail = testlib::ShOut("tail -5 " + log_);
    throw Failure(absl::StrCat("agent (", label, "): ", why, "; its log ends with:\n", tail));
  }

  testlib::ScratchDir bpffs_;
  std::string log_;
  uint16_t port_;
  pid_t pid_ = -1;
};

void Agent::WaitReady(const std::string& label, long want_pods) {
  const std::string pin = bpffs_.path() + "/links/wd_sendmsg6";
  auto deadline = Clock::now() + std::chrono::seconds(60);
  for (;;) {
    CheckInterrupted();
    if (testlib::Exited(pid_)) {
      pid_ = -1;
      Fail(label, "exited early");
    }
    if (access(pin.c_str(), F_OK) == 0) {
      std::string m = testlib::HttpGet(port_, "/metrics");
      if (testlib::Metric(m, "warden_local_pods") == want_pods &&
          testlib::Metric(m, "warden_applies_total") >= 1)
        return;
    }
    if (Clock::now() > deadline)
      Fail(label, absl::StrCat("not ready with ", want_pods, " local pods in 60 s"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// The agent's memory, from /proc, and what it wrote into its tables.
void ReadAgent(const Agent& agent, AgentRss& out) {
  const pid_t pid = agent.pid();
  out.rss_mb = testlib::StatusKb(pid, "VmRSS") / 1024.0;
  out.hwm_mb = testlib::StatusKb(pid, "VmHWM") / 1024.0;
  out.anon_mb = testlib::StatusKb(pid, "RssAnon") / 1024.0;
  out.file_mb = testlib::StatusKb(pid, "RssFile") / 1024.0;
  long pss = testlib::SmapsRollupKb(pid, "Pss");
  if (pss >= 0) out.pss_mb = pss / 1024.0;
  if (auto ps = datapath::ReadPinnedState(agent.bpffs()); ps.ok()) {
    out.endpoints = ps->live.endpoints.size();
    out.policy = ps->live.policy.size();
    out.ipcache = ps->live.ipcache.size();
  }
}

AgentRss RunAgent(const DatapathEnv& env, int index, const std::string& label,
                  const AgentRun& run) {
  AgentRss out;
  out.label = label;
  auto t0 = Clock::now();
  Agent agent(env, index, run);
  agent.WaitReady(label, run.want_pods);
  out.local_pods = run.want_pods;
  out.ready_ms = testlib::MsSince(t0);
  // A few reconcile ticks in steady state (each rescans the pods' cgroups), then read.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  ReadAgent(agent, out);
  return out;
}

}  // namespace

std::vector<AgentRss> RunRss(const DatapathEnv& env) {
  std::vector<AgentRss> out;
  const std::string manifests = env.tmp.path() + "/manifests", empty = env.tmp.path() + "/empty";
  int pods = WriteRssManifests(manifests);
  testlib::ScratchDir empty_dir(empty);
  // The node's cgroups as kubelet (cgroupfs driver) names them, for the 1,000 local pods.
  testlib::KubeletNode node =
      Must(testlib::KubeletNode::Create(env.cgroups.path() + "/p3node"), "making cgroups");
  for (int i = 0; i < 1000; ++i)
    Must(node.AddPod(RssPodUid(i), "burstable"), "making a pod cgroup");
  const std::string& root = node.root();
  std::printf(
      "  manifests: %d pods (1000 on bench-node), 100 NetworkPolicies; 1000 pod cgroups under %s\n",
      pods, root.c_str());
  std::fflush(stdout);
  out.push_back(RunAgent(env, 1, "1000 local pods", {"bench-node", manifests, root, 1000}));
  out.push_back(
      RunAgent(env, 2, "0 local pods, same manifests", {"empty-node", manifests, root, 0}));
  out.push_back(RunAgent(env, 3, "empty manifest dir", {"empty-node", empty, root, 0}));
  return out;
}

std::string ReportRss(const std::vector<AgentRss>& rs) {
  std::printf("  %-30s %6s %9s %9s %9s %9s %7s %9s   %s\n", "agent", "pods", "VmRSS MB", "VmHWM MB",
              "anon MB", "file MB", "Pss MB", "ready ms", "tables (endpoints/policy/ipcache)");
  for (const auto& r : rs) {
    std::printf("  %-30s %6ld %9.1f %9.1f %9.1f %9.1f %7.1f %9.0f   %zu/%zu/%zu\n", r.label.c_str(),
                r.local_pods, r.rss_mb, r.hwm_mb, r.anon_mb, r.file_mb, r.pss_mb, r.ready_ms,
                r.endpoints, r.policy, r.ipcache);
  }
  std::printf("  target < 30 MB with 1,000 local pods: %s (VmRSS %.1f MB, peak %.1f MB)\n",
              std::max(rs[0].rss_mb, rs[0].hwm_mb) < 30 ? "met" : "MISSED", rs[0].rss_mb,
              rs[0].hwm_mb);
  return absl::StrCat("agent_rss_mb_1000=", Fmt(rs[0].rss_mb),
                      " agent_hwm_mb_1000=", Fmt(rs[0].hwm_mb),
                      " agent_rss_mb_0=", Fmt(rs[1].rss_mb), " agent_hwm_mb_0=", Fmt(rs[1].hwm_mb),
                      " agent_rss_mb_empty=", Fmt(rs[2].rss_mb), " ");
}

}  // namespace warden::bench
