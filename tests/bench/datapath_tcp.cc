#include "tests/bench/datapath_tcp.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/datapath_tables.h"
#include "tests/bench/raw_bpf.h"
#include "tests/bench/tcp_iptables.h"
#include "tests/bench/tcp_peers.h"
#include "tests/bench/tcp_warden.h"
#include "tests/lib/cleanup.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/packets.h"
#include "tests/lib/shell.h"

namespace warden::bench {
namespace {

using testlib::Median;
using testlib::MustSh;

constexpr uint32_t kClientAddr = (10u << 24) | (200u << 16) | 1,
                   kServerAddr = (10u << 24) | (200u << 16) | 2;
// The interface lane's addresses, on a veth pair of their own.
constexpr uint32_t kClient2Addr = (10u << 24) | (201u << 16) | 1,
                   kServer2Addr = (10u << 24) | (201u << 16) | 2;
// The floor of both lines: return-1 programs on the cgroup hooks and on a third veth pair.
constexpr uint32_t kClient3Addr = (10u << 24) | (202u << 16) | 1,
                   kServer3Addr = (10u << 24) | (202u << 16) | 2;
enum { kLaneWarden = 0, kLanePlain = 1, kLaneHarness = 2, kLaneBoth = 3, kLaneHarnessBoth = 4 };
// Warm-up of each interleaved slice, not counted: the first connections after the client moved.
constexpr int kSliceWarmupMs = 20;

// Two network namespaces joined by a veth pair; `cleanup` removes them.
void MakeNetwork(const DatapathEnv& env, testlib::Cleanup& cleanup) {
  MustSh(absl::StrCat("ip netns add ", env.ns_client));
  cleanup.Add("netns " + env.ns_client, [n = env.ns_client] { testlib::Sh("ip netns del " + n); });
  MustSh(absl::StrCat("ip netns add ", env.ns_server));
  cleanup.Add("netns " + env.ns_server, [n = env.ns_server] { testlib::Sh("ip netns del " + n); });
  MustSh(absl::StrCat("ip link add ", env.veth_c, " type veth peer name ", env.veth_s));
  // Gone with its netns once moved there.
  cleanup.Add("veth", [v = env.veth_c] { testlib::Sh("ip link del " + v); });
  const std::pair<std::string, std::string> ends[] = {{env.ns_client, env.veth_c},
                                                      {env.ns_server, env.veth_s}};
  for (const auto& [ns, dev] : ends) MustSh(absl::StrCat("ip link set ", dev, " netns ", ns));
  MustSh(absl::StrCat("ip -n ", env.ns_client, " addr add ", testlib::Ipv4Text(kClientAddr),
                      "/24 dev ", env.veth_c));
  MustSh(absl::StrCat("ip -n ", env.ns_server, " addr add ", testlib::Ipv4Text(kServerAddr),
                      "/24 dev ", env.veth_s));
  for (const auto& [ns, dev] : ends) {
    MustSh(absl::StrCat("ip -n ", ns, " link set lo up"));
    MustSh(absl::StrCat("ip -n ", ns, " link set ", dev, " up"));
  }
  // The interface lanes' pairs: veth_c<N> in the client's namespace, veth_s<N> in the server's
  // (2: Warden's interface programs, 3: return-1 ones).
  const std::pair<uint32_t, uint32_t> pairs[] = {{kClient2Addr, kServer2Addr},
                                                 {kClient3Addr, kServer3Addr}};
  for (size_t i = 0; i < std::size(pairs); ++i) {
    const std::string n = std::to_string(i + 2);
    const std::string vc = env.veth_c + n, vs = env.veth_s + n;
    MustSh(absl::StrCat("ip link add ", vc, " type veth peer name ", vs));
    cleanup.Add("veth " + n, [vc] { testlib::Sh("ip link del " + vc); });
    MustSh(absl::StrCat("ip link set ", vc, " netns ", env.ns_client));
    MustSh(absl::StrCat("ip link set ", vs, " netns ", env.ns_server));
    MustSh(absl::StrCat("ip -n ", env.ns_client, " addr add ", testlib::Ipv4Text(pairs[i].first),
                        "/24 dev ", vc));
    MustSh(absl::StrCat("ip -n ", env.ns_server, " addr add ", testlib::Ipv4Text(pairs[i].second),
                        "/24 dev ", vs));
    MustSh(absl::StrCat("ip -n ", env.ns_client, " link set ", vc, " up"));
    MustSh(absl::StrCat("ip -n ", env.ns_server, " link set ", vs, " up"));
  }
  // Reused client ports may meet the server's TIME_WAIT entries; a wide port range keeps that rare.
  MustSh(absl::StrCat("ip netns exec ", env.ns_client,
                      " sysctl -qw net.ipv4.ip_local_port_range=\"1024 65000\""));
}

// Three trees of the same shape, <cgroups>/{p2node, p2plain, p2harness}, each with a client and
// a server pod (kubepods/burstable/pod<uid>). Warden attaches to p2node, the return-1 programs to
// p2harness, nothing to p2plain.
struct TcpLanes {
  std::vector<Lane> lanes;  // indexed by kLane*
  testlib::KubeletNode warden_node, harness_node;
  std::string harness_root;
};

TcpLanes MakeLanes(const DatapathEnv& env) {
  TcpLanes t;
  for (const char* tree : {"p2node", "p2plain", "p2harness"}) {
    std::string root = env.cgroups.path() + "/" + tree;
    testlib::KubeletNode node = Must(testlib::KubeletNode::Create(root), "making cgroups");
    testlib::PodCgroup client = Must(node.AddPod("client"), "making a pod cgroup");
    testlib::PodCgroup server = Must(node.AddPod("server"), "making a pod cgroup");
    t.lanes.push_back(Lane{client.path, server.path, client.id, server.id,
                           static_cast<uint16_t>(kPort + t.lanes.size())});
    if (t.lanes.size() == 1) t.warden_node = node;
    t.harness_root = root;
    t.harness_node = node;
  }
  // The interface lane: two more pods on Warden's node, reached over the second veth pair.
  testlib::PodCgroup client = Must(t.warden_node.AddPod("client2"), "making a pod cgroup");
  testlib::PodCgroup server = Must(t.warden_node.AddPod("server2"), "making a pod cgroup");
  // Port kPort, the one the tables allow (its own server address keeps it apart from lane 0).
  t.lanes.push_back(Lane{client.path, server.path, client.id, server.id, kPort, kServer2Addr});
  // The floor of both lines: two more pods under the return-1 programs, over the third pair.
  testlib::PodCgroup client3 = Must(t.harness_node.AddPod("client3"), "making a pod cgroup");
  testlib::PodCgroup server3 = Must(t.harness_node.AddPod("server3"), "making a pod cgroup");
  t.lanes.push_back(Lane{client3.path, server3.path, client3.id, server3.id,
                         static_cast<uint16_t>(kPort + kLaneHarnessBoth), kServer3Addr});
  return t;
}

struct Variant {
  std::string name;
  std::function<void()> setup, teardown;
};

// `measure` with variant `v` in place: torn down after it, also when it fails.
template <typename F>
auto WithVariant(const Variant& v, F&& measure) {
  v.setup();
  decltype(measure()) r;
  try {
    r = measure();
  } catch (...) {
    v.teardown();
    throw;
  }
  v.teardown();
  return r;
}

// One interleaved round: every lane for `slice_ms`, in reverse order on odd rounds.
void InterleavedRound(TcpPeers& peers, int round, int slice_ms, TcpResult& res) {
  static const std::pair<const char*, int> kLanes[] = {{"none", kLanePlain},
                                                       {"harness", kLaneHarness},
                                                       {"warden", kLaneWarden},
                                                       {"both", kLaneBoth},
                                                       {"harness_both", kLaneHarnessBoth}};
  for (size_t i = 0; i < std::size(kLanes); ++i) {
    const auto& [name, lane] = kLanes[round % 2 ? std::size(kLanes) - 1 - i : i];
    ConnResult r = peers.Run(slice_ms, lane, kSliceWarmupMs);
    res.interleaved.rates[name].push_back(r.per_s());
    res.errors[name] += r.errors;
  }
}

// [2a]: Warden stays attached to p2node (events read as the agent reads them) and return-1
// programs to p2harness and to the third veth pair; the client moves between the lanes' cgroups,
// so switching variants attaches and detaches nothing and the lanes are measured a few hundred
// milliseconds apart, again and again: the host's noise, which comes in bursts of seconds, then
// falls on all of them alike.
void RunInterleaved(TcpPeers& peers, TcpWarden& warden, const std::string& harness_root,
                    const DatapathEnv& env, const TcpOptions& o, TcpResult& res) {
  ReturnOneLinks harness(harness_root);
  ReturnOneTcx harness_if_client(env.ns_client, env.veth_c + "3"),
      harness_if_server(env.ns_server, env.veth_s + "3");
  warden.Attach();
  warden.StartReader();
  testlib::Cleanup section;  // Warden stops before the return-1 programs go
  section.Add("warden", [&warden] {
    warden.StopReader();
    warden.Detach();
  });
  auto& il = res.interleaved;
  il.rounds = o.il_rounds;
  il.slice_ms = o.slice_ms;
  std::printf("  interleaved: %d rounds x %d ms per lane (+ %d ms warm-up)\n", o.il_rounds,
              o.slice_ms, kSliceWarmupMs);
  for (int round = 0; round < o.il_rounds; ++round) {
    CheckInterrupted();
    InterleavedRound(peers, round, o.slice_ms, res);
    if ((round + 1) % 25 == 0 || round + 1 == o.il_rounds) {
      std::printf(
          "    round %d/%d: none %.0f harness %.0f warden %.0f both %.0f harness_both %.0f c/s\n",
          round + 1, o.il_rounds, il.rates["none"].back(), il.rates["harness"].back(),
          il.rates["warden"].back(), il.rates["both"].back(), il.rates["harness_both"].back());
      std::fflush(stdout);
    }
  }
  for (const char* name : {"none", "harness", "warden", "both", "harness_both"}) {
    il.median[name] = Median(il.rates[name]);
    il.ratio[name] = testlib::SummarizeRatios(il.rates[name], il.rates["none"]);
  }
  il.ratio["warden_vs_harness"] = testlib::SummarizeRatios(il.rates["warden"], il.rates["harness"]);
  il.ratio["both_vs_warden"] = testlib::SummarizeRatios(il.rates["both"], il.rates["warden"]);
  il.ratio["both_vs_harness_both"] =
      testlib::SummarizeRatios(il.rates["both"], il.rates["harness_both"]);
}

// [2b]'s variants, those of --variants ("none" always: every ratio is to it).
std::vector<Variant> MakeVariants(TcpWarden& w, IptablesRules& ipt,
                                  const std::set<std::string>& only,
                                  std::vector<double>* ipt_load_ms) {
  std::vector<Variant> variants = {
      {"none", [] {}, [] {}},
      {"warden",
       [&w] {
         w.Attach();
         w.StartReader();
       },
       [&w] {
         w.StopReader();
         w.Detach();
       }},
      {"warden_noreader", [&w] { w.Attach(); },
       [&w] {
         w.Detach();
         w.DrainEvents();
       }},
      {"iptables", [&ipt, ipt_load_ms] { ipt_load_ms->push_back(ipt.Load(true)); },
       [&ipt] { ipt.Clear(); }},
      {"iptables_1rule", [&ipt] { ipt.Load(false); }, [&ipt] { ipt.Clear(); }},
  };
  if (!only.empty()) {
    std::erase_if(variants,
                  [&](const Variant& v) { return v.name != "none" && !only.count(v.name); });
  }
  return variants;
}

// Every variant once per round, for `seconds` on the Warden lane.
void RunRounds(const std::vector<Variant>& variants, TcpPeers& peers, const TcpOptions& o,
               TcpResult& res) {
  for (int round = 0; round < o.rounds; ++round) {
    std::printf("  round %d/%d:", round + 1, o.rounds);
    // Odd rounds run the variants in reverse order (ABBA): what one variant leaves behind
    // (iptables' deferred frees, a warm or cold cache) and slow drifts of the machine then
    // weigh on every variant alike instead of always on the one that follows.
    for (size_t i = 0; i < variants.size(); ++i) {
      const Variant& v = variants[round % 2 ? variants.size() - 1 - i : i];
      CheckInterrupted();
      ConnResult r = WithVariant(v, [&] { return peers.Run(o.seconds * 1000, kLaneWarden); });
      res.rates[v.name].push_back(r.per_s());
      res.errors[v.name] += r.errors;
      std::printf(" %s %.0f", v.name.c_str(), r.per_s());
      std::fflush(stdout);
    }
    std::printf("\n");
  }
}

void SummarizeRounds(TcpResult& res) {
  for (const auto& name : res.variants) {
    const std::vector<double>& rates = res.rates[name];
    res.median[name] = Median(rates);
    std::vector<double> r = testlib::Ratios(rates, res.rates["none"]);
    res.ratio[name] = Median(r);
    res.ratio_min[name] = r.empty() ? 0 : *std::min_element(r.begin(), r.end());
    res.ratio_max[name] = r.empty() ? 0 : *std::max_element(r.begin(), r.end());
  }
  res.none_cv = testlib::CoefficientOfVariation(res.rates["none"]);
}

// One more round of `v` with BPF run-time stats on (BPF_ENABLE_STATS: on while its fd is open,
// the same switch as kernel.bpf_stats_enabled, off again when closed).
TcpResult::LiveRound LiveRound(const Variant& v, TcpPeers& peers, TcpWarden& w, int ms,
                               int lane = kLaneWarden) {
  int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) throw Failure(absl::StrCat("enabling BPF run-time stats: ", strerror(errno)));
  testlib::Cleanup stats_off;
  stats_off.Add("run-time stats", [stats_fd] { close(stats_fd); });
  const char* progs[] = {"wd_egress", "wd_ingress", "wd_connect4", "wd_if_egress", "wd_if_ingress"};
  auto read = [&] {
    std::vector<ProgStats> s;
    for (const char* p : progs) s.push_back(ReadProgStats(w.ProgramFd(p)));
    return s;
  };
  std::vector<ProgStats> before, after;
  ConnResult r = WithVariant(v, [&] {
    before = read();
    ConnResult c = peers.Run(ms, lane);
    after = read();
    return c;
  });
  stats_off.RunAll();
  TcpResult::LiveRound lr{v.name, r.per_s(), {}};
  double conns_all = static_cast<double>(r.conns + r.warmup);  // the warm-up ran them too
  for (size_t i = 0; i < std::size(progs); ++i) {
    uint64_t cnt = after[i].run_cnt - before[i].run_cnt,
             t = after[i].run_time_ns - before[i].run_time_ns;
    lr.progs.push_back(
        {progs[i], cnt ? static_cast<double>(t) / cnt : 0, conns_all ? cnt / conns_all : 0});
  }
  return lr;
}

// Two more Warden rounds (events read, events not read), not part of the medians.
void RunLiveRounds(const std::vector<Variant>& variants, TcpPeers& peers, TcpWarden& w, int ms,
                   TcpResult& res) {
  for (const std::string name : {"warden", "warden_noreader"}) {
    CheckInterrupted();
    auto v = std::find_if(variants.begin(), variants.end(),
                          [&](const Variant& x) { return x.name == name; });
    if (v != variants.end()) res.live.push_back(LiveRound(*v, peers, w, ms));
  }
  // The interface lane: both lines, each program's live cost.
  auto v = std::find_if(variants.begin(), variants.end(),
                        [](const Variant& x) { return x.name == "warden"; });
  if (v != variants.end()) {
    Variant both = *v;
    both.name = "both";
    res.live.push_back(LiveRound(both, peers, w, ms, kLaneBoth));
  }
}

}  // namespace

TcpResult RunTcp(const DatapathEnv& env, const TcpOptions& opts) {
  TcpResult res;
  testlib::Cleanup network;  // goes last, after everything that uses it
  MakeNetwork(env, network);
  TcpLanes lanes = MakeLanes(env);
  InterfaceLane both{lanes.lanes[kLaneBoth], kClient2Addr,     kServer2Addr,    env.ns_client,
                     env.ns_server,          env.veth_s + "2", env.veth_c + "2"};
  TcpWarden warden(env.bpffs.path() + "/p2", lanes.warden_node, lanes.lanes[kLaneWarden],
                   kClientAddr, kServerAddr, &both);
  // The interface programs stay on the interface lane's devices throughout: no other lane's
  // packets cross them.
  warden.AttachInterfaces();
  res.policy_entries = warden.policy_entries();
  IptablesRules ipt(env.tmp.path(), env.ns_server, kClientAddr);
  res.iptables_version = ipt.version();
  TcpPeers peers(lanes.lanes, env.ns_server, env.ns_client, kServerAddr);
  if (opts.il_rounds > 0) RunInterleaved(peers, warden, lanes.harness_root, env, opts, res);
  std::vector<double> ipt_load_ms;
  std::vector<Variant> variants = MakeVariants(warden, ipt, opts.only, &ipt_load_ms);
  for (const auto& v : variants) res.variants.push_back(v.name);
  RunRounds(variants, peers, opts, res);
  res.iptables_load_ms = Median(ipt_load_ms);
  res.events_drained = warden.events_read();
  SummarizeRounds(res);
  RunLiveRounds(variants, peers, warden, opts.seconds * 1000, res);
  return res;
}

}  // namespace warden::bench
