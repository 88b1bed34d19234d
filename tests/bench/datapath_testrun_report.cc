// The printed table, summary and key=value pairs of datapath_bench [1].
#include <algorithm>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "tests/bench/datapath_testrun.h"
#include "tests/bench/headline.h"

namespace warden::bench {
namespace {

void PrintRows(const TestRunResult& tr, double timer) {
  std::printf("  %-24s %8s %8s | %9s %9s %9s | %9s %9s %9s %9s %9s %11s\n", "tables", "policy",
              "ipcache", "early-ret", "PACKET", "deny*", "DECISION", "new-flow", "deny", "packet",
              "early-ret", "random-peer");
  std::printf("  %-24s %8s %8s | %-29s | %-64s\n", "", "", "", "  repeated (ns)",
              "  single-shot, one run per syscall (ns)");
  for (const auto& r : tr.rows) {
    std::printf("  %-24s %8d %8d | %9.1f %9.1f %9.1f | %9.1f %9.1f %9.1f %9.1f %9.1f %11.1f\n",
                r.label.c_str(), r.policy, r.ipcache, r.rep_early, r.rep_ct, r.rep_deny,
                r.ss_hit - timer, r.ss_newflow - timer, r.ss_deny - timer, r.ss_ct - timer,
                r.ss_early - timer, r.ss_random - timer);
  }
  std::printf(
      "  PACKET: a packet of an admitted flow (what every packet after a flow's first costs).\n"
      "  DECISION: the first packet to a (pod, peer, port) whose verdict is not cached: the\n"
      "    policy lookups, the verdict-cache and conntrack inserts and the flow's event.\n"
      "  new-flow: a new flow (say UDP) to a peer and port whose verdict is cached.\n"
      "  * repeated deny: every run emits an event; after ~3,600 runs the ring buffer is full "
      "and the\n"
      "    reserve fails, so this is the deny path under a flood. Single-shot deny is a "
      "decision each time.\n");
}

// Per packet and per decision at 10 / 10k / 100k entries, against the targets.
void PrintFlatness(const TestRunResult& tr, double timer) {
  const TestRunRow &a = tr.rows[0], &b = tr.rows[1], &c = tr.rows[2];
  double hit10 = a.ss_hit - timer, hit10k = b.ss_hit - timer, hit100k = c.ss_hit - timer;
  double flat = hit100k / hit10;
  double pkt_flat = c.rep_ct / a.rep_ct;
  std::printf("\n  per packet: %.1f / %.1f / %.1f ns at 10 / 10k / 100k entries; 100k/10 = %.2f\n",
              a.rep_ct, b.rep_ct, c.rep_ct, pkt_flat);
  std::printf("  policy decision: %.1f / %.1f / %.1f ns at 10 / 10k / 100k; 100k/10 = %.2f\n",
              hit10, hit10k, hit100k, flat);
  std::printf(
      "  check of the single-shot correction: packet single-shot net %.1f ns vs repeated %.1f "
      "ns (10 entries)\n",
      a.ss_ct - timer, a.rep_ct);
  bool pkt_under = std::max({a.rep_ct, b.rep_ct, c.rep_ct}) < 100;
  std::printf(
      "  target < 100 ns per packet, flat within 10%%: per packet %s (%s, %.2f); policy "
      "decision %s, %s (%.2f)\n",
      pkt_under ? "met" : "MISSED", pkt_flat <= 1.10 ? "flat" : "NOT flat", pkt_flat,
      std::max({hit10, hit10k, hit100k}) < 100 ? "under 100 ns" : "over 100 ns",
      flat <= 1.10 ? "flat" : "NOT flat", flat);
}

void PrintVariants(const TestRunResult& tr, double timer) {
  const TestRunRow &b = tr.rows[1], &pol_only = tr.rows[3], &ipc_only = tr.rows[4],
                   &guar = tr.rows[5];
  std::printf(
      "  policy decision with one table large: 10 policy + 100k ipcache %.1f ns, 100k policy "
      "+ 10 ipcache %.1f ns\n",
      ipc_only.ss_hit - timer, pol_only.ss_hit - timer);
  // The agent's order (node::NodeConfigFor): Burstable/BestEffort pods' level first.
  std::printf(
      "  endpoint found at the second pod level (Guaranteed) vs the first (Burstable), "
      "10k: packet %.1f vs %.1f ns, decision %.1f vs %.1f ns\n",
      guar.rep_ct, b.rep_ct, guar.ss_hit - timer, b.ss_hit - timer);
  const TestRunRow& run = tr.rows[6];
  std::printf(
      "  allowing port set a run of 1,000 ranges (halving search) vs one inline range, 10k: "
      "decision %.1f vs %.1f ns\n",
      run.ss_hit - timer, b.ss_hit - timer);
}

std::string KeyValues(const TestRunResult& tr, double timer) {
  const TestRunRow &a = tr.rows[0], &b = tr.rows[1], &c = tr.rows[2], &pol_only = tr.rows[3],
                   &ipc_only = tr.rows[4], &guar = tr.rows[5], &run = tr.rows[6];
  double hit10 = a.ss_hit - timer, hit100k = c.ss_hit - timer;
  return absl::StrCat(
      "packet_ns_10=", Fmt(a.rep_ct), " packet_ns_10k=", Fmt(b.rep_ct),
      " packet_ns_100k=", Fmt(c.rep_ct), " packet_flat_ratio=", Fmt(c.rep_ct / a.rep_ct, 2),
      " decision_ns_10=", Fmt(hit10), " decision_ns_10k=", Fmt(b.ss_hit - timer),
      " decision_ns_100k=", Fmt(hit100k), " decision_flat_ratio=", Fmt(hit100k / hit10, 2),
      " new_flow_ns_10k=", Fmt(b.ss_newflow - timer), " deny_ns_10=", Fmt(a.ss_deny - timer),
      " deny_ns_10k=", Fmt(b.ss_deny - timer), " deny_ns_100k=", Fmt(c.ss_deny - timer),
      " random_peer_ns_100k=", Fmt(c.ss_random - timer), " early_return_ns=", Fmt(b.rep_early),
      " harness_ns=", Fmt(tr.rep_harness), " timer_ns=", Fmt(timer), " ",
      "decision_ns_100k_policy_10_ipcache=", Fmt(pol_only.ss_hit - timer),
      " decision_ns_10_policy_100k_ipcache=", Fmt(ipc_only.ss_hit - timer),
      " packet_ns_guaranteed=", Fmt(guar.rep_ct),
      " decision_ns_10k_guaranteed=", Fmt(guar.ss_hit - timer),
      " decision_ns_10k_run_1000=", Fmt(run.ss_hit - timer), " ");
}

}  // namespace

std::string ReportTestRun(const TestRunResult& tr) {
  double timer = tr.ss_harness - tr.rep_harness;  // what one single-shot run adds (timer reads)
  std::printf(
      "  harness (return-1 program): %.1f ns repeated, %.1f ns single-shot -> timer cost of a "
      "single run %.1f ns\n",
      tr.rep_harness, tr.ss_harness, timer);
  std::printf("  single-shot figures below are net of that timer cost (raw minus %.1f ns)\n\n",
              timer);
  PrintRows(tr, timer);
  PrintFlatness(tr, timer);
  PrintVariants(tr, timer);
  std::fflush(stdout);
  return KeyValues(tr, timer);
}

}  // namespace warden::bench
