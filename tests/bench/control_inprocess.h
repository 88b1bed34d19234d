// What `warden control` does on a change, in this process: the in-process breakdown of
// control_bench (load, compile, node states), with what the control plane keeps between changes.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/nodestate/pipeline.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/control_cluster.h"
#include "tests/lib/timing.h"

namespace warden::bench {

using testlib::Clock;
using testlib::MsBetween;

struct Breakdown {
  double load_ms = 0, compile_ms = 0, node_states_ms = 0;
  int errors = 0;
  size_t pods = 0, policies = 0, policy_entries = 0, ipcache = 0, identities = 0;
  std::vector<nodestate::NodeState> states;
};

// The steps `warden control` takes on a change, through the same pipeline (ControlPlane::Refresh:
// DesiredStatePipeline::Run, then a state per node), keeping what it keeps between changes.
struct InProcess {
  explicit InProcess(const std::string& dir) : pipeline(Options(dir)) {}
  static nodestate::PipelineOptions Options(const std::string& dir) {
    nodestate::PipelineOptions o;
    o.manifests = dir;
    return o;
  }
  nodestate::DesiredStatePipeline pipeline;

  Breakdown Run(const ClusterSpec& c) {
    Breakdown b;
    nodestate::DesiredStatePipeline::Result r = pipeline.Run();
    if (!r.cluster) throw Failure("compile: " + r.status.ToString());
    auto t = Clock::now();
    for (int n = 0; n < c.nodes; ++n)
      b.states.push_back(r.cluster->NodeStateOf(absl::StrCat("n", n)));
    b.load_ms = r.load_ms;
    b.compile_ms = r.compile_ms;
    b.node_states_ms = r.parts_ms + MsBetween(t, Clock::now());
    b.errors = static_cast<int>(r.errors.size());
    for (size_t i = 0; i < r.errors.size() && i < 5; ++i)
      std::fprintf(stderr, "manifest error: %s\n", r.errors[i].ToString().c_str());
    const policy::ClusterState& st = *r.cluster->state();
    b.pods = st.pods.size();
    b.policies = st.policies.size();
    b.policy_entries = r.snapshot->policy.size();
    b.ipcache = r.snapshot->ipcache.size();
    b.identities = r.snapshot->identities.size();
    return b;
  }
};

// The figures of the in-process breakdown.
struct InProcessFigures {
  size_t policies = 0;  // NetworkPolicies in the cluster
  // Per change (a toggle of toggle.yaml), the median of six.
  double load_ms = 0, compile_ms = 0, node_states_ms = 0;
  // At start: every file parsed, everything compiled, every node's state.
  double start_load_ms = 0, start_compile_ms = 0, start_node_states_ms = 0;
  // One node's full state and the delta of one toggle, as Sync messages.
  size_t full_update_bytes = 0, delta_update_bytes = 0;
  // Over the node with the most policy entries and up to 200 others spread evenly: the
  // largest and the median full update; the most policy entries on any node.
  size_t full_update_max_bytes = 0, full_update_median_bytes = 0, node_entries_max = 0;
  std::string full_update_max_parts;  // where the largest full update's bytes go, by field
  // Every node's full update built and serialized, as the control plane does for the first push
  // (what each agent then does with its own happens on its node).
  double start_full_updates_ms = 0;
  // This process (the control plane's work, in process) after the start and the toggles.
  double rss_mb = 0, hwm_mb = 0;
};

// One start (every file parsed, everything built), then six toggles through the same
// InProcess. Also checks that the manifests load cleanly and that the toggle changes every
// node's state (throws Failure otherwise); prints the cluster's and one node's figures. Leaves
// toggle.yaml at port 7000, as the manifests started.
InProcessFigures RunInProcess(const ClusterSpec& c, const std::string& manifests,
                              const std::vector<int>& pods_per_node, size_t yaml_bytes);

}  // namespace warden::bench
