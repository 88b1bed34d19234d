// Control plane: NetworkPolicy file change -> verdict in every agent's kernel, 1 vs 20 agents.
//
// Runs the real binaries (`warden control`, `warden node`, found next to this executable) on
// loopback with mutual TLS (scripts/gen-certs), on a generated cluster of 10,000 pods
// (control_cluster.h). Each node gets a cgroup root with kubelet-named pod cgroups
// (<root>/nI/kubepods/burstable/pod<uid>) so its agent finds its 500 pods.
//
// A round changes one policy file and measures, for every agent, the time until the new tables
// are live in its kernel (control_scenario.h). Scenarios, each with fresh processes, pins and
// state (the same manifests: 20 nodes either way, so each agent's state has the same size in
// every scenario):
//   manifests-1       one agent reading the manifests itself (`warden node --manifests`, polling
//                     every 100 ms): the local-file baseline;
//   control-1         `warden control` + agent n0;
//   control-20        `warden control` + agents n0..n19, as configured by default;
//   control-20-quiet  the same with the agents' reconcile tick slowed to 60 s (--interval-ms
//                     60000): 20 agents share this machine's CPUs, and their idle ticks otherwise
//                     compete with the push. In control mode the tick only picks up pod cgroups
//                     that came or went; updates from the control plane are applied as they
//                     arrive either way.
// Also: the control plane's VmRSS/VmHWM (after the rounds: it keeps a history of versions), the
// mean push latency its own histogram reports (node states computed -> the node's ACK), the CPU
// the processes used, the agents' idle CPU, the size of a full update for one node (n0's saved
// state: a serialized full Update) and of the delta one round sends, and an in-process breakdown
// of what the control plane does on each change (control_inprocess.h).
//
// Needs root. Everything it creates is named after its pid and removed at exit (control_env.h).
//
// Usage: control_bench [--agents N (20)] [--rounds N (16)] [--contended-rounds N (8)]
//                      [--baseline-rounds N (8)] [--namespaces N (100)] [--gap-ms N (300)]
//                      [--skip-baseline] [--skip-single] [--skip-contended] [--skip-quiet]
//                      [--single-quiet] [--keep-logs DIR] [--perf DIR] [--inproc-only]
//   --rounds applies to control-1 and control-20-quiet, --contended-rounds to control-20.
//   --perf DIR records `perf record --call-graph=dwarf` of the control plane and agent n0 during
//   each control scenario's rounds; --keep-logs DIR copies every process's log there;
//   --inproc-only stops after the in-process breakdown (starts no process).
// Prints human-readable lines, then last one line of key=value pairs.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/common/heap_tuning.h"
#include "tests/bench/bench_args.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/bench_main.h"
#include "tests/bench/control_env.h"
#include "tests/bench/control_inprocess.h"
#include "tests/bench/control_report.h"
#include "tests/bench/control_scenario.h"
#include "tests/bench/control_swarm.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/shell.h"
#include "tests/lib/timing.h"

namespace warden::bench {
namespace {

struct Flags {
  int agents_max = 20, rounds = 16, contended_rounds = 8, baseline_rounds = 8;
  int namespaces = 100, gap_ms = 300;
  bool skip_baseline = false, skip_single = false, skip_contended = false, skip_quiet = false;
  int single_interval_ms = 0;
  bool inproc_only = false, swarm = false;
  int nodes = 0, pods = 0;  // 0: one node per agent; 100 pods per namespace
  std::string keep_logs, perf_dir;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  f.agents_max = std::max(1, ArgInt(argc, argv, "--agents", 20, 0));
  f.rounds = std::max(2, ArgInt(argc, argv, "--rounds", 16, 0));
  f.contended_rounds = std::max(2, ArgInt(argc, argv, "--contended-rounds", 8, 0));
  f.baseline_rounds = std::max(2, ArgInt(argc, argv, "--baseline-rounds", 8, 0));
  f.namespaces = std::max(3, ArgInt(argc, argv, "--namespaces", 100, 0));
  f.gap_ms = ArgInt(argc, argv, "--gap-ms", 300, 0);
  f.skip_baseline = ArgFlag(argc, argv, "--skip-baseline");
  f.skip_single = ArgFlag(argc, argv, "--skip-single");
  f.skip_contended = ArgFlag(argc, argv, "--skip-contended");
  f.skip_quiet = ArgFlag(argc, argv, "--skip-quiet");
  f.single_interval_ms = ArgFlag(argc, argv, "--single-quiet") ? 60000 : 0;
  f.inproc_only = ArgFlag(argc, argv, "--inproc-only");
  f.swarm = ArgFlag(argc, argv, "--swarm");
  f.nodes = ArgInt(argc, argv, "--nodes", 0, 0);
  f.pods = ArgInt(argc, argv, "--pods", 0, 0);
  f.keep_logs = ArgStr(argc, argv, "--keep-logs", "");
  f.perf_dir = ArgStr(argc, argv, "--perf", "");
  return f;
}

constexpr BenchInfo kInfo = {
    "control_bench",
    "usage: control_bench [--agents N (20)] [--rounds N (16)] [--contended-rounds N (8)]\n"
    "                     [--baseline-rounds N (8)] [--namespaces N (100)] [--gap-ms N "
    "(300)]\n"
    "                     [--skip-baseline] [--skip-single] [--skip-contended] "
    "[--skip-quiet]\n"
    "                     [--single-quiet] [--keep-logs DIR] [--perf DIR] [--inproc-only]\n"
    "                     [--nodes N --pods N [--swarm]]\n"
    "  Needs root. N namespaces hold N*100 pods, spread round-robin over --agents nodes.\n"
    "  --nodes N --pods P: a cluster of N nodes and P pods (P/100 namespaces), the agents its\n"
    "  first --agents nodes. --inproc-only: the control plane's work alone (load, compile, every\n"
    "  node's state and full update), no agents. --swarm: every other node of the cluster a Sync\n"
    "  client in this process that applies and ACKs each update (control_swarm.h), in the\n"
    "  --agents scenario; its rounds wait for every node.\n",
    "it creates cgroups, pins BPF maps and attaches programs"};

// The control plane's certificate (IP:127.0.0.1), one per agent's node, and the swarm's.
void MakePki(const ControlEnv& env, int agents) {
  std::string cmd = absl::StrCat(env.gen_certs, " ", env.pki, " warden-control,IP:127.0.0.1");
  for (int n = 0; n < agents; ++n) absl::StrAppend(&cmd, " n", n);
  if (env.swarm) {
    std::vector<std::string> nodes;
    for (int n = env.swarm_from; n < env.cluster.nodes; ++n) nodes.push_back(absl::StrCat("n", n));
    for (const auto& spec : SwarmCertSpecs(nodes, env.swarm_connections))
      absl::StrAppend(&cmd, " ", spec);
  }
  testlib::ShellResult r = testlib::Sh(cmd);
  if (r.code != 0) throw Failure("gen-certs failed: " + cmd + "\n" + r.err);
}

// Each agent's node root <cgroups>/nI with its pods' cgroups where kubelet puts Burstable pods
// (the agents are nodes n0 .. n<agents - 1> of the cluster; the others have none).
size_t MakePodCgroups(const ControlEnv& env, const std::vector<PodInfo>& pods, int agents) {
  std::vector<testlib::KubeletNode> nodes;
  for (int n = 0; n < agents; ++n) {
    nodes.push_back(Must(testlib::KubeletNode::Create(absl::StrCat(env.cgroups.path(), "/n", n)),
                         "making cgroups"));
  }
  size_t made = 0;
  for (const auto& p : pods) {
    if (p.node >= agents) continue;
    Must(nodes[p.node].AddPod(p.uid, "burstable"), "making a pod cgroup");
    ++made;
  }
  return made;
}

void Setup(const ControlEnv& env, const std::vector<PodInfo>& pods, int agents) {
  auto t = testlib::Clock::now();
  MakePki(env, agents);
  size_t cgroups = MakePodCgroups(env, pods, agents);
  std::printf("setup: PKI for %d agents, %zu pod cgroups in %.1f s\n", agents, cgroups,
              testlib::MsSince(t) / 1000);
  std::fflush(stdout);
}

ControlRun RunScenarios(const ControlEnv& env, const Flags& f) {
  ControlRun run;
  run.agents_max = f.agents_max;
  run.rounds = f.rounds;
  run.contended_rounds = f.contended_rounds;
  run.nodes = env.cluster.nodes;
  run.have_base = !f.skip_baseline;
  run.have_single = !f.skip_single;
  run.have_contended = !f.skip_contended;
  run.have_quiet = !f.skip_quiet;
  const std::string n = absl::StrCat(f.agents_max);
  if (run.have_base) run.base = RunScenario(env, "manifests-1", false, 1, f.baseline_rounds);
  if (run.have_single)
    run.c1 = RunScenario(env, "control-1", true, 1, f.rounds, f.single_interval_ms);
  if (run.have_contended)
    run.cn = RunScenario(env, "control-" + n, true, f.agents_max, f.contended_rounds);
  if (run.have_quiet)
    run.cq = RunScenario(env, "control-" + n + "-quiet", true, f.agents_max, f.rounds, 60000);
  return run;
}

// Everything but the usage and the root check; returns the exit status.
int Run(const Flags& f) {
  std::unique_ptr<ControlEnv> env = MakeControlEnv();
  env->cluster.namespaces = f.pods ? std::max(3, f.pods / 100) : f.namespaces;
  env->cluster.nodes = f.nodes ? f.nodes : f.agents_max;
  if (env->cluster.nodes < f.agents_max && !f.inproc_only)
    throw Failure("--nodes fewer than --agents: each agent is one node of the cluster");
  env->gap_ms = f.gap_ms;
  env->keep_logs = f.keep_logs;
  env->swarm = f.swarm;
  env->swarm_from = f.agents_max;
  if (f.swarm && (f.skip_contended || env->cluster.nodes <= f.agents_max))
    throw Failure("--swarm runs in the --agents scenario, with --nodes more than --agents");
  env->perf_dir = f.perf_dir;
  std::printf(
      "control_bench: NetworkPolicy file change -> new verdict live in every agent's kernel\n");
  std::printf("machine: %u CPUs; warden: %s\n", std::thread::hardware_concurrency(),
              env->warden.c_str());
  size_t yaml_bytes = 0;
  std::vector<PodInfo> pods = WriteManifests(env->cluster, env->manifests, &yaml_bytes);
  env->pods_per_node.assign(env->cluster.nodes, 0);
  for (const auto& p : pods) ++env->pods_per_node[p.node];
  InProcessFigures inproc =
      RunInProcess(env->cluster, env->manifests, env->pods_per_node, yaml_bytes);
  if (f.inproc_only) {
    std::printf(
        "nodes=%d pods=%zu start_load_ms=%.0f start_compile_ms=%.0f start_node_states_ms=%.0f "
        "inproc_load_ms=%.1f inproc_compile_ms=%.1f inproc_node_states_ms=%.1f "
        "full_update_max_kb=%.1f full_update_median_kb=%.1f delta_update_kb=%.1f "
        "node_entries_max=%zu rss_mb=%.0f hwm_mb=%.0f start_full_updates_ms=%.0f "
        "first_push_cpu_ms=%.0f\n",
        env->cluster.nodes, pods.size(), inproc.start_load_ms, inproc.start_compile_ms,
        inproc.start_node_states_ms, inproc.load_ms, inproc.compile_ms, inproc.node_states_ms,
        inproc.full_update_max_bytes / 1024.0, inproc.full_update_median_bytes / 1024.0,
        inproc.delta_update_bytes / 1024.0, inproc.node_entries_max, inproc.rss_mb, inproc.hwm_mb,
        inproc.start_full_updates_ms,
        inproc.start_load_ms + inproc.start_compile_ms + inproc.start_node_states_ms +
            inproc.start_full_updates_ms);
    return 0;
  }
  std::fflush(stdout);
  Setup(*env, pods, f.agents_max);
  ControlRun run = RunScenarios(*env, f);
  run.pods = pods.size();
  run.inproc = inproc;
  ReportControl(run);
  return 0;
}

int Main(int argc, char** argv) {
  return RunBench(argc, argv, kInfo, [&] {
    CatchInterrupts();
    return Run(ParseFlags(argc, argv));
  });
}

}  // namespace
}  // namespace warden::bench

int main(int argc, char** argv) {
  warden::common::TuneHeap();  // the in-process figures are the control plane's: warden's heap
  return warden::bench::Main(argc, argv);
}
