// The egress gateway's decision per request: host index vs a linear scan of every policy.
//
// A cluster with --hosts registered hosts (ServiceEntries of 10 hosts each, a tenth of them
// wildcards) and --policies AuthorizationPolicies applying to the gateway (each lets one team
// namespace reach a handful of hosts, some at given paths; one in ten is a DENY; one in fifty
// names no host, only a namespace; one in two hundred names neither and is checked for every
// request), read from generated YAML by the manifests
// loader. The same random requests (registered hosts, unregistered ones, the teams' namespaces)
// are decided by egress::GatewayConfig::Decide (the gateway's code: registry lookup, the
// policies indexed by host, Istio's evaluation) and, in the same run, by the registry lookup and
// Authorize() over every policy (the linear baseline); the two must agree on every request.
// Batches of the two alternate; the figure per decision is a batch's time over its size, and the
// median of the batches is reported.
//
// Usage: authz_bench [--hosts N (10000)] [--policies N (1000)] [--requests N (20000)]
//                    [--rounds N (30)]
// Prints human-readable lines, then last one line of key=value pairs.
#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/egress/gateway_config.h"
#include "agent/egress/path_normalize.h"
#include "agent/policy/manifest_loader.h"
#include "tests/bench/bench_args.h"
#include "tests/bench/bench_main.h"
#include "tests/bench/headline.h"
#include "tests/lib/stats.h"

namespace warden::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string Host(int i) { return absl::StrCat("svc", i, ".ext", i / 10, ".test"); }

std::string Manifests(int hosts, int policies, int teams) {
  std::string y;
  for (int se = 0; se * 10 < hosts; ++se) {
    absl::StrAppend(&y, "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n",
                    "  name: se", se, "\n  namespace: warden-egress\nspec:\n  hosts:\n");
    for (int i = se * 10; i < std::min(hosts, se * 10 + 10); ++i) {
      if (i % 10 == 9)
        absl::StrAppend(&y, "  - \"*.wild", i, ".test\"\n");
      else
        absl::StrAppend(&y, "  - ", Host(i), "\n");
    }
    absl::StrAppend(&y, "  ports:\n  - {number: 80, name: http, protocol: HTTP}\n");
  }
  std::mt19937 rng(7);
  for (int p = 0; p < policies; ++p) {
    const bool deny = p % 10 == 3, hostless = p % 50 == 7, anyone = p % 200 == 11;
    absl::StrAppend(&y, "---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n",
                    "metadata:\n  name: p", p, "\n  namespace: warden-egress\nspec:\n",
                    "  selector:\n    matchLabels: {app: warden-gateway}\n",
                    deny ? "  action: DENY\n" : "", "  rules:\n  - from:\n    - source:\n");
    if (anyone) {  // no host, no namespace: checked for every request
      absl::StrAppend(&y, "        ipBlocks: [10.9.0.0/16]\n    to:\n    - operation:\n",
                      "        paths: [/internal*]\n");
      continue;
    }
    absl::StrAppend(&y, "        namespaces: [team-", rng() % teams, "]\n");
    if (hostless) {
      absl::StrAppend(&y, "    to:\n    - operation:\n        paths: [/admin*]\n");
      continue;
    }
    absl::StrAppend(&y, "    to:\n    - operation:\n        hosts: [");
    for (int h = 0; h < 5; ++h)
      absl::StrAppend(&y, h ? ", " : "", Host(static_cast<int>(rng() % hosts)));
    absl::StrAppend(&y, "]\n");
    if (p % 3 == 0) absl::StrAppend(&y, "        paths: [/api/*, /status/418]\n");
    if (deny) absl::StrAppend(&y, "        methods: [DELETE]\n");
  }
  return y;
}

std::vector<egress::Request> Requests(int n, int hosts, int teams) {
  std::mt19937 rng(11);
  const char* paths[] = {"/", "/api/v1/x", "/status/418", "/admin/x", "/a/../api/y"};
  const char* methods[] = {"GET", "GET", "POST", "DELETE"};
  std::vector<egress::Request> out;
  for (int i = 0; i < n; ++i) {
    egress::Request r;
    const std::string ns = absl::StrCat("team-", rng() % teams);
    r.source = egress::SourceIdentity{ns, "default", ns + "/app"};
    r.port = 80;
    r.method = methods[rng() % 4];
    const int h = static_cast<int>(rng() % hosts);
    r.authority = i % 20 == 0   ? absl::StrCat("nowhere", i, ".test")
                  : h % 10 == 9 ? absl::StrCat("x.wild", h, ".test")
                                : Host(h);
    r.path = *egress::NormalizePath(paths[rng() % 5]);
    out.push_back(std::move(r));
  }
  return out;
}

// What the gateway would do without the index: the same registry lookup, every policy.
egress::Verdict Linear(const egress::GatewayConfig& gw, const egress::Request& r) {
  auto a = egress::ParseAuthority(r.authority);
  if (!a || !gw.registry().Lookup(r.source->ns, a->host, r.port, egress::Registry::Want::kHttp))
    return egress::Verdict::kUnregistered;
  return egress::Authorize(gw.policies(), r, gw.options().authz).allowed ? egress::Verdict::kAllow
                                                                         : egress::Verdict::kDeny;
}

int Run(int argc, char** argv) {
  const int hosts = ArgInt(argc, argv, "--hosts", 10000);
  const int policies = ArgInt(argc, argv, "--policies", 1000);
  const int n = ArgInt(argc, argv, "--requests", 20000);
  const int rounds = ArgInt(argc, argv, "--rounds", 30);
  const int teams = 100;
  auto t0 = Clock::now();
  policy::LoadResult loaded =
      policy::LoadManifestTexts({{"authz.yaml", Manifests(hosts, policies, teams)}});
  if (!loaded.errors.empty()) throw std::runtime_error(loaded.errors[0].ToString());
  egress::GatewayConfig gw(loaded.state, egress::GatewayOptions{});
  const double build_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const std::vector<egress::Request> reqs = Requests(n, hosts, teams);
  int allowed = 0, denied = 0, unregistered = 0;
  for (const auto& r : reqs) {
    const egress::Verdict v = gw.Decide(r).verdict;
    if (v != Linear(gw, r))
      throw std::runtime_error("the index and the linear scan disagree on " + r.authority);
    allowed += v == egress::Verdict::kAllow;
    denied += v == egress::Verdict::kDeny;
    unregistered += v == egress::Verdict::kUnregistered;
  }
  std::printf(
      "cluster: %d hosts registered, %zu AuthorizationPolicies apply to the gateway; read and "
      "compiled in %.0f ms\n",
      hosts, gw.policies().size(), build_ms);
  std::printf("requests: %d (allowed %d, denied %d, unregistered %d); both ways agree on each\n", n,
              allowed, denied, unregistered);
  // Alternating batches; the linear scan takes a tenth of the requests (it is far slower).
  const int linear_n = std::max(1, n / 10);
  std::vector<double> indexed_ns, linear_ns;
  volatile int sink = 0;
  for (int round = 0; round < rounds; ++round) {
    auto t = Clock::now();
    for (const auto& r : reqs) sink = sink + static_cast<int>(gw.Decide(r).verdict);
    indexed_ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t).count() / n);
    t = Clock::now();
    for (int i = 0; i < linear_n; ++i) sink = sink + static_cast<int>(Linear(gw, reqs[i]));
    linear_ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t).count() /
                        linear_n);
  }
  const double im = testlib::Median(indexed_ns), lm = testlib::Median(linear_ns);
  const auto ip = testlib::NearestRank(indexed_ns);
  std::printf(
      "per decision (median of %d batches): indexed %.0f ns (worst batch %.0f ns), linear scan "
      "%.0f ns: %.0fx\n",
      rounds, im, ip.max, lm, lm / im);
  std::printf("target: median <= 1000 ns per decision with %zu policies and %d hosts: %s\n",
              gw.policies().size(), hosts, im <= 1000 ? "met" : "MISSED");
  std::printf(
      "hosts=%d policies=%zu requests=%d indexed_ns_median=%s indexed_ns_worst_batch=%s "
      "linear_ns_median=%s speedup=%s target_ns=1000 target_met=%d\n",
      hosts, gw.policies().size(), n, Fmt(im).c_str(), Fmt(ip.max).c_str(), Fmt(lm).c_str(),
      Fmt(lm / im).c_str(), im <= 1000 ? 1 : 0);
  return 0;
}

}  // namespace
}  // namespace warden::bench

int main(int argc, char** argv) {
  static const warden::bench::BenchInfo info{
      "authz_bench",
      "authz_bench [--hosts N (10000)] [--policies N (1000)] [--requests N (20000)] "
      "[--rounds N (30)]\n"
      "  the egress gateway's decision per request, indexed by host vs a linear scan\n",
      nullptr};
  return warden::bench::RunBench(argc, argv, info, [&] { return warden::bench::Run(argc, argv); });
}
