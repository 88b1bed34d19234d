// datapath_bench [2]: TCP connections per second between two network namespaces over a veth
// pair (10.200.0.1 -> 10.200.0.2:8080; tcp_peers.h), each peer in a pod cgroup of a kubelet-like
// tree (<cgroups>/p2node/kubepods/burstable/pod<uid>).
//
// [2a] Interleaved, the headline: three lanes, each a pair of pod cgroups in a tree of the same
// shape: no program (p2plain); return-1 programs on egress, ingress and connect4 (p2harness: the
// floor any cgroup-BPF enforcer pays); Warden (p2node, attached for the whole section, events
// read); both lines (p2node's pods client2/server2 over a veth pair of their own, 10.201.0.0/24,
// whose ends hold the interface programs: Warden's cgroup programs and the second line). A round
// runs every lane for `slice_ms` after a 20 ms warm-up, with nothing attached or
// detached in between; odd rounds in reverse order. Per round lane / none; the median over
// rounds, its quartiles and standard error.
// [2b] Variants, alternated in rounds of `seconds` after a 0.2 s warm-up (odd rounds in reverse
// order): no program; Warden with its event reader; Warden with nobody reading events; iptables
// with 10,000 rules; iptables with the allowing rule alone. "vs none" is the median over rounds
// of variant / none of the same round. Two extra rounds (Warden with and without a reader) with
// BPF run-time stats give the live cost of each program.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/bench/datapath_env.h"
#include "tests/lib/stats.h"

namespace warden::bench {

struct TcpOptions {
  int rounds = 16, seconds = 1;
  int il_rounds = 150, slice_ms = 100;  // il_rounds 0: no interleaved section
  std::set<std::string> only;           // --variants (empty: all); "none" always runs
};

struct TcpResult {
  std::vector<std::string> variants;  // those that ran, "none" first
  std::map<std::string, std::vector<double>> rates;
  std::map<std::string, uint64_t> errors;
  std::map<std::string, double> median;
  // Per round, variant / none of the same round; the median and range of those.
  std::map<std::string, double> ratio, ratio_min, ratio_max;
  double none_cv = 0;  // spread of the no-program rate across rounds (stddev / mean)
  std::string iptables_version;
  double iptables_load_ms = 0;
  uint64_t events_drained = 0;
  struct Live {
    std::string prog;
    double avg_ns = 0, per_conn = 0;
  };
  struct LiveRound {
    std::string variant;
    double rate = 0;
    std::vector<Live> progs;
  };
  std::vector<LiveRound> live;
  int policy_entries = 0;
  // [2a] the interleaved lanes: none, harness, warden, both; ratios to none, warden_vs_harness
  // and both_vs_warden.
  struct Interleaved {
    int rounds = 0, slice_ms = 0;
    std::map<std::string, std::vector<double>> rates;
    std::map<std::string, double> median;
    std::map<std::string, testlib::RatioSummary> ratio;
  } interleaved;
};

TcpResult RunTcp(const DatapathEnv& env, const TcpOptions& opts);

// Prints the tables and the target of [2]; returns its key=value pairs, each followed by a space.
std::string ReportTcp(const TcpResult& t);

}  // namespace warden::bench
