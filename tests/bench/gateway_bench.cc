// the egress gateway beside nginx and HAProxy as the same proxy: req/s, latency, CPU/request, idle
// RSS
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/bench/bench_args.h"
#include "tests/bench/bench_main.h"
#include "tests/bench/gateway_env.h"
#include "tests/bench/gateway_load.h"
#include "tests/bench/gateway_path.h"
#include "tests/bench/headline.h"
#include "tests/lib/proc_status.h"

namespace warden::bench {
namespace {

constexpr char kUsage[] =
    "usage: scripts/bench gateway [--seconds S] [--connections N] [--idle N] [--proxy-cpu C]\n"
    "  Runs the upstream (nginx, HTTPS) and three proxies configured alike (client-certificate\n"
    "  TLS in, TLS originated with verification and SNI, upstream keep-alive, a JSON access\n"
    "  log), each pinned to CPU C (default 1): Warden's gateway, nginx, HAProxy. The same client\n"
    "  (N keep-alive connections, default 32, closed loop, S seconds each, default 5) loads each\n"
    "  in turn. CPU per request is the proxy's own time on CPU (/proc/PID/task/*/schedstat) over\n"
    "  the measured span. Then N idle connections (default 10000) are opened to the gateway and\n"
    "  its RSS read. As root, the whole path on the lab too: a pod's request through its node's\n"
    "  forwarder and the gateway against the gateway pod reaching nginx directly over HTTPS\n"
    "  (--path-samples N, default 30). Last line: key=value.\n";

struct Measured {
  LoadResult load;
  double cpu_us_per_request = 0;
  double kernel_us_per_request = 0;  // of cpu_us_per_request
};

Measured Measure(const GatewayEnv& env, const Proxy& p, const LoadSpec& base) {
  LoadSpec s = base;
  s.port = p.port;
  s.flow_header = p.flow_header;
  long long cpu0 = 0, cpu1 = 0, sys0 = 0, sys1 = 0;
  Measured m;
  m.load = RunLoad(
      s,
      [&] {
        cpu0 = env.CpuNs(p);
        sys0 = env.KernelNs(p);
      },
      [&] {
        cpu1 = env.CpuNs(p);
        sys1 = env.KernelNs(p);
      });
  if (m.load.requests > 0) {
    m.cpu_us_per_request = static_cast<double>(cpu1 - cpu0) / 1000.0 / m.load.requests;
    m.kernel_us_per_request = static_cast<double>(sys1 - sys0) / 1000.0 / m.load.requests;
  }
  std::printf(
      "%-8s %9.0f req/s  p50 %7.0f us  p99 %7.0f us  CPU %6.1f us/req, %4.1f of it in the kernel  "
      "(%llu requests, %llu errors)\n",
      p.name.c_str(), m.load.rps, m.load.p50_us, m.load.p99_us, m.cpu_us_per_request,
      m.kernel_us_per_request, static_cast<unsigned long long>(m.load.requests),
      static_cast<unsigned long long>(m.load.errors));
  std::fflush(stdout);
  if (m.load.requests == 0 || m.load.errors > m.load.requests / 100)
    throw std::runtime_error(
        absl::StrCat(p.name, ": the load failed (", m.load.errors, " errors); see ", env.dir()));
  return m;
}

int Run(int argc, char** argv) {
  const int seconds = ArgInt(argc, argv, "--seconds", 5);
  const int connections = ArgInt(argc, argv, "--connections", 32);
  const int idle = ArgInt(argc, argv, "--idle", 10000);
  const int proxy_cpu = ArgInt(argc, argv, "--proxy-cpu", 1, 0);
  // 10,000 idle connections: the client and the gateway need more than the default 1,024
  // descriptors (the children inherit the limit). The hard limit is what this machine allows.
  rlimit files{};
  getrlimit(RLIMIT_NOFILE, &files);
  files.rlim_cur = files.rlim_max;
  setrlimit(RLIMIT_NOFILE, &files);
  const std::string warden =
      (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "warden").string();
  GatewayEnv env(warden, proxy_cpu);
  LoadSpec base;
  base.connections = connections;
  base.seconds = seconds;
  base.ca = env.ca();
  base.cert = env.client_cert();
  base.key = env.client_key();
  std::printf("%d keep-alive connections, %d s each after 1 s of warm-up, proxies on CPU %d\n",
              connections, seconds, proxy_cpu);
  std::fflush(stdout);
  Measured w = Measure(env, env.proxy("warden"), base);
  Measured n = Measure(env, env.proxy("nginx"), base);
  Measured h = Measure(env, env.proxy("haproxy"), base);

  const Proxy& gw = env.proxy("warden");
  const long rss_before = testlib::StatusKb(gw.pid, "VmRSS");
  LoadSpec to_gateway = base;
  to_gateway.port = gw.port;
  to_gateway.flow_header = true;
  IdleConnections conns(to_gateway, idle);
  const long rss_after = testlib::StatusKb(gw.pid, "VmRSS");
  std::printf("gateway RSS: %.1f MB idle, %.1f MB with %d idle connections open (of %d)\n",
              rss_before / 1024.0, rss_after / 1024.0, conns.open(), idle);
  std::fflush(stdout);
  if (conns.open() < idle) throw std::runtime_error("not every idle connection opened");
  std::string first_added = "na", reused_added = "na";
  if (geteuid() == 0) {
    PathLatency p =
        MeasurePath(warden, WARDEN_SOURCE_DIR, ArgInt(argc, argv, "--path-samples", 30));
    std::printf(
        "whole path on the lab (medians of %d): first request on a new pod connection %.2f ms via "
        "forwarder and gateway, %.2f ms straight to the upstream over HTTPS; a request on a "
        "reused connection %.0f us via, %.0f us straight\n",
        p.samples, p.via_first_ms, p.direct_first_ms, p.via_reused_us, p.direct_reused_us);
    first_added = Fmt(p.via_first_ms - p.direct_first_ms, 2);
    reused_added = Fmt(p.via_reused_us - p.direct_reused_us, 0);
  } else {
    std::printf("whole path: not measured (needs root: the lab)\n");
  }

  // The headline, last: ratios are Warden's over the other's.
  std::printf(
      "%s\n",
      absl::StrCat(
          "rps_vs_nginx=", Fmt(w.load.rps / n.load.rps, 2),
          " cpu_per_req_vs_nginx=", Fmt(w.cpu_us_per_request / n.cpu_us_per_request, 2),
          " p99_vs_nginx=", Fmt(w.load.p99_us / n.load.p99_us, 2),
          " rps_vs_haproxy=", Fmt(w.load.rps / h.load.rps, 2), " cpu_per_req_vs_haproxy=",
          Fmt(w.cpu_us_per_request / h.cpu_us_per_request, 2), " warden_rps=", Fmt(w.load.rps, 0),
          " warden_cpu_us=", Fmt(w.cpu_us_per_request, 1), " warden_p99_us=", Fmt(w.load.p99_us, 0),
          " warden_kernel_us=", Fmt(w.kernel_us_per_request, 1), " nginx_rps=", Fmt(n.load.rps, 0),
          " nginx_cpu_us=", Fmt(n.cpu_us_per_request, 1),
          " nginx_kernel_us=", Fmt(n.kernel_us_per_request, 1), " haproxy_rps=", Fmt(h.load.rps, 0),
          " haproxy_cpu_us=", Fmt(h.cpu_us_per_request, 1), " first_request_added_ms=", first_added,
          " reused_request_added_us=", reused_added,
          " rss_mb_10k_idle=", Fmt(rss_after / 1024.0, 1))
          .c_str());
  return 0;
}

}  // namespace
}  // namespace warden::bench

int main(int argc, char** argv) {
  return warden::bench::RunBench(argc, argv, {"gateway_bench", warden::bench::kUsage, nullptr},
                                 [&] { return warden::bench::Run(argc, argv); });
}
