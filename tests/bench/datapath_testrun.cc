#include "tests/bench/datapath_testrun.h"

#include <bpf/bpf.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "agent/common/cgroup.h"
#include "agent/datapath/bpf_datapath.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/datapath_tables.h"
#include "tests/bench/raw_bpf.h"
#include "tests/lib/cleanup.h"
#include "tests/lib/kubelet_node.h"
#include "tests/lib/packets.h"
#include "tests/lib/stats.h"
#include "tests/lib/timing.h"

namespace warden::bench {
namespace {

using datapath::BpfDatapath;
using testlib::Median;

struct TestRunConfig {
  std::string label;
  int policy, ipcache;
  bool guaranteed = false;  // the pod's cgroup at kubepods/pod<uid>, the second pod level tried
  int port_ranges = 1;      // of the allowing port set: more than 2 make it a run (a search)
};

const std::vector<TestRunConfig> kConfigs = {
    {"10", 10, 10},
    {"10k", 10000, 10000},
    {"100k", 100000, 100000},
    {"100k policy, 10 ipcache", 100000, 10},
    {"10 policy, 100k ipcache", 10, 100000},
    {"10k, Guaranteed pod", 10000, 10000, true},
    {"10k, a port set of 1,000 ranges", 10000, 10000, false, 1000},
};
constexpr size_t kLoopConfig = 2;  // the 100k tables
constexpr int kPasses = 2;
constexpr uint32_t kLocalAddr = (10u << 24) | (244u << 16) | 7;  // the pod's own (not looked up)
constexpr uint16_t kSport = 40000;

// One destination: its packet, and the keys under which the datapath caches its flow and its
// verdict (deleted to time a decision).
struct Probe {
  std::vector<uint8_t> packet;
  wd_ct_key ct;
  wd_verdict_key verdict;
};

void PinToCpu(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof(set), &set) != 0)
    throw Failure(absl::StrCat("pinning to CPU ", cpu, ": ", strerror(errno)));
}

// Warden's datapath with a kubelet-like tree <cgroups>/p1 holding a Burstable and a Guaranteed
// pod, and a return-1 program. This process runs packets from a pod's container (TEST_RUN gives
// the packet a socket of the caller's cgroup), pinned to CPU 1. When the rig goes, the process
// is back home on its CPUs and the datapath unpinned.
class TestRunRig {
 public:
  explicit TestRunRig(const DatapathEnv& env);

  // Writes the tables of `c` (with the hit remotes and their neighbours in the ipcache) and
  // moves into the pod's container; returns the row to fill.
  TestRunRow Load(const TestRunConfig& c, const std::vector<uint32_t>& hits, double* apply_ms);
  // wd_egress on `pkt` `repeat` times: the kernel's average ns. Throws unless it returns `want`.
  double Run(const std::vector<uint8_t>& pkt, uint32_t repeat, uint32_t want);
  double RunArp(uint32_t repeat) { return Run(arp_, repeat, 1); }
  double Harness(uint32_t repeat) { return RawTestRun(ret1_, arp_, repeat); }
  // Destination remote e, from the current pod.
  Probe ProbeOf(uint32_t e) const;
  // Whether the flow's entry was there.
  bool ForgetFlow(const Probe& p) { return bpf_map_delete_elem(ct_fd_, &p.ct) == 0; }
  bool ForgetVerdict(const Probe& p) { return bpf_map_delete_elem(verdicts_fd_, &p.verdict) == 0; }
  void DrainEvents() {
    Must(dp_->PollEvents(0, [](const wd_event&) {}), "draining events");
  }
  uint64_t PolicyAllows() const {
    auto c = Must(dp_->ReadCounters(), "counters");
    return c[WD_HOOK_EGRESS * WD_REASON_COUNT + WD_REASON_ALLOW_POLICY];
  }

 private:
  void EnterPod(const std::string& home);

  testlib::Cleanup cleanup_;  // first: runs last, after every other member is gone
  testlib::PodCgroup burstable_, guaranteed_;
  datapath::NodeConfig config_;
  std::shared_ptr<BpfDatapath> dp_;
  int ret1_ = -1, ct_fd_ = -1, verdicts_fd_ = -1;
  const std::vector<uint8_t> arp_ = testlib::ArpPacket();
  uint64_t self_cgroup_ = 0;
  std::string label_;
};

TestRunRig::TestRunRig(const DatapathEnv& env) {
  testlib::KubeletNode node =
      Must(testlib::KubeletNode::Create(env.cgroups.path() + "/p1"), "making cgroups");
  burstable_ = Must(node.AddPodWithContainer("bench", "burstable"), "making a pod cgroup");
  guaranteed_ = Must(node.AddPodWithContainer("bench-g", "guaranteed"), "making a pod cgroup");
  config_ = node.Config();
  BpfDatapath::Options opts;
  opts.bpffs_dir = env.bpffs.path() + "/p1";
  opts.capacity.ipcache = opts.capacity.iphost = 131072;
  dp_ = Must(BpfDatapath::Open(opts), "opening the datapath");
  cleanup_.Add("datapath p1", [dp = dp_] { dp->DetachAndUnpin().IgnoreError(); });
  ret1_ = LoadReturnOne();
  cleanup_.Add("return-1 program", [fd = ret1_] { close(fd); });
  ct_fd_ = dp_->MapFd("wd_ct");
  verdicts_fd_ = dp_->MapFd("wd_verdicts");
  EnterPod(env.cgroups.home());
}

void TestRunRig::EnterPod(const std::string& home) {
  cpu_set_t old_affinity;
  sched_getaffinity(0, sizeof(old_affinity), &old_affinity);
  Must(common::MoveToCgroup(burstable_.container, getpid()), "entering the pod cgroup");
  cleanup_.Add("leave the pod cgroup", [home, old_affinity] {
    common::MoveToCgroup(home, getpid()).IgnoreError();
    sched_setaffinity(0, sizeof(old_affinity), &old_affinity);
  });
  PinToCpu(1);
}

TestRunRow TestRunRig::Load(const TestRunConfig& c, const std::vector<uint32_t>& hits,
                            double* apply_ms) {
  const testlib::PodCgroup& pod = c.guaranteed ? guaranteed_ : burstable_;
  TableSpec spec;
  spec.policy_entries = c.policy;
  spec.ipcache_remotes = c.ipcache;
  for (uint32_t e : hits) {
    spec.required_remotes.push_back(e);
    spec.required_remotes.push_back(e + 1);
  }
  spec.endpoints = {{pod.id, kLocalBase}};
  spec.port_ranges = c.port_ranges;
  Must(common::MoveToCgroup(pod.container, getpid()), "entering the pod cgroup");
  self_cgroup_ = Must(common::CgroupId(pod.container), "cgroup id");
  label_ = c.label;
  datapath::NodeTables tables = BuildTables(spec);
  auto t0 = testlib::Clock::now();
  Must(dp_->Apply(tables, config_), "applying tables");
  *apply_ms = testlib::MsSince(t0);
  TestRunRow row;
  row.label = c.label;
  row.policy = static_cast<int>(tables.policy.size());
  row.ipcache = static_cast<int>(tables.ipcache.size());
  return row;
}

double TestRunRig::Run(const std::vector<uint8_t>& pkt, uint32_t repeat, uint32_t want) {
  uint32_t ns = 0;
  uint32_t v = Must(dp_->TestRun("wd_egress", pkt, repeat, &ns), "TEST_RUN wd_egress");
  if (v != want)
    throw Failure(
        absl::StrCat("wd_egress returned ", v, ", expected ", want, " (tables ", label_, ")"));
  return static_cast<double>(ns);
}

Probe TestRunRig::ProbeOf(uint32_t e) const {
  Probe p;
  p.packet = testlib::Ipv4Packet(kLocalAddr, RemoteAddr(e), IPPROTO_TCP, kSport, kPort);
  std::memset(&p.ct, 0, sizeof(p.ct));
  p.ct.cgroup_id = self_cgroup_;  // conntrack is keyed by the socket's own cgroup
  p.ct.family = WD_AF_INET;
  p.ct.protocol = IPPROTO_TCP;
  p.ct.local_port = kSport;
  p.ct.remote_port = kPort;
  PutIpv4(p.ct.remote_addr, RemoteAddr(e));
  // The cached egress verdict of (this cgroup, remote e, TCP kPort).
  std::memset(&p.verdict, 0, sizeof(p.verdict));
  p.verdict.cgroup_id = self_cgroup_;
  p.verdict.family = WD_AF_INET;
  p.verdict.protocol = IPPROTO_TCP;
  p.verdict.direction = WD_DIR_EGRESS;
  p.verdict.port = kPort;
  PutIpv4(p.verdict.remote_addr, RemoteAddr(e));
  return p;
}

// Remotes with an egress entry of local 256 (hits), spread over the table; the next remote of
// each (an ipcache entry whose policy belongs to another local identity) is a miss, denied.
std::vector<uint32_t> HitRemotes(int policy) {
  std::vector<uint32_t> hits;
  for (int q = 0; q < 4; ++q) {
    uint32_t e = static_cast<uint32_t>(static_cast<int64_t>(policy) * q / 4);
    e -= e % (2 * kLocals);
    if (std::find(hits.begin(), hits.end(), e) == hits.end()) hits.push_back(e);
  }
  return hits;
}

// Random remotes with an egress entry of local 256 and an ipcache entry.
std::vector<uint32_t> RandomPeers(std::mt19937& rng, const TestRunConfig& c) {
  std::vector<uint32_t> peers;
  int span = std::min(c.policy, c.ipcache);
  for (int r = 0; r < 4096; ++r) {
    uint32_t e = rng() % std::max(1, span);
    e -= e % (2 * kLocals);
    peers.push_back(e);
  }
  return peers;
}

// Repeated runs: early return, conntrack hit (after one run admits the flow), deny.
void MeasureRepeated(TestRunRig& rig, const std::vector<uint32_t>& hits, uint32_t repeat,
                     TestRunRow& row) {
  auto median_of_3 = [&](const std::vector<uint8_t>& pkt, uint32_t want) {
    std::vector<double> v;
    for (int r = 0; r < 3; ++r) v.push_back(rig.Run(pkt, repeat, want));
    return Median(v);
  };
  {
    std::vector<double> v;
    for (int r = 0; r < 3; ++r) v.push_back(rig.RunArp(repeat));
    row.rep_early = Median(v);
  }
  std::vector<double> ct_means, deny_means;
  for (uint32_t e : hits) {
    auto pkt = rig.ProbeOf(e).packet;
    rig.Run(pkt, 1, 1);  // admits the flow: from here on a conntrack hit
    ct_means.push_back(median_of_3(pkt, 1));
    deny_means.push_back(median_of_3(rig.ProbeOf(e + 1).packet, 0));
  }
  row.rep_ct = testlib::Mean(ct_means);
  row.rep_deny = testlib::Mean(deny_means);
}

struct SingleShotSamples {
  std::vector<double> hit, ct, newflow, deny, early, harness, random;
};

// One single-shot run of each path, in this order: each finds the caches as the one before left
// them. Returns whether the policy hit found a conntrack entry to delete.
bool SingleShotRound(TestRunRig& rig, const Probe& hit, const Probe& miss, const Probe& random,
                     SingleShotSamples& s) {
  // Policy decision: neither the flow nor the verdict is cached.
  bool deleted = rig.ForgetFlow(hit);
  if (!rig.ForgetVerdict(hit))
    throw Failure("no cached verdict to delete: the verdict cache is not in use");
  s.hit.push_back(rig.Run(hit.packet, 1, 1));
  s.ct.push_back(rig.Run(hit.packet, 1, 1));
  // A new flow to a peer whose verdict is cached (a new UDP flow, say).
  rig.ForgetFlow(hit);
  s.newflow.push_back(rig.Run(hit.packet, 1, 1));
  rig.ForgetVerdict(miss);  // a decision each time
  s.deny.push_back(rig.Run(miss.packet, 1, 0));
  s.early.push_back(rig.RunArp(1));
  s.harness.push_back(rig.Harness(1));
  rig.ForgetFlow(random);  // may be absent: random peers repeat
  rig.ForgetVerdict(random);
  s.random.push_back(rig.Run(random.packet, 1, 1));
  return deleted;
}

// Single-shot runs, interleaved: policy hit, conntrack hit, new flow, deny, early return,
// return-1 program, random-peer policy hit. Fills the row's medians; returns the harness median.
double MeasureSingleShot(TestRunRig& rig, const std::vector<uint32_t>& hits,
                         const std::vector<uint32_t>& random_peers, int single, TestRunRow& row) {
  std::vector<Probe> hit, miss, random;
  for (uint32_t e : hits) {
    hit.push_back(rig.ProbeOf(e));
    miss.push_back(rig.ProbeOf(e + 1));
  }
  for (uint32_t e : random_peers) random.push_back(rig.ProbeOf(e));
  rig.DrainEvents();
  const uint64_t allows_before = rig.PolicyAllows();
  SingleShotSamples s;
  int deleted = 0;
  for (int i = 0; i < single; ++i) {
    size_t h = i % hit.size();
    deleted += SingleShotRound(rig, hit[h], miss[h], random[i % random.size()], s);
    if (i % 512 == 511) {
      rig.DrainEvents();  // as the agent does: the ring never fills
      CheckInterrupted();
    }
  }
  uint64_t policy_allows = rig.PolicyAllows() - allows_before;
  if (deleted != single || policy_allows < static_cast<uint64_t>(single)) {
    throw Failure(absl::StrCat("single-shot policy runs did not take the policy path: ", deleted,
                               " conntrack deletes, ", policy_allows, " policy allows for ", single,
                               " runs"));
  }
  row.ss_hit = Median(s.hit);
  row.ss_ct = Median(s.ct);
  row.ss_deny = Median(s.deny);
  row.ss_early = Median(s.early);
  row.ss_random = Median(s.random);
  row.ss_newflow = Median(s.newflow);
  return Median(s.harness);
}

void PrintTables(const TestRunRow& row, double apply_ms) {
  std::printf("  tables %-24s %7d policy entries, %7d ipcache entries (written in %.0f ms)\n",
              row.label.c_str(), row.policy, row.ipcache, apply_ms);
  std::fflush(stdout);
}

// Each figure: the median over passes.
TestRunRow MedianOverPasses(const std::vector<TestRunRow>& passes) {
  TestRunRow r = passes[0];
  auto med = [&](double TestRunRow::*f) {
    std::vector<double> v;
    for (const auto& p : passes) v.push_back(p.*f);
    return Median(v);
  };
  for (double TestRunRow::*f :
       {&TestRunRow::rep_early, &TestRunRow::rep_ct, &TestRunRow::rep_deny, &TestRunRow::ss_hit,
        &TestRunRow::ss_ct, &TestRunRow::ss_deny, &TestRunRow::ss_early, &TestRunRow::ss_random,
        &TestRunRow::ss_newflow})
    r.*f = med(f);
  return r;
}

}  // namespace

TestRunResult RunTestRun(const DatapathEnv& env, uint32_t repeat, int single) {
  TestRunResult res;
  TestRunRig rig(env);
  {
    std::vector<double> v;
    for (int r = 0; r < 5; ++r) v.push_back(rig.Harness(repeat));
    res.rep_harness = Median(v);
  }
  std::vector<std::vector<TestRunRow>> per_pass(kConfigs.size());
  std::vector<double> ss_harness;
  std::mt19937 rng(7);
  for (int pass = 0; pass < kPasses; ++pass) {
    for (size_t ci = 0; ci < kConfigs.size(); ++ci) {
      CheckInterrupted();
      const TestRunConfig& c = kConfigs[ci];
      const std::vector<uint32_t> hits = HitRemotes(c.policy);
      double apply_ms = 0;
      TestRunRow row = rig.Load(c, hits, &apply_ms);
      if (pass == 0) PrintTables(row, apply_ms);
      const std::vector<uint32_t> random_peers = RandomPeers(rng, c);
      MeasureRepeated(rig, hits, repeat, row);
      ss_harness.push_back(MeasureSingleShot(rig, hits, random_peers, single, row));
      per_pass[ci].push_back(row);
    }
  }
  res.ss_harness = Median(ss_harness);
  for (const auto& passes : per_pass) res.rows.push_back(MedianOverPasses(passes));
  return res;  // the rig goes: back home, datapath unpinned
}

void RunTestRunLoop(const DatapathEnv& env, uint32_t repeat, const std::string& path, int seconds) {
  TestRunRig rig(env);
  const TestRunConfig& c = kConfigs[kLoopConfig];
  const std::vector<uint32_t> hits = HitRemotes(c.policy);
  double apply_ms = 0;
  PrintTables(rig.Load(c, hits, &apply_ms), apply_ms);
  const Probe hit = rig.ProbeOf(hits[0]), miss = rig.ProbeOf(hits[0] + 1);
  rig.Run(hit.packet, 1, 1);
  auto until = testlib::Clock::now() + std::chrono::seconds(seconds);
  uint64_t n = 0;
  for (; testlib::Clock::now() < until; ++n) {
    CheckInterrupted();
    if (path == "ct") rig.Run(hit.packet, repeat, 1);
    if (path == "deny") rig.Run(miss.packet, repeat, 0);
    if (path == "early") rig.RunArp(repeat);
    if (path == "harness") rig.Harness(repeat);
    if (path == "hit") {
      for (int i = 0; i < 1000; ++i) {
        rig.ForgetFlow(hit);
        rig.Run(hit.packet, 1, 1);
      }
      rig.DrainEvents();
    }
  }
  std::printf("  loop %s: %llu calls\n", path.c_str(), static_cast<unsigned long long>(n));
}

}  // namespace warden::bench
