// Datapath costs: wd_egress ns/packet vs table size, TCP conn/s (none/Warden/iptables), agent RSS.
//
// Three measurements, each a side-by-side comparison in the same run (machines are noisy: the
// ratios are the result):
//
//  [1] ns per packet of wd_egress through BPF_PROG_TEST_RUN, with 10, 10,000 and 100,000 policy
//      entries (and as many ipcache /32s): a packet that hits a policy entry, one that misses
//      (deny), a conntrack hit, a non-IP packet (returns early) and a return-1 program (the
//      harness). TEST_RUN repeats one packet, and the first allowed run inserts a conntrack
//      entry, so repeated runs of an allowed packet measure the conntrack hit. The policy path is
//      measured one run at a time (repeat 1, conntrack entry deleted before each), corrected by
//      the timer cost that a single run carries (single-shot minus repeated, of the return-1
//      program). Extra rows vary the policy and the ipcache separately.
//  [2] TCP connections per second between two network namespaces over a veth pair: connect,
//      1-byte echo, server closes, client closes; client pinned to CPU 0, server to CPU 1.
//      [2a] Interleaved (the headline): three lanes, each a pair of pod cgroups in a tree of the
//      same shape, the server listening on one port per lane from a socket made in that lane's
//      cgroup: no program; return-1 programs on egress, ingress and connect4 (the floor any
//      cgroup-BPF enforcer pays); Warden (attached for the whole section, events drained). The
//      client moves itself between the lanes' cgroups, so a round runs every lane for
//      --slice-ms after a 20 ms warm-up with nothing attached or detached in between; odd rounds
//      in reverse order; --interleaved-rounds rounds. Per round lane / none; the median, its
//      quartiles and standard error.
//      [2b] Variants, alternated in rounds: no program; Warden (BpfDatapath Open + Apply + Attach
//      to a cgroup holding both processes, 10,000 policy entries, the flow allowed, events drained
//      as the agent drains them); Warden with nobody reading events; iptables (nft backend) in the
//      server's netns: an ESTABLISHED,RELATED accept first, then 10,000 source rules with the
//      allowing one last, policy DROP; and the same with only the allowing rule (conntrack alone).
//      Each round runs every variant for --seconds after a 0.2 s warm-up, odd rounds in reverse
//      order; "vs none" is the median over rounds of variant / none of the same round. Two extra
//      rounds (Warden with and without an event reader) with BPF run-time stats give the live cost
//      of each program.
//  [3] RSS of the real `warden node` with 1,000 local pods (kubelet-named cgroups, generated
//      manifests), against the same manifests with 0 local pods, and an empty manifest dir.
//
// Needs root. Everything it creates is named after its pid and removed at exit:
//   netns wdb-<pid>-{c,s}, cgroup <cgroup2>/warden-bench-<pid>, bpffs
//   /sys/fs/bpf/warden-bench-<pid>, /tmp/warden-bench-<pid>.
// Usage:
//   datapath_bench [--rounds N (16)] [--seconds S (1)] [--repeat N (1000000)] [--single N (20000)]
//                  [--interleaved-rounds N (150)] [--slice-ms MS (100)] [--skip-interleaved]
//                  [--variants warden,warden_noreader,iptables,iptables_1rule]
//                  [--skip-testrun] [--skip-tcp] [--skip-rss]
//   datapath_bench --skip-tcp --skip-rss --loop ct|deny|early|harness|hit [--loop-seconds S (10)]
//       runs only that TEST_RUN path on the 100k tables, for `perf record -a`.
// Prints human-readable lines, then last one line of key=value pairs.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/common/cgroup.h"
#include "agent/datapath/bpf_datapath.h"
#include "agent/datapath/node_tables.h"

#include "tests/bench/bench_args.h"
#include "tests/bench/bench_util.h"

namespace warden::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using datapath::BpfDatapath;
using datapath::NodeConfig;
using datapath::NodeTables;

// ---- plumbing -----------------------------------------------------------------------------------

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) throw Failure(absl::StrCat(what, ": ", v.status().ToString()));
  return std::move(*v);
}
void Must(const absl::Status& st, const std::string& what) {
  if (!st.ok()) throw Failure(absl::StrCat(what, ": ", st.ToString()));
}

// Runs a shell command quietly; on failure shows its output and throws.
void Sh(const std::string& cmd) {
  std::string quiet = cmd + " >/dev/null 2>&1";
  if (std::system(quiet.c_str()) != 0) {
    std::string loud = cmd + " 1>&2";
    std::system(loud.c_str());
    throw Failure("command failed: " + cmd);
  }
}
int ShQuiet(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }
std::string ShOut(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[512];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Undo actions, run in reverse order at exit (also after a failure or an interrupt).
class Cleanup {
 public:
  void Add(std::string what, std::function<void()> fn) {
    fns_.push_back({std::move(what), std::move(fn)});
  }
  void RunAll() {
    while (!fns_.empty()) {
      auto f = std::move(fns_.back());
      fns_.pop_back();
      try {
        f.second();
      } catch (const std::exception& e) {
        std::fprintf(stderr, "cleanup (%s): %s\n", f.first.c_str(), e.what());
      }
    }
  }
  ~Cleanup() { RunAll(); }

 private:
  std::vector<std::pair<std::string, std::function<void()>>> fns_;
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / v.size();
}

// The ratios a[i] / b[i] of paired measurements: their median, quartiles and the standard error
// of the median (1.2533 * sigma / sqrt(n), sigma estimated robustly as 1.4826 * MAD).
struct Ratio {
  double median = 0, p25 = 0, p75 = 0, se = 0;
  size_t n = 0;
};
double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  double pos = q * (v.size() - 1);
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - lo);
}
Ratio RatioStats(const std::vector<double>& a, const std::vector<double>& b) {
  Ratio r;
  std::vector<double> q;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (b[i] > 0) q.push_back(a[i] / b[i]);
  if (q.empty()) return r;
  r.n = q.size();
  r.median = Median(q);
  r.p25 = Quantile(q, 0.25);
  r.p75 = Quantile(q, 0.75);
  std::vector<double> dev;
  for (double x : q) dev.push_back(std::fabs(x - r.median));
  r.se = 1.2533 * 1.4826 * Median(dev) / std::sqrt(static_cast<double>(q.size()));
  return r;
}

void PinToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0)
    throw Failure(absl::StrCat("pinning to CPU ", cpu, ": ", strerror(errno)));
}

void Mkdirs(const std::string& p) {
  std::error_code ec;
  fs::create_directories(p, ec);
  if (ec) throw Failure(absl::StrCat("creating ", p, ": ", ec.message()));
}

// Removes a cgroup tree bottom-up (the processes in it must be gone).
void RemoveCgroupTree(const std::string& root) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return;
  std::vector<std::string> dirs;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) dirs.push_back(it->path().string());
  }
  std::sort(dirs.begin(), dirs.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& d : dirs) rmdir(d.c_str());
  if (rmdir(root.c_str()) != 0 && errno != ENOENT)
    std::fprintf(stderr, "cleanup: rmdir %s: %s\n", root.c_str(), strerror(errno));
}

// ---- synthetic tables -------------------------------------------------------------------------

constexpr uint32_t kLocalBase = 256;      // local identities 256..256+locals-1
constexpr uint32_t kRemoteBase = 100000;  // remote identity j = kRemoteBase + j
constexpr uint32_t kCidrCluster = WD_ID_CIDR_FLAG | 1, kCidrWorld = WD_ID_CIDR_FLAG | 2;
constexpr int kLocals = 10;
constexpr uint16_t kPort = 8080;

uint32_t RemoteAddr(uint32_t j) { return (10u << 24 | 64u << 16) + j; }  // 10.64.0.0/10, host order
std::string AddrText(uint32_t host_order) {
  in_addr a{htonl(host_order)};
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

wd_ipcache_key V4Key(uint32_t host_order, int plen) {
  wd_ipcache_key k;
  std::memset(&k, 0, sizeof(k));
  k.prefixlen = WD_IPCACHE_PREFIX_BASE + plen;
  k.family = WD_AF_INET;
  uint32_t net = htonl(host_order);
  std::memcpy(k.addr, &net, 4);
  return k;
}

wd_policy_key PolicyKey(uint32_t local, uint32_t remote, uint8_t dir) {
  wd_policy_key k;
  std::memset(&k, 0, sizeof(k));
  k.local_identity = local;
  k.remote_identity = remote;
  k.direction = dir;
  return k;
}

wd_policy_value PolicyValue(uint16_t tcp_set) {
  wd_policy_value v;
  std::memset(&v, 0, sizeof(v));
  v.portset[WD_L4_TCP] = tcp_set;
  return v;
}

struct TableSpec {
  int policy_entries = 10;
  int ipcache_remotes = 10;                // /32s of remotes 0..n-1
  std::vector<uint32_t> required_remotes;  // also in the ipcache
  std::vector<std::pair<uint64_t, uint32_t>>
      endpoints;  // cgroup id -> identity (isolated both ways)
  std::vector<std::pair<uint32_t, uint32_t>> extra_ipcache;  // address -> identity
  std::vector<wd_policy_key> extra_policy;  // allowed on TCP kPort, counted in policy_entries
};

// Policy entry e: local identity 256 + e % 10, remote identity kRemoteBase + e, egress when
// (e / 10) is even, else ingress; TCP port 8080 allowed. So local 256 has egress entries for the
// remotes e = 0, 20, 40, ...
NodeTables BuildTables(const TableSpec& s) {
  NodeTables t;
  t.portsets.resize(3);
  for (auto& p : t.portsets) std::memset(&p, 0, sizeof(p));
  for (auto& w : t.portsets[WD_PORTSET_ALL].bits) w = ~uint64_t{0};
  t.portsets[2].bits[kPort / 64] |= uint64_t{1} << (kPort % 64);
  for (const auto& [cg, id] : s.endpoints) {
    wd_endpoint ep;
    std::memset(&ep, 0, sizeof(ep));
    ep.identity = id;
    ep.isolated = WD_ISOLATED_INGRESS | WD_ISOLATED_EGRESS;
    t.endpoints[cg] = ep;
  }
  // Other local pods, so the endpoint map is not trivially small.
  for (int k = 0; k < kLocals; ++k) {
    wd_endpoint ep;
    std::memset(&ep, 0, sizeof(ep));
    ep.identity = kLocalBase + k;
    ep.isolated = WD_ISOLATED_INGRESS | WD_ISOLATED_EGRESS;
    t.endpoints[(uint64_t{1} << 40) + k] = ep;
  }
  auto add_ip = [&](uint32_t addr, int plen, uint32_t id, uint32_t cidr) {
    t.ipcache[V4Key(addr, plen)] = wd_ipcache_value{id, cidr};
  };
  add_ip(0, 0, WD_ID_WORLD, kCidrWorld);
  add_ip(10u << 24, 8, WD_ID_CLUSTER, kCidrCluster);
  for (int j = 0; j < s.ipcache_remotes; ++j)
    add_ip(RemoteAddr(j), 32, kRemoteBase + j, kCidrCluster);
  for (uint32_t j : s.required_remotes) add_ip(RemoteAddr(j), 32, kRemoteBase + j, kCidrCluster);
  for (const auto& [addr, id] : s.extra_ipcache) add_ip(addr, 32, id, kCidrCluster);
  for (const auto& k : s.extra_policy) t.policy[k] = PolicyValue(2);
  for (int e = 0; static_cast<int>(t.policy.size()) < s.policy_entries; ++e) {
    uint8_t dir = (e / kLocals) % 2 == 0 ? WD_DIR_EGRESS : WD_DIR_INGRESS;
    t.policy[PolicyKey(kLocalBase + e % kLocals, kRemoteBase + e, dir)] =
        PolicyValue(e % 3 == 0 ? 2 : 1);
  }
  return t;
}

std::vector<uint8_t> Ipv4Tcp(uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
  std::vector<uint8_t> p(14 + 20 + 20, 0);
  p[12] = 0x08;
  uint8_t* ip = &p[14];
  ip[0] = 0x45;
  uint16_t total = htons(40);
  std::memcpy(ip + 2, &total, 2);
  ip[8] = 64;
  ip[9] = IPPROTO_TCP;
  uint32_t s = htonl(src), d = htonl(dst);
  std::memcpy(ip + 12, &s, 4);
  std::memcpy(ip + 16, &d, 4);
  uint16_t sp = htons(sport), dp = htons(dport);
  std::memcpy(ip + 20, &sp, 2);
  std::memcpy(ip + 22, &dp, 2);
  ip[32] = 0x50;
  ip[33] = 0x02;  // SYN
  return p;
}

std::vector<uint8_t> ArpPacket() {
  std::vector<uint8_t> p(14 + 28, 0);
  p[12] = 0x08;
  p[13] = 0x06;
  return p;
}

// ---- environment --------------------------------------------------------------------------------

struct Env {
  pid_t pid = getpid();
  std::string cg_mount, cg_home, cg_base, bpffs, tmp;
  std::string ns_client, ns_server, veth_c, veth_s;
  std::string warden_binary;
};

// A return-1 program of `type` for `attach`: what TEST_RUN itself costs, and (attached) what any
// cgroup-BPF enforcer costs before it does anything.
int LoadReturnOne(bpf_prog_type type = BPF_PROG_TYPE_CGROUP_SKB,
                  bpf_attach_type attach = BPF_CGROUP_INET_EGRESS) {
  bpf_insn insns[2];
  std::memset(insns, 0, sizeof(insns));
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = 1;
  insns[1].code = BPF_JMP | BPF_EXIT;
  LIBBPF_OPTS(bpf_prog_load_opts, o, .expected_attach_type = attach);
  int fd = bpf_prog_load(type, "wdb_ret1", "GPL", insns, 2, &o);
  if (fd < 0) throw Failure(absl::StrCat("loading a return-1 program: ", strerror(errno)));
  return fd;
}

// TEST_RUN of a raw program fd; returns the kernel's average ns.
uint32_t RawTestRun(int fd, const std::vector<uint8_t>& pkt, uint32_t repeat) {
  std::vector<uint8_t> out(pkt.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(pkt.size()),
              .data_size_out = static_cast<uint32_t>(out.size()),
              .repeat = static_cast<int>(repeat));
  if (bpf_prog_test_run_opts(fd, &o) != 0)
    throw Failure(absl::StrCat("BPF_PROG_TEST_RUN: ", strerror(errno)));
  return o.duration;
}

// ---- [1] TEST_RUN -------------------------------------------------------------------------------

struct TestRunRow {
  std::string label;
  int policy = 0, ipcache = 0;
  // repeated (ns, kernel average over `repeat` runs)
  double rep_early = 0, rep_ct = 0, rep_deny = 0;
  // single-shot medians, raw and corrected by the timer cost
  double ss_hit = 0, ss_ct = 0, ss_deny = 0, ss_early = 0, ss_random = 0, ss_newflow = 0;
};

struct TestRunResult {
  double rep_harness = 0, ss_harness = 0;
  std::vector<TestRunRow> rows;
};

struct TestRunConfig {
  std::string label;
  int policy, ipcache;
  bool guaranteed = false;  // the pod's cgroup at kubepods/pod<uid> (the first pod level)
};

// For profiling (perf record -a): with `loop_path` set, runs only that path against the 100k
// tables for `loop_s` seconds and returns no rows.
TestRunResult RunTestRun(const Env& env, uint32_t repeat, int single,
                         const std::string& loop_path = "", int loop_s = 0) {
  TestRunResult res;
  Cleanup cleanup;  // runs when this part ends, also on an exception
  const std::string base = env.cg_base + "/p1";
  const std::string pod = base + "/kubepods/burstable/pod-bench";
  const std::string guaranteed_pod = base + "/kubepods/pod-bench-g";
  for (const char* sub :
       {"", "/kubepods", "/kubepods/burstable", "/kubepods/burstable/pod-bench",
        "/kubepods/burstable/pod-bench/c1", "/kubepods/pod-bench-g", "/kubepods/pod-bench-g/c1"}) {
    Mkdirs(base + sub);
  }
  BpfDatapath::Options opts;
  opts.bpffs_dir = env.bpffs + "/p1";
  opts.max_ipcache_entries = 131072;
  std::shared_ptr<BpfDatapath> dp = Must(BpfDatapath::Open(opts), "opening the datapath");
  cleanup.Add("datapath p1", [dp] { dp->DetachAndUnpin().IgnoreError(); });
  int ret1 = LoadReturnOne();
  cleanup.Add("return-1 program", [ret1] { close(ret1); });

  uint64_t pod_id = Must(common::CgroupId(pod), "cgroup id");
  uint64_t guaranteed_id = Must(common::CgroupId(guaranteed_pod), "cgroup id");
  uint64_t kubepods_id = Must(common::CgroupId(base + "/kubepods"), "cgroup id");
  uint32_t kubepods_level = Must(common::CgroupLevel(base + "/kubepods"), "cgroup level");
  NodeConfig cfg;
  cfg.kubepods_cgroup_id = kubepods_id;
  cfg.kubepods_level = kubepods_level;
  cfg.pod_levels[0] = kubepods_level + 1;
  cfg.pod_levels[1] = kubepods_level + 2;

  // Run packets as a process of the pod (TEST_RUN's socket takes the caller's cgroup), on one CPU.
  cpu_set_t old_affinity;
  sched_getaffinity(0, sizeof(old_affinity), &old_affinity);
  Must(common::MoveToCgroup(pod + "/c1", getpid()), "entering the pod cgroup");
  std::string home = env.cg_home;
  cleanup.Add("leave the pod cgroup", [home, old_affinity] {
    common::MoveToCgroup(home, getpid()).IgnoreError();
    sched_setaffinity(0, sizeof(old_affinity), &old_affinity);
  });
  PinToCpu(1);

  const uint32_t local_addr =
      (10u << 24) | (244u << 16) | 7;  // the pod's own address (not looked up)
  const uint16_t sport = 40000;
  int ct_fd = dp->MapFd("wd_ct");
  int verdicts_fd = dp->MapFd("wd_verdicts");
  std::vector<uint8_t> arp = ArpPacket();

  // Harness, repeated.
  {
    std::vector<double> v;
    for (int r = 0; r < 5; ++r) v.push_back(RawTestRun(ret1, arp, repeat));
    res.rep_harness = Median(v);
  }

  const std::vector<TestRunConfig> configs = {
      {"10", 10, 10},
      {"10k", 10000, 10000},
      {"100k", 100000, 100000},
      {"100k policy, 10 ipcache", 100000, 10},
      {"10 policy, 100k ipcache", 10, 100000},
      {"10k, Guaranteed pod", 10000, 10000, true},
  };
  const int passes = 2;
  std::vector<std::vector<TestRunRow>> per_pass(configs.size());
  std::vector<double> ss_harness_all;
  std::mt19937 rng(7);
  auto noop = [](const wd_event&) {};

  for (int pass = 0; pass < passes; ++pass) {
    for (size_t ci = 0; ci < configs.size(); ++ci) {
      CheckInterrupted();
      if (!loop_path.empty() && ci != 2) continue;
      const TestRunConfig& c = configs[ci];
      // Destinations: remotes with an egress entry of local 256 (hits), and the next remote (an
      // ipcache entry whose policy belongs to another local identity: a miss, denied).
      std::vector<uint32_t> hits;
      for (int q = 0; q < 4; ++q) {
        uint32_t e = static_cast<uint32_t>(static_cast<int64_t>(c.policy) * q / 4);
        e -= e % (2 * kLocals);
        if (std::find(hits.begin(), hits.end(), e) == hits.end()) hits.push_back(e);
      }
      TableSpec spec;
      spec.policy_entries = c.policy;
      spec.ipcache_remotes = c.ipcache;
      for (uint32_t e : hits) {
        spec.required_remotes.push_back(e);
        spec.required_remotes.push_back(e + 1);
      }
      // A Burstable pod's endpoint is found at the second pod level (kubepods/burstable/pod<uid>),
      // after a miss at the first; a Guaranteed pod's at the first.
      spec.endpoints = {{c.guaranteed ? guaranteed_id : pod_id, kLocalBase}};
      Must(common::MoveToCgroup((c.guaranteed ? guaranteed_pod : pod) + "/c1", getpid()),
           "entering the pod cgroup");
      const uint64_t self_cgroup =
          Must(common::CgroupId((c.guaranteed ? guaranteed_pod : pod) + "/c1"), "cgroup id");
      NodeTables tables = BuildTables(spec);
      auto t0 = Clock::now();
      Must(dp->Apply(tables, cfg), "applying tables");
      double apply_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      if (pass == 0) {
        std::printf(
            "  tables %-24s %7zu policy entries, %7zu ipcache entries (written in %.0f ms)\n",
            c.label.c_str(), tables.policy.size(), tables.ipcache.size(), apply_ms);
        std::fflush(stdout);
      }
      // Random peers for the single-shot "random peer" runs: remotes with an egress entry of
      // local 256 and an ipcache entry.
      std::vector<uint32_t> random_peers;
      int span = std::min(c.policy, c.ipcache);
      for (int r = 0; r < 4096; ++r) {
        uint32_t e = rng() % std::max(1, span);
        e -= e % (2 * kLocals);
        random_peers.push_back(e);
      }
      auto hit_pkt = [&](uint32_t e) { return Ipv4Tcp(local_addr, RemoteAddr(e), sport, kPort); };
      auto ct_key = [&](uint32_t e) {
        wd_ct_key k;
        std::memset(&k, 0, sizeof(k));
        k.cgroup_id = self_cgroup;  // conntrack is keyed by the socket's own cgroup
        k.family = WD_AF_INET;
        k.protocol = IPPROTO_TCP;
        k.local_port = sport;
        k.remote_port = kPort;
        uint32_t net = htonl(RemoteAddr(e));
        std::memcpy(k.remote_addr, &net, 4);
        return k;
      };
      // The cached egress verdict of (this cgroup, remote e, TCP kPort): deleted to time a
      // decision.
      auto verdict_key = [&](uint32_t e) {
        wd_verdict_key k;
        std::memset(&k, 0, sizeof(k));
        k.cgroup_id = self_cgroup;
        k.family = WD_AF_INET;
        k.protocol = IPPROTO_TCP;
        k.direction = WD_DIR_EGRESS;
        k.port = kPort;
        uint32_t net = htonl(RemoteAddr(e));
        std::memcpy(k.remote_addr, &net, 4);
        return k;
      };
      auto run = [&](const std::vector<uint8_t>& pkt, uint32_t rep, uint32_t want) {
        uint32_t ns = 0;
        uint32_t v = Must(dp->TestRun("wd_egress", pkt, rep, &ns), "TEST_RUN wd_egress");
        if (v != want)
          throw Failure(absl::StrCat("wd_egress returned ", v, ", expected ", want, " (tables ",
                                     c.label, ")"));
        return static_cast<double>(ns);
      };
      TestRunRow row;
      row.label = c.label;
      row.policy = static_cast<int>(tables.policy.size());
      row.ipcache = static_cast<int>(tables.ipcache.size());

      if (!loop_path.empty() && ci == 2) {
        auto pkt = hit_pkt(hits[0]), miss = hit_pkt(hits[0] + 1);
        wd_ct_key key = ct_key(hits[0]);
        run(pkt, 1, 1);
        auto until = Clock::now() + std::chrono::seconds(loop_s);
        uint64_t n = 0;
        while (Clock::now() < until) {
          CheckInterrupted();
          if (loop_path == "ct") run(pkt, repeat, 1);
          if (loop_path == "deny") run(miss, repeat, 0);
          if (loop_path == "early") run(arp, repeat, 1);
          if (loop_path == "harness") RawTestRun(ret1, arp, repeat);
          if (loop_path == "hit") {
            for (int i = 0; i < 1000; ++i) {
              bpf_map_delete_elem(ct_fd, &key);
              run(pkt, 1, 1);
            }
            Must(dp->PollEvents(0, noop), "draining events");
          }
          ++n;
        }
        std::printf("  loop %s: %llu calls\n", loop_path.c_str(),
                    static_cast<unsigned long long>(n));
        return res;
      }
      // Repeated: early return, conntrack hit, deny.
      {
        std::vector<double> v;
        for (int r = 0; r < 3; ++r) v.push_back(run(arp, repeat, 1));
        row.rep_early = Median(v);
      }
      std::vector<double> ct_means, deny_means;
      for (uint32_t e : hits) {
        auto pkt = hit_pkt(e);
        run(pkt, 1, 1);  // admits the flow: from here on a conntrack hit
        std::vector<double> v;
        for (int r = 0; r < 3; ++r) v.push_back(run(pkt, repeat, 1));
        ct_means.push_back(Median(v));
        auto miss = hit_pkt(e + 1);
        v.clear();
        for (int r = 0; r < 3; ++r) v.push_back(run(miss, repeat, 0));
        deny_means.push_back(Median(v));
      }
      row.rep_ct = Mean(ct_means);
      row.rep_deny = Mean(deny_means);

      // Single-shot, interleaved: policy hit (conntrack entry deleted first), conntrack hit, deny,
      // early return, return-1 program, random-peer policy hit.
      std::vector<double> s_hit, s_ct, s_deny, s_early, s_harness, s_random, s_newflow;
      std::vector<std::vector<uint8_t>> hit_pkts, miss_pkts;
      std::vector<wd_ct_key> hit_keys;
      std::vector<wd_verdict_key> hit_vkeys, miss_vkeys;
      for (uint32_t e : hits) {
        hit_pkts.push_back(hit_pkt(e));
        miss_pkts.push_back(hit_pkt(e + 1));
        hit_keys.push_back(ct_key(e));
        hit_vkeys.push_back(verdict_key(e));
        miss_vkeys.push_back(verdict_key(e + 1));
      }
      std::vector<std::vector<uint8_t>> rnd_pkts;
      std::vector<wd_ct_key> rnd_keys;
      std::vector<wd_verdict_key> rnd_vkeys;
      for (uint32_t e : random_peers) {
        rnd_pkts.push_back(hit_pkt(e));
        rnd_keys.push_back(ct_key(e));
        rnd_vkeys.push_back(verdict_key(e));
      }
      Must(dp->PollEvents(0, noop), "draining events");
      auto counters_before = Must(dp->ReadCounters(), "counters");
      int deleted = 0;
      for (int i = 0; i < single; ++i) {
        size_t h = i % hit_pkts.size();
        // Policy decision: neither the flow nor the verdict is cached.
        if (bpf_map_delete_elem(ct_fd, &hit_keys[h]) == 0) ++deleted;
        if (bpf_map_delete_elem(verdicts_fd, &hit_vkeys[h]) != 0)
          throw Failure("no cached verdict to delete: the verdict cache is not in use");
        s_hit.push_back(run(hit_pkts[h], 1, 1));
        s_ct.push_back(run(hit_pkts[h], 1, 1));
        // A new flow to a peer whose verdict is cached (a new UDP flow, say).
        bpf_map_delete_elem(ct_fd, &hit_keys[h]);
        s_newflow.push_back(run(hit_pkts[h], 1, 1));
        bpf_map_delete_elem(verdicts_fd, &miss_vkeys[h]);  // a decision each time
        s_deny.push_back(run(miss_pkts[h], 1, 0));
        s_early.push_back(run(arp, 1, 1));
        s_harness.push_back(RawTestRun(ret1, arp, 1));
        size_t r = i % rnd_pkts.size();
        bpf_map_delete_elem(ct_fd, &rnd_keys[r]);  // may be absent: random peers repeat
        bpf_map_delete_elem(verdicts_fd, &rnd_vkeys[r]);
        s_random.push_back(run(rnd_pkts[r], 1, 1));
        if (i % 512 == 511) {
          Must(dp->PollEvents(0, noop),
               "draining events");  // as the agent does: the ring never fills
          CheckInterrupted();
        }
      }
      auto counters_after = Must(dp->ReadCounters(), "counters");
      uint64_t policy_allows =
          counters_after[WD_HOOK_EGRESS * WD_REASON_COUNT + WD_REASON_ALLOW_POLICY] -
          counters_before[WD_HOOK_EGRESS * WD_REASON_COUNT + WD_REASON_ALLOW_POLICY];
      if (deleted != single || policy_allows < static_cast<uint64_t>(single)) {
        throw Failure(absl::StrCat(
            "single-shot policy runs did not take the policy path: ", deleted,
            " conntrack deletes, ", policy_allows, " policy allows for ", single, " runs"));
      }
      row.ss_hit = Median(s_hit);
      row.ss_ct = Median(s_ct);
      row.ss_deny = Median(s_deny);
      row.ss_early = Median(s_early);
      row.ss_random = Median(s_random);
      row.ss_newflow = Median(s_newflow);
      ss_harness_all.push_back(Median(s_harness));
      per_pass[ci].push_back(row);
    }
  }
  res.ss_harness = Median(ss_harness_all);
  // Each figure: the median over passes.
  for (size_t ci = 0; ci < configs.size(); ++ci) {
    TestRunRow r = per_pass[ci][0];
    auto med = [&](double TestRunRow::*f) {
      std::vector<double> v;
      for (const auto& p : per_pass[ci]) v.push_back(p.*f);
      return Median(v);
    };
    r.rep_early = med(&TestRunRow::rep_early);
    r.rep_ct = med(&TestRunRow::rep_ct);
    r.rep_deny = med(&TestRunRow::rep_deny);
    r.ss_hit = med(&TestRunRow::ss_hit);
    r.ss_ct = med(&TestRunRow::ss_ct);
    r.ss_deny = med(&TestRunRow::ss_deny);
    r.ss_early = med(&TestRunRow::ss_early);
    r.ss_random = med(&TestRunRow::ss_random);
    r.ss_newflow = med(&TestRunRow::ss_newflow);
    res.rows.push_back(r);
  }
  return res;  // cleanup: back home, datapath unpinned
}

// ---- [2] TCP connections per second -------------------------------------------------------------

struct ConnResult {
  uint64_t conns = 0, errors = 0, warmup = 0;  // warmup: connections of the uncounted warm-up
  int64_t ns = 0;
  double per_s() const { return ns > 0 ? conns * 1e9 / ns : 0; }
};

int OpenNetns(const std::string& name) {
  std::string path = "/var/run/netns/" + name;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Failure(absl::StrCat("opening ", path, ": ", strerror(errno)));
  return fd;
}

// In a child: die with the parent, enter the cgroup, the netns and the CPU.
void EnterChild(const std::string& cgroup, int netns_fd, int cpu) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  if (!common::MoveToCgroup(cgroup, getpid()).ok()) _exit(10);
  if (setns(netns_fd, CLONE_NEWNET) != 0) _exit(11);
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0) _exit(12);
}

// A lane: the client's and the server's cgroups and the server port of one variant of the
// interleaved measurement. The server listens on every lane's port from a socket made in that
// lane's cgroup, and accepted sockets inherit their listener's cgroup; the client moves itself to
// a lane's cgroup before its slice, so the sockets it makes then belong to that cgroup.
struct Lane {
  std::string client_cg, server_cg;
  uint16_t port = 0;
};

[[noreturn]] void ServerMain(const std::vector<Lane>& lanes, int netns_fd, uint32_t addr,
                             int ready_fd) {
  EnterChild(lanes[0].server_cg, netns_fd, 1);
  std::vector<pollfd> fds;
  for (const Lane& lane : lanes) {
    if (!common::MoveToCgroup(lane.server_cg, getpid()).ok()) _exit(16);
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(lane.port);
    a.sin_addr.s_addr = htonl(addr);
    if (bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(ls, 4096) != 0)
      _exit(13);
    fds.push_back(pollfd{ls, POLLIN, 0});
  }
  char ok = 1;
  if (write(ready_fd, &ok, 1) != 1) _exit(14);
  close(ready_fd);
  for (;;) {
    if (poll(fds.data(), fds.size(), -1) <= 0) continue;
    for (auto& p : fds) {
      if (!(p.revents & POLLIN)) continue;
      int c;
      while ((c = accept4(p.fd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0) {
        timeval tv{1, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        char b;
        if (recv(c, &b, 1, 0) == 1) {
          ssize_t w = send(c, &b, 1, MSG_NOSIGNAL);
          (void)w;
        }
        close(
            c);  // the server closes first: TIME_WAIT stays on the server, no client port runs out
      }
    }
  }
}

ConnResult ClientRun(const sockaddr_in& srv, std::chrono::milliseconds d) {
  ConnResult r;
  auto t0 = Clock::now();
  auto end = t0 + d;
  timeval tv{1, 0};
  while (Clock::now() < end) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      ++r.errors;
      continue;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    bool ok = false;
    if (connect(fd, reinterpret_cast<const sockaddr*>(&srv), sizeof(srv)) == 0) {
      char b = 'x', in = 0;
      if (send(fd, &b, 1, MSG_NOSIGNAL) == 1 && recv(fd, &in, 1, 0) == 1 && in == b) {
        ok = recv(fd, &in, 1, 0) == 0;  // the server's FIN
      }
    }
    close(fd);
    ok ? ++r.conns : ++r.errors;
  }
  r.ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  return r;
}

// What the parent asks the client for: connections to `lane` for `ms` after `warmup_ms`.
struct ClientCmd {
  int32_t ms = 0;  // 0: exit
  int32_t warmup_ms = 0;
  int32_t lane = 0;
};

[[noreturn]] void ClientMain(const std::vector<Lane>& lanes, int netns_fd, uint32_t server,
                             int cmd_fd, int res_fd) {
  EnterChild(lanes[0].client_cg, netns_fd, 0);
  // Moving is a write of "0" (this process) to the lane's cgroup.procs, opened once.
  std::vector<int> procs;
  for (const Lane& lane : lanes) {
    int fd = open((lane.client_cg + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) _exit(17);
    procs.push_back(fd);
  }
  int current = 0;
  for (;;) {
    ClientCmd c;
    if (read(cmd_fd, &c, sizeof(c)) != sizeof(c) || c.ms <= 0) _exit(0);
    if (c.lane < 0 || c.lane >= static_cast<int>(lanes.size())) _exit(18);
    if (c.lane != current) {
      if (write(procs[c.lane], "0", 1) != 1) _exit(19);
      current = c.lane;
    }
    sockaddr_in srv{};
    srv.sin_family = AF_INET;
    srv.sin_port = htons(lanes[c.lane].port);
    srv.sin_addr.s_addr = htonl(server);
    ConnResult w = ClientRun(srv, std::chrono::milliseconds(c.warmup_ms));  // not counted
    ConnResult r = ClientRun(srv, std::chrono::milliseconds(c.ms));
    r.warmup = w.conns;
    if (write(res_fd, &r, sizeof(r)) != sizeof(r)) _exit(15);
  }
}

struct ProgStats {
  uint64_t run_time_ns = 0, run_cnt = 0;
};
ProgStats ReadProgStats(int fd) {
  bpf_prog_info info;
  std::memset(&info, 0, sizeof(info));
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0)
    throw Failure(absl::StrCat("reading program info: ", strerror(errno)));
  return ProgStats{info.run_time_ns, info.run_cnt};
}

// Programs attached to a cgroup for one attach type (0 once a detach has taken effect).
uint32_t AttachedCount(int cg_fd, bpf_attach_type type) {
  uint32_t ids[16], cnt = 16, flags = 0;
  if (bpf_prog_query(cg_fd, type, 0, &flags, ids, &cnt) != 0) return 99;
  return cnt;
}

struct TcpResult {
  std::vector<std::string> variants;
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
  // [2a] the interleaved lanes: none, harness, warden; ratios to none, and warden_vs_harness.
  struct Interleaved {
    int rounds = 0, slice_ms = 0;
    std::map<std::string, std::vector<double>> rates;
    std::map<std::string, double> median;
    std::map<std::string, Ratio> ratio;
  } interleaved;
};

// Warm-up of each interleaved slice, not counted: the first connections after the client moved.
constexpr int kSliceWarmupMs = 20;

TcpResult RunTcp(const Env& env, int rounds, int seconds, int il_rounds, int slice_ms,
                 const std::set<std::string>& only) {
  TcpResult res;
  // Declared before the cleanup list, which refers to them.
  std::atomic<bool> drain_stop{false};
  std::thread drainer;
  std::atomic<uint64_t> drained{0};
  Cleanup cleanup;  // runs when this part ends, also on an exception
  const uint32_t client_addr = (10u << 24) | (200u << 16) | 1,
                 server_addr = (10u << 24) | (200u << 16) | 2;
  // Network: two namespaces joined by a veth pair.
  Sh(absl::StrCat("ip netns add ", env.ns_client));
  cleanup.Add("netns " + env.ns_client, [n = env.ns_client] { ShQuiet("ip netns del " + n); });
  Sh(absl::StrCat("ip netns add ", env.ns_server));
  cleanup.Add("netns " + env.ns_server, [n = env.ns_server] { ShQuiet("ip netns del " + n); });
  Sh(absl::StrCat("ip link add ", env.veth_c, " type veth peer name ", env.veth_s));
  cleanup.Add("veth",
              [v = env.veth_c] { ShQuiet("ip link del " + v); });  // gone with the netns if moved
  Sh(absl::StrCat("ip link set ", env.veth_c, " netns ", env.ns_client));
  Sh(absl::StrCat("ip link set ", env.veth_s, " netns ", env.ns_server));
  Sh(absl::StrCat("ip -n ", env.ns_client, " addr add ", AddrText(client_addr), "/24 dev ",
                  env.veth_c));
  Sh(absl::StrCat("ip -n ", env.ns_server, " addr add ", AddrText(server_addr), "/24 dev ",
                  env.veth_s));
  for (const auto& [ns, dev] :
       {std::pair{env.ns_client, env.veth_c}, std::pair{env.ns_server, env.veth_s}}) {
    Sh(absl::StrCat("ip -n ", ns, " link set lo up"));
    Sh(absl::StrCat("ip -n ", ns, " link set ", dev, " up"));
  }
  // Reused client ports may meet the server's TIME_WAIT entries; a wide port range keeps that rare.
  Sh(absl::StrCat("ip netns exec ", env.ns_client,
                  " sysctl -qw net.ipv4.ip_local_port_range=\"1024 65000\""));

  // cgroups: <base>/p2node (Warden attaches here)/kubepods/burstable/pod-{client,server}, and
  // two trees of the same shape for the interleaved lanes: p2plain (nothing attached) and
  // p2harness (return-1 programs).
  const std::string node = env.cg_base + "/p2node";
  const std::string plain = env.cg_base + "/p2plain", harness = env.cg_base + "/p2harness";
  std::vector<Lane> lanes;
  for (const std::string& root : {node, plain, harness}) {
    Lane lane;
    lane.client_cg = root + "/kubepods/burstable/pod-client";
    lane.server_cg = root + "/kubepods/burstable/pod-server";
    lane.port = static_cast<uint16_t>(kPort + lanes.size());
    for (const std::string& d :
         {root, root + "/kubepods", root + "/kubepods/burstable", lane.client_cg, lane.server_cg})
      Mkdirs(d);
    lanes.push_back(lane);
  }
  enum { kLaneWarden = 0, kLanePlain = 1, kLaneHarness = 2 };
  const std::string client_cg = lanes[kLaneWarden].client_cg,
                    server_cg = lanes[kLaneWarden].server_cg;

  // Datapath: 10,000 policy entries, the flow allowed (client egress, server ingress).
  BpfDatapath::Options opts;
  opts.bpffs_dir = env.bpffs + "/p2";
  opts.cgroup_path = node;
  std::shared_ptr<BpfDatapath> keep = Must(BpfDatapath::Open(opts), "opening the datapath");
  BpfDatapath* dpp = keep.get();
  cleanup.Add("datapath p2", [keep] { keep->DetachAndUnpin().IgnoreError(); });
  const uint32_t cid = kLocalBase, sid = kLocalBase + 1;
  TableSpec spec;
  spec.policy_entries = 10000;
  spec.ipcache_remotes = 10000;
  spec.endpoints = {{Must(common::CgroupId(client_cg), "cgroup id"), cid},
                    {Must(common::CgroupId(server_cg), "cgroup id"), sid}};
  spec.extra_ipcache = {{client_addr, cid}, {server_addr, sid}};
  spec.extra_policy = {PolicyKey(cid, sid, WD_DIR_EGRESS), PolicyKey(sid, cid, WD_DIR_INGRESS)};
  NodeTables tables = BuildTables(spec);
  res.policy_entries = static_cast<int>(tables.policy.size());
  NodeConfig cfg;
  cfg.kubepods_cgroup_id = Must(common::CgroupId(node + "/kubepods"), "cgroup id");
  cfg.kubepods_level = Must(common::CgroupLevel(node + "/kubepods"), "cgroup level");
  cfg.pod_levels[0] = cfg.kubepods_level + 1;
  cfg.pod_levels[1] = cfg.kubepods_level + 2;
  Must(dpp->Apply(tables, cfg), "applying tables");
  int node_fd = open(node.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (node_fd < 0) throw Failure("opening " + node);
  cleanup.Add("cgroup fd", [node_fd] { close(node_fd); });

  // iptables (whatever `iptables` is here; Debian 12: the nf_tables backend).
  res.iptables_version = ShOut("iptables -V 2>&1");
  if (res.iptables_version.empty() || res.iptables_version.find("iptables") == std::string::npos) {
    throw Failure(
        "iptables is not installed (apt-get install -y iptables; scripts/setup-deps installs it)");
  }
  const std::string rules_long = env.tmp + "/rules-10k.v4", rules_short = env.tmp + "/rules-1.v4";
  {
    std::ofstream lr(rules_long), sr(rules_short);
    for (std::ofstream* o : {&lr, &sr}) {
      *o << "*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j "
            "ACCEPT\n";
    }
    for (int j = 0; j < 9999; ++j) {
      lr << "-A INPUT -s " << AddrText(RemoteAddr(j)) << "/32 -p tcp -m tcp --dport " << kPort
         << " -j ACCEPT\n";
    }
    for (std::ofstream* o : {&lr, &sr}) {
      *o << "-A INPUT -s " << AddrText(client_addr) << "/32 -p tcp -m tcp --dport " << kPort
         << " -j ACCEPT\nCOMMIT\n";
    }
  }
  const std::string in_server = absl::StrCat("ip netns exec ", env.ns_server, " ");

  // The server and the client.
  int netns_s = OpenNetns(env.ns_server), netns_c = OpenNetns(env.ns_client);
  cleanup.Add("netns fds", [netns_s, netns_c] {
    close(netns_s);
    close(netns_c);
  });
  int ready[2], cmd[2], resp[2];
  if (pipe2(ready, O_CLOEXEC) != 0 || pipe2(cmd, O_CLOEXEC) != 0 || pipe2(resp, O_CLOEXEC) != 0)
    throw Failure("pipe");
  cleanup.Add("pipes", [=] {
    for (int fd : {ready[0], ready[1], cmd[0], cmd[1], resp[0], resp[1]}) close(fd);
  });
  pid_t server = fork();
  if (server < 0) throw Failure("fork");
  if (server == 0) ServerMain(lanes, netns_s, server_addr, ready[1]);
  cleanup.Add("server process", [server] { EndChild(server); });
  char b;
  if (read(ready[0], &b, 1) != 1) throw Failure("the server did not start");
  pid_t client = fork();
  if (client < 0) throw Failure("fork");
  if (client == 0) ClientMain(lanes, netns_c, server_addr, cmd[0], resp[1]);
  cleanup.Add("client process", [client, cmd1 = cmd[1]] {
    ClientCmd exit_cmd;
    ssize_t w = write(cmd1, &exit_cmd, sizeof(exit_cmd));
    (void)w;
    EndChild(client);
  });
  auto run_client = [&](int ms, int lane = kLaneWarden, int warmup_ms = 200) {
    ClientCmd c;
    c.ms = ms;
    c.warmup_ms = warmup_ms;
    c.lane = lane;
    if (write(cmd[1], &c, sizeof(c)) != sizeof(c)) throw Failure("client gone");
    ConnResult r;
    if (read(resp[0], &r, sizeof(r)) != sizeof(r)) throw Failure("client died");
    return r;
  };

  // Variants.
  auto clear_ct = [&] {
    int fd = dpp->MapFd("wd_ct");
    std::vector<wd_ct_key> keys;
    wd_ct_key k, next;
    void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      keys.push_back(next);
      k = next;
      prev = &k;
    }
    for (const auto& key : keys) bpf_map_delete_elem(fd, &key);
  };
  auto detach = [&] {
    for (const char* name : datapath::kProgramNames)
      unlink(absl::StrCat(opts.bpffs_dir, "/links/", name).c_str());
    // The last reference to a link goes in a work item: wait until the cgroup has no programs.
    auto deadline = Clock::now() + std::chrono::seconds(3);
    while (AttachedCount(node_fd, BPF_CGROUP_INET_EGRESS) +
               AttachedCount(node_fd, BPF_CGROUP_INET_INGRESS) +
               AttachedCount(node_fd, BPF_CGROUP_INET4_CONNECT) >
           0) {
      if (Clock::now() > deadline) throw Failure("the programs did not detach");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  cleanup.Add("detach", [opts] {
    for (const char* name : datapath::kProgramNames)
      unlink(absl::StrCat(opts.bpffs_dir, "/links/", name).c_str());
  });
  auto attach = [&] {
    clear_ct();  // every connection of the round is a new flow
    Must(dpp->Attach(), "attaching");
    if (AttachedCount(node_fd, BPF_CGROUP_INET_EGRESS) != 1)
      throw Failure("wd_egress is not attached");
  };
  auto start_drain = [&] {
    drain_stop = false;
    drainer = std::thread([&] {
      while (!drain_stop) {
        dpp->PollEvents(100, [&](const wd_event&) { ++drained; }).IgnoreError();
      }
    });
  };
  auto stop_drain = [&] {
    drain_stop = true;
    if (drainer.joinable()) drainer.join();
  };
  cleanup.Add("event drainer", [&drain_stop, &drainer] {
    drain_stop = true;
    if (drainer.joinable()) drainer.join();
  });
  auto ipt_load = [&](const std::string& file) {
    auto t0 = Clock::now();
    Sh(in_server + "iptables-restore " + file);
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  };
  auto ipt_clear = [&] {
    // Flushing and deleting the built-in chain unhooks it (iptables-nft), so later rounds pay
    // nothing.
    Sh(in_server + "sh -c 'iptables -P INPUT ACCEPT && iptables -F INPUT && iptables -X INPUT'");
  };

  // [2a] Interleaved: none, the floor, Warden, in short slices. Warden stays attached to p2node
  // (events read as the agent reads them) and return-1 programs to p2harness; the client moves
  // between the lanes' cgroups, so switching variants attaches and detaches nothing and the
  // three are measured a few hundred milliseconds apart, again and again: the host's noise,
  // which comes in bursts of seconds, then falls on all three alike.
  if (il_rounds > 0) {
    const std::pair<bpf_prog_type, bpf_attach_type> harness_hooks[] = {
        {BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_EGRESS},
        {BPF_PROG_TYPE_CGROUP_SKB, BPF_CGROUP_INET_INGRESS},
        {BPF_PROG_TYPE_CGROUP_SOCK_ADDR, BPF_CGROUP_INET4_CONNECT}};
    int harness_fd = open(harness.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (harness_fd < 0) throw Failure("opening " + harness);
    std::vector<int> fds{harness_fd};
    Cleanup section;  // closes the links (detaching the return-1 programs) and stops Warden
    section.Add("return-1 programs", [&fds] {
      for (int fd : fds) close(fd);
    });
    for (const auto& [type, attach_type] : harness_hooks) {
      int prog = LoadReturnOne(type, attach_type);
      fds.push_back(prog);
      int l = bpf_link_create(prog, harness_fd, attach_type, nullptr);
      if (l < 0) throw Failure(absl::StrCat("attaching a return-1 program: ", strerror(errno)));
      fds.push_back(l);
    }
    attach();
    start_drain();
    section.Add("warden", [&] {
      stop_drain();
      detach();
    });
    const std::pair<const char*, int> il_lanes[] = {
        {"none", kLanePlain}, {"harness", kLaneHarness}, {"warden", kLaneWarden}};
    auto& il = res.interleaved;
    il.rounds = il_rounds;
    il.slice_ms = slice_ms;
    std::printf("  interleaved: %d rounds x %d ms per lane (+ %d ms warm-up)\n", il_rounds,
                slice_ms, kSliceWarmupMs);
    for (int round = 0; round < il_rounds; ++round) {
      CheckInterrupted();
      for (size_t i = 0; i < std::size(il_lanes); ++i) {
        const auto& [name, lane] = il_lanes[round % 2 ? std::size(il_lanes) - 1 - i : i];
        ConnResult r = run_client(slice_ms, lane, kSliceWarmupMs);
        il.rates[name].push_back(r.per_s());
        res.errors[name] += r.errors;
      }
      if ((round + 1) % 25 == 0 || round + 1 == il_rounds) {
        std::printf("    round %d/%d: none %.0f harness %.0f warden %.0f c/s\n", round + 1,
                    il_rounds, il.rates["none"].back(), il.rates["harness"].back(),
                    il.rates["warden"].back());
        std::fflush(stdout);
      }
    }
    for (const auto& [name, lane] : il_lanes) {
      (void)lane;
      il.median[name] = Median(il.rates[name]);
      il.ratio[name] = RatioStats(il.rates[name], il.rates["none"]);
    }
    il.ratio["warden_vs_harness"] = RatioStats(il.rates["warden"], il.rates["harness"]);
  }

  struct Variant {
    std::string name;
    std::function<void()> setup, teardown;
  };
  std::vector<double> ipt_load_ms;
  std::vector<Variant> variants = {
      {"none", [] {}, [] {}},
      {"warden",
       [&] {
         attach();
         start_drain();
       },
       [&] {
         stop_drain();
         detach();
       }},
      {"warden_noreader", [&] { attach(); },
       [&] {
         detach();
         Must(dpp->PollEvents(0, [](const wd_event&) {}), "drain");
       }},
      {"iptables", [&] { ipt_load_ms.push_back(ipt_load(rules_long)); }, [&] { ipt_clear(); }},
      {"iptables_1rule", [&] { ipt_load(rules_short); }, [&] { ipt_clear(); }},
  };
  if (!only.empty()) {
    // --variants: "none" always runs, every ratio is to it.
    std::erase_if(variants,
                  [&](const Variant& v) { return v.name != "none" && !only.count(v.name); });
  }
  for (const auto& v : variants) res.variants.push_back(v.name);
  const int ms = seconds * 1000;
  for (int round = 0; round < rounds; ++round) {
    std::printf("  round %d/%d:", round + 1, rounds);
    // Odd rounds run the variants in reverse order (ABBA): what one variant leaves behind
    // (iptables' deferred frees, a warm or cold cache) and slow drifts of the machine then
    // weigh on every variant alike instead of always on the one that follows.
    std::vector<size_t> order(variants.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = round % 2 ? order.size() - 1 - i : i;
    for (size_t vi : order) {
      auto& v = variants[vi];
      CheckInterrupted();
      v.setup();
      ConnResult r;
      try {
        r = run_client(ms);
      } catch (...) {
        v.teardown();
        throw;
      }
      v.teardown();
      res.rates[v.name].push_back(r.per_s());
      res.errors[v.name] += r.errors;
      std::printf(" %s %.0f", v.name.c_str(), r.per_s());
      std::fflush(stdout);
    }
    std::printf("\n");
  }
  res.iptables_load_ms = Median(ipt_load_ms);
  res.events_drained = drained;
  for (const auto& v : variants) {
    res.median[v.name] = Median(res.rates[v.name]);
    std::vector<double> r;
    for (size_t i = 0; i < res.rates[v.name].size(); ++i) {
      r.push_back(res.rates[v.name][i] / res.rates["none"][i]);
    }
    res.ratio[v.name] = Median(r);
    res.ratio_min[v.name] = *std::min_element(r.begin(), r.end());
    res.ratio_max[v.name] = *std::max_element(r.begin(), r.end());
  }
  {
    const auto& n = res.rates["none"];
    double m = Mean(n), var = 0;
    for (double x : n) var += (x - m) * (x - m);
    res.none_cv = n.size() > 1 && m > 0 ? std::sqrt(var / (n.size() - 1)) / m : 0;
  }

  // Two more Warden rounds (events read, events not read) with run-time stats on
  // (BPF_ENABLE_STATS: on while its fd is open, the same switch as kernel.bpf_stats_enabled, off
  // again when closed), not part of the medians.
  for (const std::string name : {"warden", "warden_noreader"}) {
    CheckInterrupted();
    auto vit = std::find_if(variants.begin(), variants.end(),
                            [&](const Variant& x) { return x.name == name; });
    if (vit == variants.end()) continue;  // not among --variants
    Variant& v = *vit;
    int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (stats_fd < 0) throw Failure(absl::StrCat("enabling BPF run-time stats: ", strerror(errno)));
    const char* progs[] = {"wd_egress", "wd_ingress", "wd_connect4"};
    std::vector<ProgStats> before, after;
    ConnResult r;
    v.setup();
    try {
      for (const char* p : progs) before.push_back(ReadProgStats(dpp->ProgramFd(p)));
      r = run_client(ms);
      for (const char* p : progs) after.push_back(ReadProgStats(dpp->ProgramFd(p)));
    } catch (...) {
      v.teardown();
      close(stats_fd);
      throw;
    }
    v.teardown();
    close(stats_fd);
    TcpResult::LiveRound lr;
    lr.variant = name;
    lr.rate = r.per_s();
    double conns_all = static_cast<double>(r.conns + r.warmup);  // the warm-up ran the programs too
    for (size_t i = 0; i < std::size(progs); ++i) {
      uint64_t cnt = after[i].run_cnt - before[i].run_cnt,
               t = after[i].run_time_ns - before[i].run_time_ns;
      lr.progs.push_back(
          {progs[i], cnt ? static_cast<double>(t) / cnt : 0, conns_all ? cnt / conns_all : 0});
    }
    res.live.push_back(lr);
  }
  return res;
}

// ---- [3] agent RSS
// --------------------------------------------------------------------------------

std::string PodUid(int i) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "bb000000-0000-4000-8000-%012d", i);
  return buf;
}

// 20 namespaces x 100 pods: the first 1,000 pods on bench-node, the rest on other-node; five
// NetworkPolicies per namespace.
int WriteManifests(const std::string& dir) {
  Mkdirs(dir);
  {
    std::ofstream n(dir + "/nodes.yaml");
    const char* names[] = {"bench-node", "other-node", "empty-node"};
    for (int i = 0; i < 3; ++i) {
      n << (i ? "---\n" : "") << "apiVersion: v1\nkind: Node\nmetadata:\n  name: " << names[i]
        << "\nspec:\n  podCIDR: 10." << 100 + i
        << ".0.0/16\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.168.0." << i + 1
        << "\n";
    }
  }
  int pod = 0;
  const int namespaces = 20, per_ns = 100;
  for (int k = 0; k < namespaces; ++k) {
    std::string ns = absl::StrCat("team", k);
    std::ofstream f(absl::StrCat(dir, "/", ns, ".yaml"));
    f << "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " << ns << "\n  labels:\n    team: t"
      << k % 5 << "\n";
    for (int r = 0; r < per_ns; ++r, ++pod) {
      bool local = pod < 1000;
      int node = local ? 0 : 1;
      f << "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: app" << r % 10 << "-" << r
        << "\n  namespace: " << ns << "\n  uid: " << PodUid(pod) << "\n  labels:\n    app: app"
        << r % 10 << "\n    tier: "
        << (r % 10 < 3   ? "frontend"
            : r % 10 < 7 ? "backend"
                         : "data")
        << "\nspec:\n  nodeName: " << (node == 0 ? "bench-node" : "other-node")
        << "\n  containers:\n  - name: main\n    ports:\n    - name: http\n      containerPort: "
           "8080\n"
        << "    - name: metrics\n      containerPort: 9090\nstatus:\n  podIP: 10." << 100 + node
        << "." << (pod % 1000) / 250 << "." << (pod % 250) + 2 << "\n";
    }
    f << "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: "
         "default-deny\n  namespace: "
      << ns << "\nspec:\n  podSelector: {}\n  policyTypes: [Ingress, Egress]\n";
    f << "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: "
         "same-namespace\n  namespace: "
      << ns
      << "\nspec:\n  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {}\n  egress:\n  - "
         "to:\n    - podSelector: {}\n";
    f << "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: "
         "frontend-from-team\n  namespace: "
      << ns
      << "\nspec:\n  podSelector:\n    matchLabels:\n      tier: frontend\n  ingress:\n  - from:\n"
      << "    - namespaceSelector:\n        matchLabels:\n          team: t" << (k + 1) % 5
      << "\n    ports:\n    - port: http\n";
    f << "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: "
         "backend-to-data\n  namespace: "
      << ns
      << "\nspec:\n  podSelector:\n    matchLabels:\n      tier: backend\n  policyTypes: "
         "[Egress]\n  egress:\n  - to:\n"
      << "    - namespaceSelector: {}\n      podSelector:\n        matchLabels:\n          tier: "
         "data\n    ports:\n"
      << "    - port: 5432\n";
    f << "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: "
         "internet\n  namespace: "
      << ns
      << "\nspec:\n  podSelector:\n    matchLabels:\n      tier: frontend\n  policyTypes: "
         "[Egress]\n  egress:\n  - to:\n"
      << "    - ipBlock:\n        cidr: 0.0.0.0/0\n        except: [10.0.0.0/8]\n    ports:\n    - "
         "port: 443\n";
  }
  return pod;
}

struct AgentRss {
  std::string label;
  long local_pods = 0;
  double rss_mb = 0, hwm_mb = 0, anon_mb = 0, file_mb = 0, pss_mb = 0;
  size_t endpoints = 0, policy = 0, ipcache = 0;
  double ready_ms = 0;
};

AgentRss RunAgent(const Env& env, int index, const std::string& label, const std::string& node_name,
                  const std::string& manifests, const std::string& cgroup_root, long want_pods) {
  AgentRss out;
  out.label = label;
  bool ended = false;
  Cleanup cleanup;
  std::string bpffs = absl::StrCat(env.bpffs, "/agent-", index);
  std::string log = absl::StrCat(env.tmp, "/agent-", index, ".log");
  uint16_t port = FreePort();
  std::vector<std::string> argv = {env.warden_binary, "node",
                                   "--node",          node_name,
                                   "--manifests",     manifests,
                                   "--cgroup-root",   cgroup_root,
                                   "--bpffs",         bpffs,
                                   "--log",           "/dev/null",
                                   "--metrics",       absl::StrCat("127.0.0.1:", port)};
  auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid < 0) throw Failure("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  cleanup.Add("agent " + node_name, [pid, bpffs, &ended] {
    if (!ended) EndChild(pid);
    std::error_code ec;
    fs::remove_all(bpffs, ec);  // removing the link pins detaches the programs
  });
  auto fail = [&](const std::string& why) {
    std::string tail = ShOut("tail -5 " + log);
    throw Failure(absl::StrCat("agent (", label, "): ", why, "; its log ends with:\n", tail));
  };
  std::string pin = bpffs + "/links/wd_sendmsg6";
  auto deadline = Clock::now() + std::chrono::seconds(60);
  for (;;) {
    CheckInterrupted();
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      ended = true;
      fail("exited early");
    }
    if (access(pin.c_str(), F_OK) == 0) {
      std::string m = HttpGet(port, "/metrics");
      long pods = Metric(m, "warden_local_pods");
      if (pods == want_pods && Metric(m, "warden_applies_total") >= 1) {
        out.local_pods = pods;
        break;
      }
    }
    if (Clock::now() > deadline)
      fail(absl::StrCat("not ready with ", want_pods, " local pods in 60 s"));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  out.ready_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  // A few reconcile ticks in steady state (each rescans the pods' cgroups), then read.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  out.rss_mb = StatusKb(pid, "VmRSS") / 1024.0;
  out.hwm_mb = StatusKb(pid, "VmHWM") / 1024.0;
  out.anon_mb = StatusKb(pid, "RssAnon") / 1024.0;
  out.file_mb = StatusKb(pid, "RssFile") / 1024.0;
  {
    std::ifstream in(absl::StrCat("/proc/", pid, "/smaps_rollup"));
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("Pss:", 0) == 0)
        out.pss_mb = std::strtol(line.c_str() + 4, nullptr, 10) / 1024.0;
    }
  }
  // What the agent wrote into its tables.
  if (auto ps = datapath::ReadPinnedState(bpffs); ps.ok()) {
    out.endpoints = ps->live.endpoints.size();
    out.policy = ps->live.policy.size();
    out.ipcache = ps->live.ipcache.size();
  }
  EndChild(pid, std::chrono::milliseconds(5000));
  ended = true;
  std::error_code ec;
  fs::remove_all(bpffs, ec);
  return out;
}

std::vector<AgentRss> RunRss(const Env& env) {
  std::vector<AgentRss> out;
  const std::string manifests = env.tmp + "/manifests", empty = env.tmp + "/empty";
  int pods = WriteManifests(manifests);
  Mkdirs(empty);
  // The node's cgroups as kubelet (cgroupfs driver) names them, for the 1,000 local pods.
  const std::string root = env.cg_base + "/p3node";
  Mkdirs(root + "/kubepods/burstable");
  for (int i = 0; i < 1000; ++i) Mkdirs(absl::StrCat(root, "/kubepods/burstable/pod", PodUid(i)));
  std::printf(
      "  manifests: %d pods (1000 on bench-node), 100 NetworkPolicies; 1000 pod cgroups under %s\n",
      pods, root.c_str());
  std::fflush(stdout);
  out.push_back(RunAgent(env, 1, "1000 local pods", "bench-node", manifests, root, 1000));
  out.push_back(RunAgent(env, 2, "0 local pods, same manifests", "empty-node", manifests, root, 0));
  out.push_back(RunAgent(env, 3, "empty manifest dir", "empty-node", empty, root, 0));
  return out;
}

// ---- main
// -----------------------------------------------------------------------------------------

std::string Fmt(double v, int prec = 1) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", prec, v);
  return buf;
}

int Main(int argc, char** argv) {
  if (ArgFlag(argc, argv, "-h") || ArgFlag(argc, argv, "--help")) {
    std::printf(
        "usage: datapath_bench [--rounds N (16)] [--seconds S (1)] [--repeat N (1000000)] "
        "[--single "
        "N (20000)]\n"
        "                      [--skip-testrun] [--skip-tcp] [--skip-rss]\n"
        "                      [--interleaved-rounds N (150)] [--slice-ms MS (100)] "
        "[--skip-interleaved]\n"
        "                      [--variants warden,warden_noreader,iptables,iptables_1rule]\n"
        "       datapath_bench --skip-tcp --skip-rss --loop ct|deny|early|harness|hit "
        "[--loop-seconds S (10)]\n"
        "                      (only that TEST_RUN path on the 100k tables, for perf record -a)\n"
        "needs root: loads BPF programs, creates network namespaces and cgroups, runs warden "
        "node\n");
    return 0;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr,
                 "datapath_bench: must run as root (it loads BPF programs, attaches them to "
                 "cgroups, creates "
                 "network namespaces and runs `warden node`): sudo %s\n",
                 argv[0]);
    return 2;
  }
  const int rounds = ArgInt(argc, argv, "--rounds", 16);
  const int seconds = ArgInt(argc, argv, "--seconds", 1);
  const int il_rounds = ArgFlag(argc, argv, "--skip-interleaved")
                            ? 0
                            : ArgInt(argc, argv, "--interleaved-rounds", 150);
  const int slice_ms = ArgInt(argc, argv, "--slice-ms", 100);
  const uint32_t repeat = ArgInt(argc, argv, "--repeat", 1000000);
  const int single = ArgInt(argc, argv, "--single", 20000);
  const bool do_testrun = !ArgFlag(argc, argv, "--skip-testrun");
  const bool do_tcp = !ArgFlag(argc, argv, "--skip-tcp");
  const bool do_rss = !ArgFlag(argc, argv, "--skip-rss");
  std::set<std::string> only;
  for (absl::string_view v :
       absl::StrSplit(ArgStr(argc, argv, "--variants", ""), ',', absl::SkipEmpty()))
    only.insert(std::string(v));

  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);
  libbpf_set_print([](libbpf_print_level level, const char* fmt, va_list ap) {
    return level == LIBBPF_WARN ? std::vfprintf(stderr, fmt, ap) : 0;
  });

  Env env;
  std::string key_values;
  Cleanup cleanup;
  auto t_start = Clock::now();
  try {
    env.cg_mount = Must(common::FindCgroup2Mount(), "finding cgroup2");
    env.cg_home = Must(common::CgroupOfProcess(0), "this process's cgroup");
    env.cg_base = absl::StrCat(env.cg_mount, "/warden-bench-", env.pid);
    env.bpffs = absl::StrCat("/sys/fs/bpf/warden-bench-", env.pid);
    env.tmp = absl::StrCat("/tmp/warden-bench-", env.pid);
    env.ns_client = absl::StrCat("wdb-", env.pid, "-c");
    env.ns_server = absl::StrCat("wdb-", env.pid, "-s");
    env.veth_c = absl::StrCat("wdb", env.pid, "c");
    env.veth_s = absl::StrCat("wdb", env.pid, "s");
    env.warden_binary = (fs::read_symlink("/proc/self/exe").parent_path() / "warden").string();

    // Registered first, so they run last.
    cleanup.Add("tmp", [t = env.tmp] {
      std::error_code ec;
      fs::remove_all(t, ec);
    });
    cleanup.Add("cgroups", [b = env.cg_base, h = env.cg_home] {
      common::MoveToCgroup(h, getpid()).IgnoreError();
      RemoveCgroupTree(b);
    });
    cleanup.Add("bpffs", [d = env.bpffs] {
      std::error_code ec;
      fs::remove_all(d, ec);
    });
    Mkdirs(env.tmp);
    Mkdirs(env.cg_base);
    {
      std::ifstream s("/proc/sys/kernel/bpf_stats_enabled");
      int v = 0;
      s >> v;
      if (v)
        std::printf(
            "note: kernel.bpf_stats_enabled is already 1: every program run pays for its own "
            "timing\n");
    }
    std::printf(
        "datapath_bench: pid %d; netns %s/%s, cgroup %s, bpffs %s, tmp %s (all removed at exit)\n",
        env.pid, env.ns_client.c_str(), env.ns_server.c_str(), env.cg_base.c_str(),
        env.bpffs.c_str(), env.tmp.c_str());
    std::printf("machine: %s, %ld CPUs, kernel %s\n",
                ShOut("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'").c_str(),
                sysconf(_SC_NPROCESSORS_ONLN), ShOut("uname -r").c_str());
    std::fflush(stdout);

    // [1]
    if (do_testrun) {
      std::printf(
          "\n[1] wd_egress per packet, BPF_PROG_TEST_RUN (repeated: kernel average over %u runs, "
          "median of 3; "
          "single-shot: median of %d runs of 1)\n",
          repeat, single);
      std::fflush(stdout);
      std::string loop_path;
      for (int i = 1; i + 1 < argc; ++i) {
        if (std::string(argv[i]) == "--loop") loop_path = argv[i + 1];
      }
      TestRunResult tr =
          RunTestRun(env, repeat, single, loop_path, ArgInt(argc, argv, "--loop-seconds", 10));
      if (!loop_path.empty()) return 0;
      double timer = tr.ss_harness - tr.rep_harness;  // what one single-shot run adds (timer reads)
      std::printf(
          "  harness (return-1 program): %.1f ns repeated, %.1f ns single-shot -> timer cost of a "
          "single run %.1f ns\n",
          tr.rep_harness, tr.ss_harness, timer);
      std::printf("  single-shot figures below are net of that timer cost (raw minus %.1f ns)\n\n",
                  timer);
      std::printf("  %-24s %8s %8s | %9s %9s %9s | %9s %9s %9s %9s %9s %11s\n", "tables", "policy",
                  "ipcache", "early-ret", "PACKET", "deny*", "DECISION", "new-flow", "deny",
                  "packet", "early-ret", "random-peer");
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
      const TestRunRow &a = tr.rows[0], &b = tr.rows[1], &c = tr.rows[2];
      double hit10 = a.ss_hit - timer, hit10k = b.ss_hit - timer, hit100k = c.ss_hit - timer;
      double flat = hit100k / hit10;
      double pkt_flat = c.rep_ct / a.rep_ct;
      std::printf(
          "\n  per packet: %.1f / %.1f / %.1f ns at 10 / 10k / 100k entries; 100k/10 = %.2f\n",
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
      absl::StrAppend(
          &key_values, "packet_ns_10=", Fmt(a.rep_ct), " packet_ns_10k=", Fmt(b.rep_ct),
          " packet_ns_100k=", Fmt(c.rep_ct), " packet_flat_ratio=", Fmt(pkt_flat, 2),
          " decision_ns_10=", Fmt(hit10), " decision_ns_10k=", Fmt(hit10k),
          " decision_ns_100k=", Fmt(hit100k), " decision_flat_ratio=", Fmt(flat, 2),
          " new_flow_ns_10k=", Fmt(b.ss_newflow - timer), " deny_ns_10=", Fmt(a.ss_deny - timer),
          " deny_ns_10k=", Fmt(b.ss_deny - timer), " deny_ns_100k=", Fmt(c.ss_deny - timer),
          " random_peer_ns_100k=", Fmt(c.ss_random - timer), " early_return_ns=", Fmt(b.rep_early),
          " harness_ns=", Fmt(tr.rep_harness), " timer_ns=", Fmt(timer), " ");
      const TestRunRow &pol_only = tr.rows[3], &ipc_only = tr.rows[4], &guar = tr.rows[5];
      std::printf(
          "  policy decision with one table large: 10 policy + 100k ipcache %.1f ns, 100k policy "
          "+ 10 ipcache %.1f ns\n",
          ipc_only.ss_hit - timer, pol_only.ss_hit - timer);
      std::printf(
          "  endpoint found at the first pod level (Guaranteed) vs the second (Burstable), "
          "10k: packet %.1f vs %.1f ns, decision %.1f vs %.1f ns\n",
          guar.rep_ct, b.rep_ct, guar.ss_hit - timer, hit10k);
      absl::StrAppend(&key_values,
                      "decision_ns_100k_policy_10_ipcache=", Fmt(pol_only.ss_hit - timer),
                      " decision_ns_10_policy_100k_ipcache=", Fmt(ipc_only.ss_hit - timer),
                      " packet_ns_guaranteed=", Fmt(guar.rep_ct),
                      " decision_ns_10k_guaranteed=", Fmt(guar.ss_hit - timer), " ");
      std::fflush(stdout);
    }

    // [2]
    if (do_tcp) {
      std::printf(
          "\n[2] TCP connect + 1-byte echo + close between two netns over veth (client CPU 0, "
          "server CPU 1), "
          "%d rounds x %d s per variant, alternated\n",
          rounds, seconds);
      std::fflush(stdout);
      TcpResult t = RunTcp(env, rounds, seconds, il_rounds, slice_ms, only);
      double none = t.median["none"];
      std::printf("\n  %-16s %11s %9s %15s %7s   %s\n", "variant", "median c/s", "vs none",
                  "(range)", "errors", "what");
      std::map<std::string, std::string> what = {
          {"none", "no program attached"},
          {"warden", absl::StrCat("Warden, ", t.policy_entries,
                                  " policy entries, events read as the agent reads them")},
          {"warden_noreader", "Warden, nobody reading events (ring buffer full after ~3,600)"},
          {"iptables", absl::StrCat("server INPUT: ctstate ESTABLISHED,RELATED accept, 9,999 "
                                    "non-matching -s rules, allow LAST, policy DROP")},
          {"iptables_1rule",
           "server INPUT: ctstate accept + the allowing rule only (conntrack alone)"},
      };
      for (const auto& v : t.variants) {
        std::printf("  %-16s %11.0f %9.3f  (%5.3f-%5.3f) %7llu   %s\n", v.c_str(), t.median[v],
                    t.ratio[v], t.ratio_min[v], t.ratio_max[v],
                    static_cast<unsigned long long>(t.errors[v]), what[v].c_str());
      }
      std::printf(
          "  (vs none: the median over rounds of variant / none of the same round; range: "
          "min-max)\n");
      std::printf(
          "  spread of the no-program rate across rounds: %.1f%% (stddev / mean)%s\n",
          t.none_cv * 100,
          t.none_cv > 0.10 ? ": NOISY, something else is using the CPUs; rerun when idle" : "");
      std::printf("  iptables: %s, 10,001 rules loaded with iptables-restore in %.0f ms\n",
                  t.iptables_version.c_str(), t.iptables_load_ms);
      std::printf("  events read during Warden rounds: %llu\n",
                  static_cast<unsigned long long>(t.events_drained));
      std::map<std::string, double> bpf_per_conn;
      for (const auto& lr : t.live) {
        std::printf("  live program cost, extra %s round with BPF run-time stats (%.0f c/s):\n",
                    lr.variant.c_str(), lr.rate);
        double per_conn_ns = 0;
        for (const auto& l : lr.progs) {
          std::printf("    %-12s %7.1f ns per run, %5.2f runs per connection\n", l.prog.c_str(),
                      l.avg_ns, l.per_conn);
          per_conn_ns += l.avg_ns * l.per_conn;
        }
        std::printf(
            "    -> %.0f ns of BPF per connection = %.1f%% of a connection's %.1f us at the "
            "no-program rate\n",
            per_conn_ns, none > 0 ? per_conn_ns / (1e9 / none) * 100 : 0,
            none > 0 ? 1e6 / none : 0);
        bpf_per_conn[lr.variant] = per_conn_ns;
      }
      const auto& il = t.interleaved;
      if (il.rounds > 0) {
        std::printf(
            "\n  interleaved (%d rounds; each round runs every lane for %d ms, odd rounds in "
            "reverse order):\n",
            il.rounds, il.slice_ms);
        std::printf("  %-18s %11s %9s %17s %9s   %s\n", "lane", "median c/s", "vs none",
                    "(quartiles)", "+/- s.e.", "what");
        const std::pair<const char*, const char*> rows[] = {
            {"none", "no program on the lane's cgroups"},
            {"harness", "return-1 programs on egress, ingress and connect4: the floor"},
            {"warden", "Warden attached, events read as the agent reads them"}};
        for (const auto& [name, what] : rows) {
          const Ratio& r = il.ratio.at(name);
          std::printf("  %-18s %11.0f %9.3f  (%6.3f-%6.3f) %9.3f   %s\n", name, il.median.at(name),
                      r.median, r.p25, r.p75, r.se, what);
        }
        const Ratio& wh = il.ratio.at("warden_vs_harness");
        std::printf("  %-18s %11s %9.3f  (%6.3f-%6.3f) %9.3f   %s\n", "warden / harness", "",
                    wh.median, wh.p25, wh.p75, wh.se, "what Warden's own work costs");
        std::printf(
            "  (per round: lane / none of the same round; median over rounds, quartiles, standard "
            "error of the median)\n");
      }
      const Ratio& iw = il.ratio.count("warden") ? il.ratio.at("warden") : Ratio{};
      double wr = il.rounds > 0 ? iw.median : t.ratio["warden"];
      std::printf("  target: Warden within 5%% of no program: %s (warden/none = %.3f%s)\n",
                  wr >= 0.95 ? "met" : "MISSED", wr,
                  il.rounds > 0
                      ? absl::StrCat(", interleaved; +/- ", Fmt(iw.se, 3), " s.e.").c_str()
                      : ", rounds");
      // Keys of the variants that ran (--variants may leave some out).
      auto ran = [&](const char* v) {
        return std::find(t.variants.begin(), t.variants.end(), v) != t.variants.end();
      };
      absl::StrAppend(&key_values, "conn_per_s_none=", Fmt(none, 0));
      for (const char* v : {"warden", "warden_noreader", "iptables", "iptables_1rule"}) {
        if (ran(v)) absl::StrAppend(&key_values, " conn_per_s_", v, "=", Fmt(t.median[v], 0));
      }
      if (ran("warden"))
        absl::StrAppend(&key_values, " warden_vs_none_rounds=", Fmt(t.ratio["warden"], 3));
      for (const char* v : {"warden_noreader", "iptables", "iptables_1rule"}) {
        if (ran(v)) absl::StrAppend(&key_values, " ", v, "_vs_none=", Fmt(t.ratio[v], 3));
      }
      absl::StrAppend(&key_values, " none_spread_pct=", Fmt(t.none_cv * 100, 1));
      if (il.rounds > 0) {
        absl::StrAppend(&key_values, " harness_vs_none=", Fmt(il.ratio.at("harness").median, 3),
                        " warden_vs_harness=", Fmt(il.ratio.at("warden_vs_harness").median, 3),
                        " warden_vs_none_se=", Fmt(iw.se, 3));
      }
      absl::StrAppend(&key_values, " warden_vs_none=", Fmt(wr, 3));
      for (const auto& lr : t.live) {
        std::string suffix = lr.variant == "warden" ? "" : "_noreader";
        for (const auto& l : lr.progs)
          absl::StrAppend(&key_values, " live_", l.prog, suffix, "_ns=", Fmt(l.avg_ns));
        absl::StrAppend(&key_values, " bpf_ns_per_conn", suffix, "=",
                        Fmt(bpf_per_conn[lr.variant], 0));
      }
      absl::StrAppend(&key_values, " ");
      uint64_t errs = 0;
      for (const auto& [_, e] : t.errors) errs += e;
      absl::StrAppend(&key_values, "conn_errors=", errs, " ");
      std::fflush(stdout);
    }

    // [3]
    if (do_rss) {
      std::printf("\n[3] `warden node` memory (%s)\n", env.warden_binary.c_str());
      std::fflush(stdout);
      if (access(env.warden_binary.c_str(), X_OK) != 0) {
        throw Failure(env.warden_binary +
                      " is missing: build the `warden` target (scripts/bench datapath does)");
      }
      auto rs = RunRss(env);
      std::printf("  %-30s %6s %9s %9s %9s %9s %7s %9s   %s\n", "agent", "pods", "VmRSS MB",
                  "VmHWM MB", "anon MB", "file MB", "Pss MB", "ready ms",
                  "tables (endpoints/policy/ipcache)");
      for (const auto& r : rs) {
        std::printf("  %-30s %6ld %9.1f %9.1f %9.1f %9.1f %7.1f %9.0f   %zu/%zu/%zu\n",
                    r.label.c_str(), r.local_pods, r.rss_mb, r.hwm_mb, r.anon_mb, r.file_mb,
                    r.pss_mb, r.ready_ms, r.endpoints, r.policy, r.ipcache);
      }
      std::printf("  target < 30 MB with 1,000 local pods: %s (VmRSS %.1f MB, peak %.1f MB)\n",
                  std::max(rs[0].rss_mb, rs[0].hwm_mb) < 30 ? "met" : "MISSED", rs[0].rss_mb,
                  rs[0].hwm_mb);
      absl::StrAppend(&key_values, "agent_rss_mb_1000=", Fmt(rs[0].rss_mb),
                      " agent_hwm_mb_1000=", Fmt(rs[0].hwm_mb),
                      " agent_rss_mb_0=", Fmt(rs[1].rss_mb), " agent_hwm_mb_0=", Fmt(rs[1].hwm_mb),
                      " agent_rss_mb_empty=", Fmt(rs[2].rss_mb), " ");
    }
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "datapath_bench: %s\n", e.what());
    cleanup.RunAll();
    return 1;
  }
  cleanup.RunAll();
  double total_s = std::chrono::duration<double>(Clock::now() - t_start).count();
  absl::StrAppend(&key_values, "total_s=", Fmt(total_s, 0));
  std::printf("\n%s\n", key_values.c_str());
  return 0;
}

}  // namespace
}  // namespace warden::bench

int main(int argc, char** argv) { return warden::bench::Main(argc, argv); }
