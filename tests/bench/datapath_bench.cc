// Datapath costs: wd_egress ns/packet vs table size, TCP conn/s (none/Warden/iptables), agent RSS.
//
// Three measurements, each a side-by-side comparison in the same run (machines are noisy: the
// ratios are the result):
//  [1] ns per packet of wd_egress through BPF_PROG_TEST_RUN (datapath_testrun.h);
//  [2] TCP connections per second between two network namespaces: interleaved lanes (no
//      program, return-1 programs, Warden) and rounds of variants (Warden with and without an
//      event reader, iptables) (datapath_tcp.h);
//  [3] RSS of the real `warden node` with 1,000 local pods (datapath_rss.h).
// This file reads the flags, makes the environment (datapath_env.h: every name carries the pid,
// everything is removed at exit), runs the parts and prints the headline.
//
// Needs root. Usage:
//   datapath_bench [--rounds N (16)] [--seconds S (1)] [--repeat N (1000000)] [--single N (20000)]
//                  [--interleaved-rounds N (150)] [--slice-ms MS (100)] [--skip-interleaved]
//                  [--variants warden,warden_noreader,iptables,iptables_1rule]
//                  [--skip-testrun] [--skip-tcp] [--skip-rss]
//   datapath_bench --skip-tcp --skip-rss --loop ct|deny|early|harness|hit [--loop-seconds S (10)]
//       runs only that TEST_RUN path on the 100k tables, for `perf record -a`.
// Prints human-readable lines, then last one line of key=value pairs.
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/bench/bench_args.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/bench_main.h"
#include "tests/bench/datapath_env.h"
#include "tests/bench/datapath_rss.h"
#include "tests/bench/datapath_tcp.h"
#include "tests/bench/datapath_testrun.h"
#include "tests/bench/headline.h"
#include "tests/lib/shell.h"
#include "tests/lib/timing.h"

namespace warden::bench {
namespace {

struct Flags {
  TcpOptions tcp;
  uint32_t repeat = 1000000;
  int single = 20000;
  bool testrun = true, tcp_part = true, rss = true;
  std::string loop_path;
  int loop_seconds = 10;
};

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  f.tcp.rounds = ArgInt(argc, argv, "--rounds", 16);
  f.tcp.seconds = ArgInt(argc, argv, "--seconds", 1);
  f.tcp.il_rounds = ArgFlag(argc, argv, "--skip-interleaved")
                        ? 0
                        : ArgInt(argc, argv, "--interleaved-rounds", 150);
  f.tcp.slice_ms = ArgInt(argc, argv, "--slice-ms", 100);
  for (absl::string_view v :
       absl::StrSplit(ArgStr(argc, argv, "--variants", ""), ',', absl::SkipEmpty()))
    f.tcp.only.insert(std::string(v));
  f.repeat = ArgInt(argc, argv, "--repeat", 1000000);
  f.single = ArgInt(argc, argv, "--single", 20000);
  f.testrun = !ArgFlag(argc, argv, "--skip-testrun");
  f.tcp_part = !ArgFlag(argc, argv, "--skip-tcp");
  f.rss = !ArgFlag(argc, argv, "--skip-rss");
  f.loop_path = ArgStr(argc, argv, "--loop", "");
  f.loop_seconds = ArgInt(argc, argv, "--loop-seconds", 10);
  return f;
}

constexpr BenchInfo kInfo = {
    "datapath_bench",
    "usage: datapath_bench [--rounds N (16)] [--seconds S (1)] [--repeat N (1000000)] "
    "[--single N (20000)]\n"
    "                      [--skip-testrun] [--skip-tcp] [--skip-rss]\n"
    "                      [--interleaved-rounds N (150)] [--slice-ms MS (100)] "
    "[--skip-interleaved]\n"
    "                      [--variants warden,warden_noreader,iptables,iptables_1rule]\n"
    "       datapath_bench --skip-tcp --skip-rss --loop ct|deny|early|harness|hit "
    "[--loop-seconds S (10)]\n"
    "                      (only that TEST_RUN path on the 100k tables, for perf record -a)\n"
    "needs root: loads BPF programs, creates network namespaces and cgroups, runs warden "
    "node\n",
    "it loads BPF programs, attaches them to cgroups, creates network namespaces and runs "
    "`warden node`"};

void PrintIntro(const DatapathEnv& env) {
  std::ifstream s("/proc/sys/kernel/bpf_stats_enabled");
  int v = 0;
  s >> v;
  if (v)
    std::printf(
        "note: kernel.bpf_stats_enabled is already 1: every program run pays for its own "
        "timing\n");
  std::printf(
      "datapath_bench: pid %d; netns %s/%s, cgroup %s, bpffs %s, tmp %s (all removed at exit)\n",
      env.pid, env.ns_client.c_str(), env.ns_server.c_str(), env.cgroups.path().c_str(),
      env.bpffs.path().c_str(), env.tmp.path().c_str());
  std::printf(
      "machine: %s, %ld CPUs, kernel %s\n",
      testlib::ShOut("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'").c_str(),
      sysconf(_SC_NPROCESSORS_ONLN), testlib::ShOut("uname -r").c_str());
  std::fflush(stdout);
}

std::string TestRunPart(const DatapathEnv& env, const Flags& f) {
  std::printf(
      "\n[1] wd_egress per packet, BPF_PROG_TEST_RUN (repeated: kernel average over %u runs, "
      "median of 3; single-shot: median of %d runs of 1)\n",
      f.repeat, f.single);
  std::fflush(stdout);
  return ReportTestRun(RunTestRun(env, f.repeat, f.single));
}

std::string TcpPart(const DatapathEnv& env, const Flags& f) {
  std::printf(
      "\n[2] TCP connect + 1-byte echo + close between two netns over veth (client CPU 0, "
      "server CPU 1), %d rounds x %d s per variant, alternated\n",
      f.tcp.rounds, f.tcp.seconds);
  std::fflush(stdout);
  return ReportTcp(RunTcp(env, f.tcp));
}

std::string RssPart(const DatapathEnv& env) {
  std::printf("\n[3] `warden node` memory (%s)\n", env.warden_binary.c_str());
  std::fflush(stdout);
  if (access(env.warden_binary.c_str(), X_OK) != 0) {
    throw Failure(env.warden_binary +
                  " is missing: build the `warden` target (scripts/bench datapath does)");
  }
  return ReportRss(RunRss(env));
}

// The parts asked for; their key=value pairs. Everything they made is gone when this returns.
std::string RunParts(const Flags& f) {
  std::unique_ptr<DatapathEnv> env = MakeDatapathEnv();
  PrintIntro(*env);
  std::string key_values;
  if (f.testrun) absl::StrAppend(&key_values, TestRunPart(*env, f));
  if (f.tcp_part) absl::StrAppend(&key_values, TcpPart(*env, f));
  if (f.rss) absl::StrAppend(&key_values, RssPart(*env));
  return key_values;
}

void RunLoop(const Flags& f) {
  std::unique_ptr<DatapathEnv> env = MakeDatapathEnv();
  PrintIntro(*env);
  std::printf("\n[1] wd_egress, BPF_PROG_TEST_RUN: only the %s path, %d s\n", f.loop_path.c_str(),
              f.loop_seconds);
  std::fflush(stdout);
  RunTestRunLoop(*env, f.repeat, f.loop_path, f.loop_seconds);
}

int Run(const Flags& flags) {
  CatchInterrupts();
  libbpf_set_print([](libbpf_print_level level, const char* fmt, va_list ap) {
    return level == LIBBPF_WARN ? std::vfprintf(stderr, fmt, ap) : 0;
  });
  if (!flags.loop_path.empty()) {
    RunLoop(flags);
    return 0;
  }
  auto t_start = testlib::Clock::now();
  std::string key_values = RunParts(flags);
  absl::StrAppend(&key_values, "total_s=", Fmt(testlib::MsSince(t_start) / 1000, 0));
  std::printf("\n%s\n", key_values.c_str());
  return 0;
}

int Main(int argc, char** argv) {
  return RunBench(argc, argv, kInfo, [&] { return Run(ParseFlags(argc, argv)); });
}

}  // namespace
}  // namespace warden::bench

int main(int argc, char** argv) { return warden::bench::Main(argc, argv); }
