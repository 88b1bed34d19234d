// datapath_bench [3]: the memory of the real `warden node` with 1,000 local pods (kubelet-named
// cgroups <cgroups>/p3node/kubepods/burstable/pod<uid>, generated manifests; rss_manifests.h),
// against the same manifests with no local pod, and an empty manifest directory.
#pragma once

#include <string>
#include <vector>

#include "tests/bench/datapath_env.h"

namespace warden::bench {

struct AgentRss {
  std::string label;
  long local_pods = 0;
  double rss_mb = 0, hwm_mb = 0, anon_mb = 0, file_mb = 0, pss_mb = 0;
  size_t endpoints = 0, policy = 0, ipcache = 0;
  double ready_ms = 0;
};

// The three agents in that order.
std::vector<AgentRss> RunRss(const DatapathEnv& env);

// Prints the table and the target of [3]; returns its key=value pairs, each followed by a space.
std::string ReportRss(const std::vector<AgentRss>& rs);

}  // namespace warden::bench
