// Where control_bench works. Everything it makes is named after its pid and removed when the
// ControlEnv goes (also on error or Ctrl-C): cgroups <cgroup2>/warden-ctlbench-<pid>/, pins
// /sys/fs/bpf/warden-ctlbench-<pid>/, /tmp/warden-ctlbench-<pid>/ (manifests, PKI, state, logs).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/bench/control_cluster.h"
#include "tests/lib/scratch_cgroup.h"
#include "tests/lib/scratch_dir.h"

namespace warden::bench {

struct ControlEnv {
  // In this order, so that they go in reverse: the pins, then the cgroups, then the files.
  testlib::ScratchDir tmp;
  testlib::ScratchCgroup cgroups;     // a node root nI per node: nI/kubepods/burstable/pod<uid>
  testlib::ScratchDir bpffs;          // a directory of pins per agent
  std::string warden, gen_certs;      // the `warden` next to this executable, scripts/gen-certs
  std::string manifests, stage, pki;  // under tmp; stage is where a new toggle.yaml is written
  ClusterSpec cluster;
  std::vector<int> pods_per_node;
  int gap_ms = 300;
  std::string perf_dir;   // record the control plane and agent n0 with perf during the rounds
  std::string keep_logs;  // copy each scenario's logs here (debugging)
  // Sync clients in this process (control_swarm.h) for every node from n<swarm_from> on, in the
  // scenario whose real agents are the nodes before it.
  bool swarm = false;
  int swarm_from = 0;
  int swarm_connections = 8;
};

// Throws Failure when the binaries are missing or a directory cannot be made.
std::unique_ptr<ControlEnv> MakeControlEnv();

}  // namespace warden::bench
