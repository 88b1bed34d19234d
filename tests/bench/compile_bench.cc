// Loads and compiles a 10,000-pod, 1,000-NetworkPolicy cluster; model vs compiled-table lookups.
//
// A synthetic but realistic cluster (by default 100 namespaces x 10 apps x 10 replicas = 10,000
// pods on 100 nodes, 10 NetworkPolicies per namespace = 1,000 policies), generated as manifest
// YAML. Measures loading (LoadManifestTexts), Compile() and the memory the compile needs, and,
// side by side on the same machine (so noisy machines still compare).value(), answers one set of
// random flows both through the model and through the compiled tables (DatapathTwin), reporting the
// ratio. Also checks that the two answers agree.
//
// Usage: compile_bench [--namespaces N] [--runs N] [--compile-runs N] [--flows N]
// Prints human-readable lines, then last one line of key=value pairs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <malloc.h>

#include <new>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/policy/compiler.h"
#include "agent/policy/lookup.h"
#include "agent/policy/manifest_loader.h"
#include "agent/policy/model.h"
#include "tests/bench/bench_args.h"

// Heap accounting: every operator new/delete of the process (yaml-cpp and absl included) goes
// through these, so "live bytes" and its high-water mark are exact, unlike RSS (which also sees
// pages malloc keeps after a free). Counting costs a few percent, so it is on only for the
// untimed runs that measure memory. The benchmark is single-threaded.
namespace {
bool g_counting = true;
int64_t g_live_bytes = 0;
int64_t g_peak_bytes = 0;

void* CountedAlloc(size_t n, size_t align) {
  void* p = align <= alignof(std::max_align_t)
                ? std::malloc(n ? n : 1)
                : std::aligned_alloc(align, (n + align - 1) / align * align);
  if (!p) throw std::bad_alloc();
  if (g_counting) {
    g_live_bytes += static_cast<int64_t>(malloc_usable_size(p));
    if (g_live_bytes > g_peak_bytes) g_peak_bytes = g_live_bytes;
  }
  return p;
}
void CountedFree(void* p) noexcept {
  if (!p) return;
  if (g_counting) g_live_bytes -= static_cast<int64_t>(malloc_usable_size(p));
  std::free(p);
}
}  // namespace

void* operator new(size_t n) { return CountedAlloc(n, 0); }
void* operator new[](size_t n) { return CountedAlloc(n, 0); }
void* operator new(size_t n, std::align_val_t a) { return CountedAlloc(n, static_cast<size_t>(a)); }
void* operator new[](size_t n, std::align_val_t a) {
  return CountedAlloc(n, static_cast<size_t>(a));
}
void operator delete(void* p) noexcept { CountedFree(p); }
void operator delete[](void* p) noexcept { CountedFree(p); }
void operator delete(void* p, size_t) noexcept { CountedFree(p); }
void operator delete[](void* p, size_t) noexcept { CountedFree(p); }
void operator delete(void* p, std::align_val_t) noexcept { CountedFree(p); }
void operator delete[](void* p, std::align_val_t) noexcept { CountedFree(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { CountedFree(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { CountedFree(p); }

namespace warden::policy {
namespace {

using bench::ArgInt;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// ---- memory ----------------------------------------------------------------------------------

// A field of /proc/self/status in kB ("VmRSS", "VmHWM"), or -1.
long StatusKb(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  size_t n = std::strlen(field);
  while (std::getline(in, line)) {
    if (line.compare(0, n, field) == 0 && line.size() > n && line[n] == ':') {
      return std::strtol(line.c_str() + n + 1, nullptr, 10);
    }
  }
  return -1;
}

// Resets VmHWM to the current RSS (Linux >= 4.0). False when the kernel does not allow it.
bool ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

double Mb(long kb) { return kb / 1024.0; }

// ---- the synthetic cluster -------------------------------------------------------------------

struct App {
  std::string name, tier;
  std::vector<std::string> ports;  // YAML lines of the container's ports
};

const char* const kApps[] = {"web",    "api",   "auth", "cart",  "search",
                             "worker", "cache", "db",   "queue", "gateway"};

std::string Port(const char* name, int number, const char* proto = "TCP") {
  return absl::StrCat("        - name: ", name, "\n          containerPort: ", number,
                      "\n          protocol: ", proto, "\n");
}

std::string NamespaceName(int k) {
  if (k == 0) return "kube-system";
  if (k == 1) return "monitoring";
  return absl::StrCat("team", k % 20, "-svc", k);
}

App AppOf(int ns, int a) {
  App app;
  app.name = kApps[a];
  if (ns == 0 && a == 0) {
    app.name = "coredns";
    app.tier = "system";
    app.ports = {Port("dns", 53, "UDP"), Port("dns-tcp", 53), Port("metrics", 9153)};
    return app;
  }
  if (ns == 1 && a == 0) {
    app.name = "prometheus";
    app.tier = "system";
    app.ports = {Port("http", 9090)};
    return app;
  }
  if (a == 0 || a == 9) {
    app.tier = "frontend";
    app.ports = {Port("http", a == 9 ? 8443 : 8080), Port("metrics", 9090)};
  } else if (a <= 5) {
    app.tier = "backend";
    // Some teams run their APIs on another port under the same name.
    app.ports = {Port("http", ns % 7 == 3 && a == 1 ? 8000 : 8080), Port("grpc", 9000),
                 Port("metrics", 9090)};
  } else {
    app.tier = "data";
    if (a == 6) app.ports = {Port("redis", 6379), Port("metrics", 9121)};
    if (a == 7) app.ports = {Port("postgres", 5432), Port("metrics", 9187)};
    if (a == 8) app.ports = {Port("amqp", 5672), Port("metrics", 15692)};
  }
  return app;
}

struct Cluster {
  std::vector<std::pair<std::string, std::string>> files;  // one per namespace, plus nodes
  int pods = 0, policies = 0, nodes = 0;
};

std::string PolicyDoc(const std::string& ns, const std::string& name, const std::string& spec) {
  return absl::StrCat("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ",
                      name, "\n  namespace: ", ns, "\nspec:\n", spec);
}

// The ten policies of namespace k (kube-system and monitoring get the same ten).
std::vector<std::string> Policies(int k, int namespaces) {
  std::string ns = NamespaceName(k);
  std::vector<std::string> out;
  out.push_back(
      PolicyDoc(ns, "default-deny", "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"));
  out.push_back(PolicyDoc(ns, "allow-same-namespace",
                          "  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: {}\n"));
  out.push_back(PolicyDoc(
      ns, "allow-dns",
      "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
      "    - namespaceSelector:\n        matchLabels:\n          kubernetes.io/metadata.name: "
      "kube-system\n      podSelector:\n        matchLabels:\n          k8s-app: kube-dns\n"
      "    ports:\n    - protocol: UDP\n      port: 53\n    - protocol: TCP\n      port: 53\n"));
  out.push_back(PolicyDoc(
      ns, "allow-web-from-partner-teams",
      absl::StrCat("  podSelector:\n    matchLabels:\n      app: web\n  ingress:\n  - from:\n"
                   "    - namespaceSelector:\n        matchExpressions:\n        - key: team\n     "
                   "     operator: In\n"
                   "          values: [team",
                   k % 20, ", team", (k + 1) % 20,
                   "]\n      podSelector:\n        matchLabels:\n          tier: frontend\n",
                   "    ports:\n    - port: http\n")));
  out.push_back(PolicyDoc(
      ns, "allow-monitoring",
      "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector:\n        matchLabels:\n"
      "          kubernetes.io/metadata.name: monitoring\n      podSelector:\n        "
      "matchLabels:\n"
      "          app: prometheus\n    ports:\n    - port: metrics\n"));
  out.push_back(PolicyDoc(
      ns, "frontend-internet-egress",
      "  podSelector:\n    matchLabels:\n      tier: frontend\n  policyTypes: [Egress]\n  egress:\n"
      "  - to:\n    - ipBlock:\n        cidr: 0.0.0.0/0\n        except: [10.0.0.0/8, "
      "172.16.0.0/12, 192.168.0.0/16, 169.254.169.254/32]\n    ports:\n    - port: 443\n"
      "    - port: 80\n"));
  out.push_back(PolicyDoc(
      ns, "data-from-backend",
      "  podSelector:\n    matchLabels:\n      tier: data\n  policyTypes: [Ingress]\n  ingress:\n"
      "  - from:\n    - podSelector:\n        matchLabels:\n          tier: backend\n    ports:\n"
      "    - port: postgres\n    - port: redis\n    - port: amqp\n"));
  out.push_back(PolicyDoc(
      ns, "backend-egress",
      "  podSelector:\n    matchLabels:\n      tier: backend\n  policyTypes: [Egress]\n  egress:\n"
      "  - to:\n    - podSelector:\n        matchLabels:\n          tier: data\n    ports:\n    - "
      "port: 5432\n"
      "    - port: 6379\n    - port: 5672\n  - to:\n    - namespaceSelector:\n        "
      "matchExpressions:\n"
      "        - key: env\n          operator: NotIn\n          values: [staging]\n      "
      "podSelector:\n"
      "        matchLabels:\n          app: api\n    ports:\n    - port: grpc\n"));
  out.push_back(PolicyDoc(
      ns, "gateway-nodeports",
      absl::StrCat("  podSelector:\n    matchLabels:\n      app: gateway\n  ingress:\n  - from:\n"
                   "    - ipBlock:\n        cidr: 10.0.0.0/8\n        except: [10.244.",
                   k % namespaces % 250, ".0/24]\n    - ipBlock:\n        cidr: 192.168.0.0/16\n",
                   "    ports:\n    - port: 30000\n      endPort: 32767\n    - port: http\n")));
  out.push_back(PolicyDoc(
      ns, "worker-partner-egress",
      absl::StrCat("  podSelector:\n    matchLabels:\n      app: worker\n  policyTypes: [Egress]\n"
                   "  egress:\n  - to:\n    - ipBlock:\n        cidr: 203.0.",
                   k % 256, ".0/24\n        except: [203.0.", k % 256,
                   ".128/25]\n    - ipBlock:\n        cidr: 198.51.100.0/24\n    ports:\n"
                   "    - port: 443\n    - port: 8443\n      endPort: 8450\n"
                   "    - protocol: UDP\n      port: 4500\n")));
  return out;
}

Cluster Generate(int namespaces) {
  Cluster c;
  constexpr int kAppsPerNs = 10, kReplicas = 10;
  const int nodes = std::max(1, namespaces);
  std::string node_docs;
  for (int n = 0; n < nodes; ++n) {
    absl::StrAppend(&node_docs, n ? "---\n" : "",
                    "apiVersion: v1\nkind: Node\nmetadata:\n  name: node-", n,
                    "\n  labels:\n    topology.kubernetes.io/zone: zone-", n % 3,
                    "\nspec:\n  podCIDR: 10.", 244 + n / 250, ".", n % 250,
                    ".0/24\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.168.",
                    n / 250, ".", n % 250 + 1, "\n");
  }
  c.files.emplace_back("nodes.yaml", node_docs);
  c.nodes = nodes;
  int pod_index = 0;
  for (int k = 0; k < namespaces; ++k) {
    std::string ns = NamespaceName(k);
    std::string text = absl::StrCat("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ", ns,
                                    "\n  labels:\n    team: team", k % 20,
                                    "\n    env: ", k % 4 == 2 ? "staging" : "prod", "\n");
    for (int a = 0; a < kAppsPerNs; ++a) {
      App app = AppOf(k, a);
      for (int r = 0; r < kReplicas; ++r) {
        // Every fifth namespace runs a canary of its API: 3 replicas of a second version.
        bool canary = k % 5 == 4 && a == 1 && r < 3;
        std::string hash = absl::StrCat(canary ? "7c9f" : "5d8b", k, a);
        int node = pod_index % nodes;
        int host = pod_index / nodes + 2;
        // Node n has 10.(244 + n/250).(n%250).0/24; up to 250 pods per node, 65,535 in all.
        std::string ip = absl::StrCat("10.", 244 + node / 250, ".", node % 250, ".", host);
        std::string ip6 =
            absl::StrCat("fd00:10:244:", absl::Hex(node), "::", absl::Hex(pod_index + 1));
        absl::StrAppend(&text, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: ", app.name, "-",
                        hash, "-", r, "\n  namespace: ", ns, "\n  labels:\n    app: ", app.name,
                        "\n    tier: ", app.tier, "\n    version: ", canary ? "v2" : "v1",
                        "\n    pod-template-hash: h", hash);
        if (app.name == "coredns") absl::StrAppend(&text, "\n    k8s-app: kube-dns");
        absl::StrAppend(
            &text, "\nspec:\n  nodeName: node-", node, "\n  serviceAccountName: ", app.name,
            "\n  containers:\n  - name: main\n    image: registry.example/", app.name,
            ":1.0\n    ports:\n", absl::StrJoin(app.ports, ""), "status:\n  podIP: ", ip,
            "\n  podIPs:\n  - ip: ", ip, "\n  - ip: ", ip6, "\n");
        ++pod_index;
      }
    }
    for (const std::string& p : Policies(k, namespaces)) {
      absl::StrAppend(&text, "---\n", p);
      ++c.policies;
    }
    c.files.emplace_back(absl::StrCat("ns/", ns, ".yaml"), std::move(text));
  }
  c.pods = pod_index;
  return c;
}

// ---- statistics --------------------------------------------------------------------------------

struct Stats {
  double best = 0, median = 0;
};

Stats Summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  s.best = v.front();
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return s;
}

int Main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::cout << "usage: compile_bench [--namespaces N (100)] [--runs N (5)] [--compile-runs N "
                   "(= runs)]\n"
                   "                     [--flows N (20000)]\n"
                   "  N namespaces hold N*100 pods and N*10 NetworkPolicies.\n";
      return 0;
    }
  }
  const int namespaces = std::max(3, ArgInt(argc, argv, "--namespaces", 100));
  const int runs = ArgInt(argc, argv, "--runs", 5);
  const int compile_runs = ArgInt(argc, argv, "--compile-runs", runs);  // more, for profiling
  const int flow_count = ArgInt(argc, argv, "--flows", 20000);

  long rss_start = StatusKb("VmRSS");
  Cluster cluster = Generate(namespaces);
  int64_t heap_start = g_live_bytes;
  size_t yaml_bytes = 0;
  for (const auto& [_, t] : cluster.files) yaml_bytes += t.size();
  std::printf(
      "cluster: %d namespaces, %d nodes, %d pods, %d NetworkPolicies, %.1f MB of YAML in %zu "
      "files\n",
      namespaces, cluster.nodes, cluster.pods, cluster.policies, yaml_bytes / 1048576.0,
      cluster.files.size());

  // (a) load: one untimed run with the heap counted (its result is the state compiled below),
  // then the timed runs.
  bool peak_reset_ok = ResetPeakRss();
  LoadResult loaded = LoadManifestTexts(cluster.files);
  if (!loaded.errors.empty()) {
    for (const auto& e : loaded.errors)
      std::fprintf(stderr, "load error: %s\n", e.ToString().c_str());
    return 1;
  }
  double state_heap_mb = (g_live_bytes - heap_start) / 1048576.0;  // YAML text + ClusterState
  long load_hwm = StatusKb("VmHWM");
  g_counting = false;
  std::vector<double> load_ms;
  for (int r = 0; r < runs; ++r) {
    auto t0 = Clock::now();
    LoadResult lr = LoadManifestTexts(cluster.files);
    load_ms.push_back(MsSince(t0));
  }
  const ClusterState& st = loaded.state;
  if (static_cast<int>(st.pods.size()) != cluster.pods ||
      static_cast<int>(st.policies.size()) != cluster.policies) {
    std::fprintf(stderr, "loaded %zu pods and %zu policies, expected %d and %d\n", st.pods.size(),
                 st.policies.size(), cluster.pods, cluster.policies);
    return 1;
  }
  cluster.files.clear();
  cluster.files.shrink_to_fit();

  // (c) the memory of a compile: an untimed compile with the heap counted and a fresh RSS peak.
  long rss_before_compile = StatusKb("VmRSS");
  ResetPeakRss();
  g_counting = true;
  int64_t heap_before_compile = g_live_bytes;
  g_peak_bytes = g_live_bytes;
  Snapshot snap = Compile(st).value();
  double compile_heap_peak_mb = (g_peak_bytes - heap_before_compile) / 1048576.0;
  double snapshot_heap_mb = (g_live_bytes - heap_before_compile) / 1048576.0;
  g_counting = false;
  long compile_hwm = StatusKb("VmHWM");

  // (b) compile: the timed runs.
  std::vector<double> compile_ms;
  for (int r = 0; r < compile_runs; ++r) {
    auto t1 = Clock::now();
    Snapshot again = Compile(st).value();
    compile_ms.push_back(MsSince(t1));
    if (again.policy.size() != snap.policy.size() ||
        again.identities.size() != snap.identities.size()) {
      std::fprintf(stderr, "compile is not deterministic\n");
      return 1;
    }
  }
  long process_hwm = StatusKb("VmHWM");

  size_t pod_ids = 0, cidr_ids = 0;
  for (const auto& id : snap.identities) {
    pod_ids += id.kind == IdentityKind::kPod;
    cidr_ids += id.kind == IdentityKind::kCidr;
  }
  Stats load = Summarize(load_ms), compile = Summarize(compile_ms);
  double compile_peak_mb = Mb(compile_hwm - rss_before_compile);
  double portset_mb = snap.portsets.size() * sizeof(wd_portset) / 1048576.0;
  std::printf(
      "tables: %zu identities (%zu pod, %zu CIDR), %zu policy entries, %zu portsets (%.1f MB of "
      "bitmaps), "
      "%zu ipcache entries\n",
      snap.identities.size(), pod_ids, cidr_ids, snap.policy.size(), snap.portsets.size(),
      portset_mb, snap.ipcache.size());
  size_t entries[2][2] = {};  // [direction][remote is a CIDR identity]
  for (const auto& [key, _] : snap.policy)
    entries[key.direction][(key.remote & WD_ID_CIDR_FLAG) != 0]++;
  std::printf(
      "entries: ingress %zu from pod identities + %zu from CIDR identities, egress %zu to pod "
      "identities "
      "+ %zu to CIDR identities\n",
      entries[WD_DIR_INGRESS][0], entries[WD_DIR_INGRESS][1], entries[WD_DIR_EGRESS][0],
      entries[WD_DIR_EGRESS][1]);
  std::printf("load:    best %8.1f ms, median %8.1f ms (%d runs)\n", load.best, load.median, runs);
  std::printf("compile: best %8.1f ms, median %8.1f ms (%d runs); target < 1000 ms: %s\n",
              compile.best, compile.median, compile_runs, compile.median < 1000 ? "met" : "MISSED");
  std::printf(
      "memory:  heap: YAML text + loaded objects %.1f MB; compile peak +%.1f MB, snapshot kept "
      "+%.1f MB; "
      "target < 200 MB for the compile: %s\n",
      state_heap_mb, compile_heap_peak_mb, snapshot_heap_mb,
      compile_heap_peak_mb < 200 ? "met" : "MISSED");
  std::printf(
      "         RSS: %.1f MB at start, %.1f MB before the compile (peak during the first load %.1f "
      "MB%s), compile peak +%.1f MB, "
      "process peak %.1f MB\n",
      Mb(rss_start), Mb(rss_before_compile), Mb(load_hwm), peak_reset_ok ? "" : ", not reset",
      compile_peak_mb, Mb(process_hwm));

  // (d) the same random questions through the model and through the compiled tables.
  std::vector<const Pod*> pods;
  for (const auto& [_, p] : st.pods) pods.push_back(&p);
  std::mt19937 rng(42);
  struct Question {
    const Pod* src;
    const Pod* dst;  // null: an outside address
    IpAddress dst_ip;
    Protocol proto;
    int port;
  };
  const std::vector<std::string> outside = {"8.8.8.8",        "203.0.7.9", "203.0.7.200",
                                            "198.51.100.5",   "10.1.2.3",  "192.168.0.5",
                                            "169.254.169.254"};
  const int ports[] = {53, 80, 443, 5432, 6379, 8000, 8080, 8443, 9000, 9090, 31000, 4500};
  // Half the questions are flows the policies were written for (DNS, backend to its data, the
  // API across teams, scraping, the internet from frontends), half are random pairs.
  std::map<std::string, std::vector<const Pod*>>
      by_label;  // "ns/app=web", "ns/tier=data", "app=api"
  for (const Pod* p : pods) {
    for (const char* key : {"app", "tier"}) {
      auto it = p->labels.find(key);
      if (it == p->labels.end()) continue;
      by_label[absl::StrCat(p->ns, "/", key, "=", it->second)].push_back(p);
      by_label[absl::StrCat(key, "=", it->second)].push_back(p);
    }
  }
  auto pick = [&](const std::string& label) -> const Pod* {
    auto it = by_label.find(label);
    if (it == by_label.end() || it->second.empty()) return pods[rng() % pods.size()];
    return it->second[rng() % it->second.size()];
  };
  std::vector<Question> qs;
  qs.reserve(flow_count);
  for (int i = 0; i < flow_count; ++i) {
    Question q{};
    q.proto = rng() % 4 == 0 ? Protocol::kUDP : Protocol::kTCP;
    const Pod* src = pods[rng() % pods.size()];
    q.src = src;
    q.dst = pods[rng() % pods.size()];
    q.port = ports[rng() % std::size(ports)];
    switch (rng() % 10) {
      case 0:  // DNS
        q.dst = pick("app=coredns");
        q.proto = rng() % 2 ? Protocol::kUDP : Protocol::kTCP;
        q.port = 53;
        break;
      case 1: {  // a backend to the data tier of its namespace, on the data port
        q.src = pick(absl::StrCat(src->ns, "/tier=backend"));
        q.dst = pick(absl::StrCat(src->ns, "/tier=data"));
        q.proto = Protocol::kTCP;
        q.port = q.dst->ports.front().port;
        break;
      }
      case 2:  // a backend to the API of another team, gRPC
        q.src = pick(absl::StrCat(src->ns, "/tier=backend"));
        q.dst = pick("app=api");
        q.proto = Protocol::kTCP;
        q.port = 9000;
        break;
      case 3:  // scraping
        q.src = pick("app=prometheus");
        q.proto = Protocol::kTCP;
        q.port = Model::ResolveNamedPort(*q.dst, "metrics", Protocol::kTCP).value_or(9090);
        break;
      case 4:  // a frontend to the internet
        q.src = pick(absl::StrCat(src->ns, "/tier=frontend"));
        q.dst = nullptr;
        q.proto = Protocol::kTCP;
        q.port = rng() % 2 ? 443 : 80;
        break;
      case 5:  // within a namespace
        q.dst = pick(absl::StrCat(src->ns, "/tier=", src->labels.at("tier")));
        break;
      case 6:  // anything to an outside address
        q.dst = nullptr;
        break;
      default:
        break;  // random pair
    }
    q.dst_ip = q.dst ? q.dst->ips.front() : *ParseIp(outside[rng() % outside.size()]);
    qs.push_back(q);
  }
  Model model(st);
  std::vector<char> model_verdict(qs.size()), twin_verdict(qs.size());
  auto tm = Clock::now();
  for (size_t i = 0; i < qs.size(); ++i) {
    const Question& q = qs[i];
    L4 l4{q.proto, q.port};
    bool ok = model.Evaluate(Direction::kEgress, *q.src, Endpoint{q.dst, q.dst_ip}, l4).allowed;
    if (ok && q.dst)
      ok = model.Evaluate(Direction::kIngress, *q.dst, Endpoint{q.src, q.src->ips.front()}, l4)
               .allowed;
    model_verdict[i] = ok;
  }
  double model_ms = MsSince(tm);
  DatapathTwin twin(snap);
  auto tt = Clock::now();
  for (size_t i = 0; i < qs.size(); ++i) {
    const Question& q = qs[i];
    uint16_t port = static_cast<uint16_t>(q.port);
    bool ok = twin.Lookup(snap.pods.at(q.src->Key()).identity, *twin.LookupIpcache(q.dst_ip),
                          WD_DIR_EGRESS, q.proto, port)
                  .allowed;
    if (ok && q.dst) {
      ok = twin.Lookup(snap.pods.at(q.dst->Key()).identity, *twin.LookupIpcache(q.src->ips.front()),
                       WD_DIR_INGRESS, q.proto, port)
               .allowed;
    }
    twin_verdict[i] = ok;
  }
  double twin_ms = MsSince(tt);
  int disagree = 0, allowed = 0;
  for (size_t i = 0; i < qs.size(); ++i) {
    disagree += model_verdict[i] != twin_verdict[i];
    allowed += model_verdict[i];
  }
  double speedup = model_ms / std::max(twin_ms, 1e-6);
  std::printf(
      "flows:   %d random flows (%d allowed): model %.1f ms (%.2f us/flow), compiled tables via "
      "twin "
      "%.1f ms (%.2f us/flow): %.1fx faster; disagreements: %d\n",
      flow_count, allowed, model_ms, model_ms * 1000 / flow_count, twin_ms,
      twin_ms * 1000 / flow_count, speedup, disagree);

  std::printf(
      "pods=%zu policies=%zu nodes=%d identities=%zu pod_identities=%zu cidr_identities=%zu "
      "policy_entries=%zu portsets=%zu ipcache_entries=%zu load_ms=%.1f load_best_ms=%.1f "
      "compile_ms=%.1f compile_best_ms=%.1f runs=%d compile_heap_peak_mb=%.1f "
      "snapshot_heap_mb=%.1f "
      "compile_peak_rss_mb=%.1f peak_rss_mb=%.1f flows=%d model_flow_us=%.2f twin_flow_us=%.2f "
      "twin_vs_model_speedup=%.1f "
      "disagreements=%d\n",
      st.pods.size(), st.policies.size(), cluster.nodes, snap.identities.size(), pod_ids, cidr_ids,
      snap.policy.size(), snap.portsets.size(), snap.ipcache.size(), load.median, load.best,
      compile.median, compile.best, runs, compile_heap_peak_mb, snapshot_heap_mb, compile_peak_mb,
      Mb(process_hwm), flow_count, model_ms * 1000 / flow_count, twin_ms * 1000 / flow_count,
      speedup, disagree);
  return disagree == 0 ? 0 : 1;
}

}  // namespace
}  // namespace warden::policy

int main(int argc, char** argv) { return warden::policy::Main(argc, argv); }
