// One scenario of control_bench, with fresh processes, pins and state: the real `warden
// control` (in control mode) and `agents` real `warden node` agents n0.. on loopback with mutual
// TLS, or one agent reading the manifests itself. A round writes the other version of
// toggle.yaml beside the manifests and renames it in (atomic); t0 is taken just before the
// rename. Then every agent's pinned wd_config is polled (one bpf_obj_get, then
// bpf_map_lookup_elem of key 0 every 100 us) until its generation moves: the moment the new
// tables are live in that kernel. Every (agent, round) is one sample.
#pragma once

#include <string>
#include <vector>

#include "tests/bench/control_env.h"

namespace warden::bench {

struct ScenarioResult {
  std::string name;
  int agents = 0, rounds = 0;
  std::vector<double> samples;    // every (agent, round)
  std::vector<double> round_max;  // per round, the slowest agent
  std::vector<double> round_min;  // per round, the fastest agent
  double ready_s = 0;             // start -> every agent enforcing the first state
  double control_rss_mb = 0, control_hwm_mb = 0, control_rss_start_mb = 0;
  double control_cpu_s = 0, agents_cpu_s = 0, rounds_wall_s = 0, idle_agents_cpu_pct = 0;
  double push_ms_mean = 0;  // the control plane's own push latency histogram, during the rounds
  double agent_rss_max_mb = 0, agent_hwm_max_mb = 0;  // the largest agent's, after the rounds
  long full_update_bytes = 0;
  int extra_flips = 0, timeouts = 0;
  // With a swarm (ControlEnv::swarm): the nodes without a real agent, as Sync clients.
  size_t swarm_nodes = 0;
  double control_up_s = 0;              // start of warden control -> its metrics answer
  double swarm_hold_s = 0;              // then -> every swarm node holding its first state
  double swarm_hold_control_cpu_s = 0;  // the control plane's CPU meanwhile
  double swarm_hold_swarm_cpu_s = 0;    // the swarm's (this process's)
  std::vector<double> swarm_samples;    // every (swarm node, round)
  long control_threads = 0;             // the control plane's, after the rounds
  uint64_t swarm_nacks = 0;
};

// `agent_interval_ms` > 0 sets the agents' --interval-ms (their reconcile tick). Throws Failure.
ScenarioResult RunScenario(const ControlEnv& env, const std::string& name, bool control_mode,
                           int agents, int rounds, int agent_interval_ms = 0);

}  // namespace warden::bench
