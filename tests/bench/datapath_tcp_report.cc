// The printed tables, target and key=value pairs of datapath_bench [2].
#include <algorithm>
#include <cstdio>
#include <map>

#include "absl/strings/str_cat.h"
#include "tests/bench/datapath_tcp.h"
#include "tests/bench/headline.h"

namespace warden::bench {
namespace {

using testlib::RatioSummary;

void PrintRounds(const TcpResult& t) {
  std::printf("\n  %-16s %11s %9s %15s %7s   %s\n", "variant", "median c/s", "vs none", "(range)",
              "errors", "what");
  const std::map<std::string, std::string> what = {
      {"none", "no program attached"},
      {"warden", absl::StrCat("Warden, ", t.policy_entries,
                              " policy entries, events read as the agent reads them")},
      {"warden_noreader", "Warden, nobody reading events (ring buffer full after ~3,600)"},
      {"iptables",
       "server INPUT: ctstate ESTABLISHED,RELATED accept, 9,999 non-matching -s "
       "rules, allow LAST, policy DROP"},
      {"iptables_1rule", "server INPUT: ctstate accept + the allowing rule only (conntrack alone)"},
  };
  for (const auto& v : t.variants) {
    std::printf("  %-16s %11.0f %9.3f  (%5.3f-%5.3f) %7llu   %s\n", v.c_str(), t.median.at(v),
                t.ratio.at(v), t.ratio_min.at(v), t.ratio_max.at(v),
                static_cast<unsigned long long>(t.errors.count(v) ? t.errors.at(v) : 0),
                what.at(v).c_str());
  }
  std::printf(
      "  (vs none: the median over rounds of variant / none of the same round; range: "
      "min-max)\n");
  std::printf("  spread of the no-program rate across rounds: %.1f%% (stddev / mean)%s\n",
              t.none_cv * 100,
              t.none_cv > 0.10 ? ": NOISY, something else is using the CPUs; rerun when idle" : "");
  std::printf("  iptables: %s, 10,001 rules loaded with iptables-restore in %.0f ms\n",
              t.iptables_version.c_str(), t.iptables_load_ms);
  std::printf("  events read during Warden rounds: %llu\n",
              static_cast<unsigned long long>(t.events_drained));
}

// Per live round: each program's cost; returns the BPF ns per connection of each.
std::map<std::string, double> PrintLive(const TcpResult& t) {
  const double none = t.median.at("none");
  std::map<std::string, double> bpf_per_conn;
  for (const auto& lr : t.live) {
    std::printf("  live program cost, extra %s round with BPF run-time stats (%.0f c/s):\n",
                lr.variant.c_str(), lr.rate);
    double per_conn_ns = 0;
    for (const auto& l : lr.progs) {
      if (l.per_conn == 0) continue;  // not on this lane's path
      std::printf("    %-12s %7.1f ns per run, %5.2f runs per connection\n", l.prog.c_str(),
                  l.avg_ns, l.per_conn);
      per_conn_ns += l.avg_ns * l.per_conn;
    }
    std::printf(
        "    -> %.0f ns of BPF per connection = %.1f%% of a connection's %.1f us at the "
        "no-program rate\n",
        per_conn_ns, none > 0 ? per_conn_ns / (1e9 / none) * 100 : 0, none > 0 ? 1e6 / none : 0);
    bpf_per_conn[lr.variant] = per_conn_ns;
  }
  return bpf_per_conn;
}

void PrintInterleaved(const TcpResult::Interleaved& il) {
  std::printf(
      "\n  interleaved (%d rounds; each round runs every lane for %d ms, odd rounds in "
      "reverse order):\n",
      il.rounds, il.slice_ms);
  std::printf("  %-18s %11s %9s %17s %9s   %s\n", "lane", "median c/s", "vs none", "(quartiles)",
              "+/- s.e.", "what");
  const std::pair<const char*, const char*> rows[] = {
      {"none", "no program on the lane's cgroups"},
      {"harness", "return-1 programs on egress, ingress and connect4: the floor"},
      {"warden", "Warden attached, events read as the agent reads them"},
      {"both", "Warden + the interface programs on the lane's veth pair (both lines)"},
      {"harness_both", "return-1 programs on the cgroup hooks and the veth pair: both floors"}};
  for (const auto& [name, what] : rows) {
    const RatioSummary& r = il.ratio.at(name);
    std::printf("  %-18s %11.0f %9.3f  (%6.3f-%6.3f) %9.3f   %s\n", name, il.median.at(name),
                r.median, r.p25, r.p75, r.se, what);
  }
  const RatioSummary& wh = il.ratio.at("warden_vs_harness");
  std::printf("  %-18s %11s %9.3f  (%6.3f-%6.3f) %9.3f   %s\n", "warden / harness", "", wh.median,
              wh.p25, wh.p75, wh.se, "what Warden's own work costs");
  const RatioSummary& bw = il.ratio.at("both_vs_warden");
  std::printf("  %-18s %11s %9.3f  (%6.3f-%6.3f) %9.3f   %s\n", "both / warden", "", bw.median,
              bw.p25, bw.p75, bw.se, "what the second line adds");
  const RatioSummary& bh = il.ratio.at("both_vs_harness_both");
  std::printf("  %-18s %11s %9.3f  (%6.3f-%6.3f) %9.3f   %s\n", "both / harness_both", "",
              bh.median, bh.p25, bh.p75, bh.se, "what both lines' own work costs");
  std::printf(
      "  (per round: lane / none of the same round; median over rounds, quartiles, standard "
      "error of the median)\n");
}

// Warden against no program: interleaved when that ran, else from the rounds.
double WardenVsNone(const TcpResult& t) {
  const auto& il = t.interleaved;
  if (il.rounds > 0) return il.ratio.at("warden").median;
  return t.ratio.count("warden") ? t.ratio.at("warden") : 0;
}

std::string KeyValues(const TcpResult& t, const std::map<std::string, double>& bpf_per_conn) {
  // Keys of the variants that ran (--variants may leave some out).
  auto ran = [&](const char* v) {
    return std::find(t.variants.begin(), t.variants.end(), v) != t.variants.end();
  };
  std::string kv = absl::StrCat("conn_per_s_none=", Fmt(t.median.at("none"), 0));
  for (const char* v : {"warden", "warden_noreader", "iptables", "iptables_1rule"}) {
    if (ran(v)) absl::StrAppend(&kv, " conn_per_s_", v, "=", Fmt(t.median.at(v), 0));
  }
  if (ran("warden")) absl::StrAppend(&kv, " warden_vs_none_rounds=", Fmt(t.ratio.at("warden"), 3));
  for (const char* v : {"warden_noreader", "iptables", "iptables_1rule"}) {
    if (ran(v)) absl::StrAppend(&kv, " ", v, "_vs_none=", Fmt(t.ratio.at(v), 3));
  }
  absl::StrAppend(&kv, " none_spread_pct=", Fmt(t.none_cv * 100, 1));
  const auto& il = t.interleaved;
  if (il.rounds > 0) {
    absl::StrAppend(&kv, " harness_vs_none=", Fmt(il.ratio.at("harness").median, 3),
                    " warden_vs_harness=", Fmt(il.ratio.at("warden_vs_harness").median, 3),
                    " warden_vs_none_se=", Fmt(il.ratio.at("warden").se, 3),
                    " both_vs_none=", Fmt(il.ratio.at("both").median, 3),
                    " both_vs_none_se=", Fmt(il.ratio.at("both").se, 3),
                    " both_vs_warden=", Fmt(il.ratio.at("both_vs_warden").median, 3),
                    " harness_both_vs_none=", Fmt(il.ratio.at("harness_both").median, 3),
                    " both_vs_harness_both=", Fmt(il.ratio.at("both_vs_harness_both").median, 3),
                    " conn_per_s_il_none=", Fmt(il.median.at("none"), 0),
                    " conn_per_s_il_both=", Fmt(il.median.at("both"), 0));
  }
  absl::StrAppend(&kv, " warden_vs_none=", Fmt(WardenVsNone(t), 3));
  for (const auto& lr : t.live) {
    std::string suffix = lr.variant == "warden" ? "" : "_" + lr.variant;
    if (lr.variant == "warden_noreader") suffix = "_noreader";
    for (const auto& l : lr.progs)
      if (l.per_conn > 0) absl::StrAppend(&kv, " live_", l.prog, suffix, "_ns=", Fmt(l.avg_ns));
    absl::StrAppend(&kv, " bpf_ns_per_conn", suffix, "=", Fmt(bpf_per_conn.at(lr.variant), 0));
  }
  uint64_t errs = 0;
  for (const auto& [_, e] : t.errors) errs += e;
  absl::StrAppend(&kv, " conn_errors=", errs, " ");
  return kv;
}

}  // namespace

std::string ReportTcp(const TcpResult& t) {
  PrintRounds(t);
  std::map<std::string, double> bpf_per_conn = PrintLive(t);
  const auto& il = t.interleaved;
  if (il.rounds > 0) PrintInterleaved(il);
  double wr = WardenVsNone(t);
  std::printf(
      "  target: Warden within 5%% of no program: %s (warden/none = %.3f%s)\n",
      wr >= 0.95 ? "met" : "MISSED", wr,
      il.rounds > 0
          ? absl::StrCat(", interleaved; +/- ", Fmt(il.ratio.at("warden").se, 3), " s.e.").c_str()
          : ", rounds");
  if (il.rounds > 0) {
    const RatioSummary& b = il.ratio.at("both");
    std::printf(
        "  target: both lines >= 0.97x no program: %s (both/none = %.3f, interleaved; +/- %.3f "
        "s.e.)\n",
        b.median >= 0.97 ? "met" : "MISSED", b.median, b.se);
  }
  std::fflush(stdout);
  return KeyValues(t, bpf_per_conn);
}

}  // namespace warden::bench
