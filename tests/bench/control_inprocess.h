// What `warden control` does on a change, in this process: the in-process breakdown of
// control_bench (load, compile, node states), with what the control plane keeps between changes.
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/control/node_state.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_loader.h"
#include "tests/bench/control_cluster.h"
#include "tests/lib/timing.h"

namespace warden::bench {

using testlib::Clock;
using testlib::MsBetween;

struct Breakdown {
  double load_ms = 0, compile_ms = 0, node_states_ms = 0;
  int errors = 0;
  size_t pods = 0, policies = 0, policy_entries = 0, ipcache = 0, identities = 0;
  std::vector<control::NodeState> states;
};

// The steps `warden control` takes on a change (ControlPlane::Refresh), with what it keeps
// between changes: the manifest source (parsed files, each kind's map), the compile cache
// (identities, ipcache) and the parts node states share.
struct InProcess {
  explicit InProcess(const std::string& dir) : source(dir) {}
  policy::ManifestSource source;
  std::shared_ptr<policy::CompileCache> cache;
  std::unique_ptr<control::SharedParts> parts;

  Breakdown Run(const ClusterSpec& c) {
    Breakdown b;
    auto t0 = Clock::now();
    policy::LoadResult loaded = source.Load();
    auto t1 = Clock::now();
    policy::Snapshot snap = policy::Compile(loaded.state, policy::CompileOptions{}, &cache);
    auto t2 = Clock::now();
    parts = std::make_unique<control::SharedParts>(
        control::ComputeSharedParts(loaded.state, snap, parts.get()));
    for (int n = 0; n < c.nodes; ++n)
      b.states.push_back(control::ComputeNodeState(loaded.state, snap, *parts, absl::StrCat("n", n),
                                                   "warden-egress"));
    auto t3 = Clock::now();
    b.load_ms = MsBetween(t0, t1);
    b.compile_ms = MsBetween(t1, t2);
    b.node_states_ms = MsBetween(t2, t3);
    b.errors = static_cast<int>(loaded.errors.size());
    for (size_t i = 0; i < loaded.errors.size() && i < 5; ++i)
      std::fprintf(stderr, "manifest error: %s\n", loaded.errors[i].ToString().c_str());
    b.pods = loaded.state.pods.size();
    b.policies = loaded.state.policies.size();
    b.policy_entries = snap.policy.size();
    b.ipcache = snap.ipcache.size();
    b.identities = snap.identities.size();
    return b;
  }
};

// The figures of the in-process breakdown.
struct InProcessFigures {
  size_t policies = 0;  // NetworkPolicies in the cluster
  // Per change (a toggle of toggle.yaml), the median of six.
  double load_ms = 0, compile_ms = 0, node_states_ms = 0;
  // One node's full state and the delta of one toggle, as Sync messages.
  size_t full_update_bytes = 0, delta_update_bytes = 0;
};

// One start (every file parsed, everything built), then six toggles through the same
// InProcess. Also checks that the manifests load cleanly and that the toggle changes every
// node's state (throws Failure otherwise); prints the cluster's and one node's figures. Leaves
// toggle.yaml at port 7000, as the manifests started.
InProcessFigures RunInProcess(const ClusterSpec& c, const std::string& manifests,
                              const std::vector<int>& pods_per_node, size_t yaml_bytes);

}  // namespace warden::bench
