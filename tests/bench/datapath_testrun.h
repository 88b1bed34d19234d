// datapath_bench [1]: ns per packet of wd_egress through BPF_PROG_TEST_RUN, with synthetic
// tables of 10, 10,000 and 100,000 policy entries (and as many ipcache /32s).
//
// TEST_RUN repeats one packet, and the first allowed run inserts a conntrack entry, so repeated
// runs of an allowed packet measure the conntrack hit (PACKET). The policy path (DECISION) is
// measured one run at a time (repeat 1, the conntrack entry and the cached verdict deleted before
// each), corrected by the timer cost a single run carries (single-shot minus repeated, of the
// return-1 program). Extra rows vary the policy and the ipcache separately, and put the pod in
// a Guaranteed pod's cgroup. The node configuration is the agent's (node::NodeConfigFor).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/bench/datapath_env.h"

namespace warden::bench {

struct TestRunRow {
  std::string label;
  int policy = 0, ipcache = 0;
  // repeated (ns, kernel average over `repeat` runs)
  double rep_early = 0, rep_ct = 0, rep_deny = 0;
  // single-shot medians, raw (the report subtracts the timer cost)
  double ss_hit = 0, ss_ct = 0, ss_deny = 0, ss_early = 0, ss_random = 0, ss_newflow = 0;
};

// Rows in the order of the tables measured: 10, 10k, 100k, 100k policy + 10 ipcache, 10 policy
// + 100k ipcache, 10k with a Guaranteed pod.
struct TestRunResult {
  double rep_harness = 0, ss_harness = 0;
  std::vector<TestRunRow> rows;
};

TestRunResult RunTestRun(const DatapathEnv& env, uint32_t repeat, int single);

// Only `path` (ct, deny, early, harness or hit) on the 100k tables for `seconds`, for
// `perf record -a`.
void RunTestRunLoop(const DatapathEnv& env, uint32_t repeat, const std::string& path, int seconds);

// Prints the table and the summary of [1]; returns its key=value pairs, each followed by a space.
std::string ReportTestRun(const TestRunResult& tr);

}  // namespace warden::bench
