// Loads and compiles a 10,000-pod, 1,000-NetworkPolicy cluster; model vs compiled-table lookups.
//
// A synthetic but realistic cluster (by default 100 namespaces x 10 apps x 10 replicas = 10,000
// pods on 100 nodes, 10 NetworkPolicies per namespace = 1,000 policies; compile_cluster.h),
// generated as manifest YAML. Measures loading (LoadManifestTexts), Compile() and the memory the
// compile needs (heap_counter.h), and, side by side on the same machine (so noisy machines still
// compare), answers one set of random flows both through the model and through the compiled
// tables (DatapathTwin), reporting the ratio (compile_flows.h). Also checks that the two answers
// agree.
//
// Usage: compile_bench [--namespaces N] [--runs N] [--compile-runs N] [--flows N]
// Prints human-readable lines, then last one line of key=value pairs.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"
#include "agent/policy/port_sets.h"
#include "agent/policy/yaml_syntax.h"
#include "tests/bench/bench_args.h"
#include "tests/bench/bench_main.h"
#include "tests/bench/compile_cluster.h"
#include "tests/bench/compile_flows.h"
#include "tests/bench/heap_counter.h"
#include "tests/lib/proc_status.h"
#include "tests/lib/stats.h"
#include "tests/lib/timing.h"

namespace warden::bench {
namespace {

using testlib::Median;

double Mb(long kb) { return kb / 1024.0; }
double HeapMb(int64_t bytes) { return bytes / 1048576.0; }

// What the port sets take in the kernel: an entry each, plus the runs of the larger ones.
int64_t KernelBytes(const policy::PortsetList& sets) {
  policy::KernelPortsets k;
  for (const auto& s : sets) policy::AppendKernelPortset(s, &k);
  return static_cast<int64_t>(k.sets.size() * sizeof(wd_portset) +
                              k.ranges.size() * sizeof(wd_port_range));
}
long SelfKb(const char* field) { return testlib::StatusKb(getpid(), field); }

// Resets VmHWM to the current RSS (Linux >= 4.0). False when the kernel does not allow it.
bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

double Best(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// (a) Load: one untimed run with the heap counted (its result is the state compiled below),
// then the timed runs.
struct LoadFigures {
  double state_heap_mb = 0;  // YAML text + ClusterState
  long hwm_kb = 0;           // peak RSS during the first load
  bool peak_reset_ok = false;
  std::vector<double> ms;
  // In the same runs: libyaml's syntax check alone (policy::CheckYamlSyntax, which the load runs
  // first on every file), so the load without it is load - syntax.
  std::vector<double> syntax_ms;
};

// Returns the counted run's result (made where the caller keeps it: nothing else is counted).
policy::LoadResult MeasureLoad(const Cluster& cluster, int runs, LoadFigures& f) {
  int64_t heap_start = heap::LiveBytes();
  f.peak_reset_ok = ResetPeakRss();
  policy::LoadResult loaded = policy::LoadManifestTexts(cluster.files);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors)
      std::fprintf(stderr, "load error: %s\n", e.ToString().c_str());
    throw std::runtime_error("the manifests do not load");
  }
  f.state_heap_mb = HeapMb(heap::LiveBytes() - heap_start);
  f.hwm_kb = SelfKb("VmHWM");
  heap::SetCounting(false);
  for (int r = 0; r < runs; ++r) {
    auto t0 = testlib::Clock::now();
    policy::LoadResult lr = policy::LoadManifestTexts(cluster.files);
    f.ms.push_back(testlib::MsSince(t0));
    auto t1 = testlib::Clock::now();
    for (const auto& [name, content] : cluster.files) {
      policy::YamlSyntaxError error;
      if (!policy::CheckYamlSyntax(content, &error))
        throw std::runtime_error(absl::StrCat(name, ": the syntax check refused it"));
    }
    f.syntax_ms.push_back(testlib::MsSince(t1));
  }
  const policy::ClusterState& st = loaded.state;
  if (static_cast<int>(st.pods.size()) != cluster.pods ||
      static_cast<int>(st.policies.size()) != cluster.policies) {
    throw std::runtime_error(absl::StrCat("loaded ", st.pods.size(), " pods and ",
                                          st.policies.size(), " policies, expected ", cluster.pods,
                                          " and ", cluster.policies));
  }
  return loaded;
}

// (c) The memory of a compile: an untimed compile with the heap counted and a fresh RSS peak;
// then (b) the timed compiles.
struct CompileFigures {
  double heap_peak_mb = 0, snapshot_heap_mb = 0;
  long rss_before_kb = 0, hwm_kb = 0, process_hwm_kb = 0;
  std::vector<double> ms;
};

// Returns the counted compile's snapshot (made where the caller keeps it, as above).
policy::Snapshot MeasureCompile(const policy::ClusterState& st, int runs, CompileFigures& f) {
  f.rss_before_kb = SelfKb("VmRSS");
  ResetPeakRss();
  heap::SetCounting(true);
  int64_t heap_before = heap::LiveBytes();
  heap::ResetPeak();
  policy::Snapshot snap = policy::Compile(st).value();
  f.heap_peak_mb = HeapMb(heap::PeakBytes() - heap_before);
  f.snapshot_heap_mb = HeapMb(heap::LiveBytes() - heap_before);
  heap::SetCounting(false);
  f.hwm_kb = SelfKb("VmHWM");
  for (int r = 0; r < runs; ++r) {
    auto t1 = testlib::Clock::now();
    policy::Snapshot again = policy::Compile(st).value();
    f.ms.push_back(testlib::MsSince(t1));
    if (again.policy.size() != snap.policy.size() ||
        again.identities.size() != snap.identities.size())
      throw std::runtime_error("compile is not deterministic");
  }
  f.process_hwm_kb = SelfKb("VmHWM");
  return snap;
}

struct IdentityCounts {
  size_t pod = 0, cidr = 0;
};

IdentityCounts CountIdentities(const policy::Snapshot& snap) {
  IdentityCounts c;
  for (const auto& id : snap.identities) {
    c.pod += id.kind == policy::IdentityKind::kPod;
    c.cidr += id.kind == policy::IdentityKind::kCidr;
  }
  return c;
}

void PrintTables(const policy::Snapshot& snap) {
  IdentityCounts ids = CountIdentities(snap);
  std::printf(
      "tables: %zu identities (%zu pod, %zu CIDR), %zu policy entries, %zu portsets (%.1f MB in "
      "the kernel's form), %zu ipcache entries\n",
      snap.identities.size(), ids.pod, ids.cidr, snap.policy.size(), snap.portsets.size(),
      HeapMb(KernelBytes(snap.portsets)), snap.ipcache.size());
  size_t entries[2][2] = {};  // [direction][remote is a CIDR identity]
  for (const auto& [key, _] : snap.policy)
    entries[key.direction][(key.remote & WD_ID_CIDR_FLAG) != 0]++;
  std::printf(
      "entries: ingress %zu from pod identities + %zu from CIDR identities, egress %zu to pod "
      "identities + %zu to CIDR identities\n",
      entries[WD_DIR_INGRESS][0], entries[WD_DIR_INGRESS][1], entries[WD_DIR_EGRESS][0],
      entries[WD_DIR_EGRESS][1]);
}

void PrintTimesAndMemory(const LoadFigures& l, const CompileFigures& c, long rss_start_kb) {
  std::printf("load:    best %8.1f ms, median %8.1f ms (%zu runs)\n", Best(l.ms), Median(l.ms),
              l.ms.size());
  std::printf("         of which libyaml's syntax check alone, in the same runs: median %.1f ms\n",
              Median(l.syntax_ms));
  std::printf("compile: best %8.1f ms, median %8.1f ms (%zu runs); target < 1000 ms: %s\n",
              Best(c.ms), Median(c.ms), c.ms.size(), Median(c.ms) < 1000 ? "met" : "MISSED");
  std::printf(
      "memory:  heap: YAML text + loaded objects %.1f MB; compile peak +%.1f MB, snapshot kept "
      "+%.1f MB; target < 200 MB for the compile: %s\n",
      l.state_heap_mb, c.heap_peak_mb, c.snapshot_heap_mb, c.heap_peak_mb < 200 ? "met" : "MISSED");
  std::printf(
      "         RSS: %.1f MB at start, %.1f MB before the compile (peak during the first load %.1f "
      "MB%s), compile peak +%.1f MB, process peak %.1f MB\n",
      Mb(rss_start_kb), Mb(c.rss_before_kb), Mb(l.hwm_kb), l.peak_reset_ok ? "" : ", not reset",
      Mb(c.hwm_kb - c.rss_before_kb), Mb(c.process_hwm_kb));
}

void PrintFlows(const FlowComparison& f) {
  std::printf(
      "flows:   %d random flows (%d allowed): model %.1f ms (%.2f us/flow), compiled tables via "
      "twin %.1f ms (%.2f us/flow): %.1fx faster; disagreements: %d\n",
      f.flows, f.allowed, f.model_ms, f.model_ms * 1000 / f.flows, f.twin_ms,
      f.twin_ms * 1000 / f.flows, f.model_ms / std::max(f.twin_ms, 1e-6), f.disagreements);
}

void PrintHeadline(const Cluster& cluster, const policy::ClusterState& st,
                   const policy::Snapshot& snap, const LoadFigures& l, const CompileFigures& c,
                   const FlowComparison& f) {
  IdentityCounts ids = CountIdentities(snap);
  std::printf(
      "pods=%zu policies=%zu nodes=%d identities=%zu pod_identities=%zu cidr_identities=%zu "
      "policy_entries=%zu portsets=%zu ipcache_entries=%zu load_ms=%.1f load_best_ms=%.1f "
      "syntax_check_ms=%.1f load_without_check_ms=%.1f "
      "compile_ms=%.1f compile_best_ms=%.1f runs=%zu compile_heap_peak_mb=%.1f "
      "snapshot_heap_mb=%.1f compile_peak_rss_mb=%.1f peak_rss_mb=%.1f flows=%d "
      "model_flow_us=%.2f twin_flow_us=%.2f twin_vs_model_speedup=%.1f disagreements=%d\n",
      st.pods.size(), st.policies.size(), cluster.nodes, snap.identities.size(), ids.pod, ids.cidr,
      snap.policy.size(), snap.portsets.size(), snap.ipcache.size(), Median(l.ms), Best(l.ms),
      Median(l.syntax_ms), Median(l.ms) - Median(l.syntax_ms), Median(c.ms), Best(c.ms),
      l.ms.size(), c.heap_peak_mb, c.snapshot_heap_mb, Mb(c.hwm_kb - c.rss_before_kb),
      Mb(c.process_hwm_kb), f.flows, f.model_ms * 1000 / f.flows, f.twin_ms * 1000 / f.flows,
      f.model_ms / std::max(f.twin_ms, 1e-6), f.disagreements);
}

int Run(int namespaces, int runs, int compile_runs, int flow_count) {
  long rss_start = SelfKb("VmRSS");
  Cluster cluster = Generate(namespaces);
  size_t yaml_bytes = 0;
  for (const auto& [_, t] : cluster.files) yaml_bytes += t.size();
  std::printf(
      "cluster: %d namespaces, %d nodes, %d pods, %d NetworkPolicies, %.1f MB of YAML in %zu "
      "files\n",
      namespaces, cluster.nodes, cluster.pods, cluster.policies, yaml_bytes / 1048576.0,
      cluster.files.size());
  LoadFigures load;
  policy::LoadResult loaded = MeasureLoad(cluster, runs, load);
  cluster.files.clear();
  cluster.files.shrink_to_fit();
  CompileFigures compile;
  policy::Snapshot snap = MeasureCompile(loaded.state, compile_runs, compile);
  PrintTables(snap);
  PrintTimesAndMemory(load, compile, rss_start);
  FlowComparison flows = CompareModelAndTwin(loaded.state, snap, flow_count);
  PrintFlows(flows);
  PrintHeadline(cluster, loaded.state, snap, load, compile, flows);
  return flows.disagreements == 0 ? 0 : 1;
}

constexpr BenchInfo kInfo = {
    "compile_bench",
    "usage: compile_bench [--namespaces N (100)] [--runs N (5)] [--compile-runs N (= runs)]\n"
    "                     [--flows N (20000)]\n"
    "  N namespaces hold N*100 pods and N*10 NetworkPolicies.\n",
    nullptr};

int Main(int argc, char** argv) {
  return RunBench(argc, argv, kInfo, [&] {
    return Run(std::max(3, ArgInt(argc, argv, "--namespaces", 100)),
               ArgInt(argc, argv, "--runs", 5),
               // more than --runs, for profiling
               ArgInt(argc, argv, "--compile-runs", ArgInt(argc, argv, "--runs", 5)),
               ArgInt(argc, argv, "--flows", 20000));
  });
}

}  // namespace
}  // namespace warden::bench

int main(int argc, char** argv) { return warden::bench::Main(argc, argv); }
