// Control plane: NetworkPolicy file change -> verdict in every agent's kernel, 1 vs 20 agents.
//
// Runs the real binaries (`warden control`, `warden node`, found next to this executable) on
// loopback with mutual TLS (scripts/gen-certs), on a generated cluster of 10,000 pods (by
// default 100 namespaces x 10 apps x 10 replicas, round-robin over 20 Node objects, 5
// NetworkPolicies per namespace: default-deny, allow-same-namespace, web from labelled
// namespaces, DNS egress to kube-dns, scraping from monitoring). Each node gets a cgroup root
// with kubelet-named pod cgroups (<root>/nI/kubepods/burstable/pod<uid>) so its agent finds its
// 500 pods.
//
// A round rewrites one policy file (`toggle.yaml`: a policy selecting every pod of one namespace,
// whose pods are on every node; its ingress port alternates 7000/7001), written beside the
// manifests and renamed in (atomic). t0 is taken just before the rename; then every agent's
// pinned wd_config map (bpf_obj_get once, bpf_map_lookup_elem of key 0 in a tight loop with
// 100 us sleeps) is polled until its `generation` moves: that is the moment the new tables are
// live in that kernel. latency = that moment - t0; every (agent, round) is one sample.
//
// Scenarios, each with fresh processes, pins and state (the same manifests: 20 nodes either way,
// so each agent's state has the same size in every scenario):
//   manifests-1       one agent reading the manifests itself (`warden node --manifests`, polling
//                     every 100 ms): the local-file baseline;
//   control-1         `warden control` + agent n0;
//   control-20        `warden control` + agents n0..n19, as configured by default;
//   control-20-quiet  the same with the agents' reconcile tick slowed to 60 s (--interval-ms
//                     60000): 20 agents share this machine's CPUs, and their idle ticks (each
//                     rebuilds and compares its tables every 100 ms) otherwise compete with the
//                     push. In control mode the tick only picks up pod cgroups that came or
//                     went; updates from the control plane are applied as they arrive either
//                     way.
// Also: the control plane's VmRSS/VmHWM (after the rounds: it keeps a history of versions), the
// mean push latency its own histogram reports (node states computed -> the node's ACK), the CPU
// the processes used, the agents' idle CPU, the size of a full update for one node (n0's saved
// state: a serialized full Update) and of the delta one round sends, and an in-process breakdown
// of what the control plane redoes on each change (load every manifest, compile, cut 20 node
// states).
//
// Needs root. Everything it creates is named after its pid and removed at exit (also on error
// or Ctrl-C): cgroups <cgroup2>/warden-ctlbench-<pid>/, bpffs /sys/fs/bpf/warden-ctlbench-<pid>/,
// temp dir /tmp/warden-ctlbench-<pid>/ (manifests, PKI, state, logs).
//
// Usage: control_bench [--agents N (20)] [--rounds N (16)] [--contended-rounds N (8)]
//                      [--baseline-rounds N (8)] [--namespaces N (100)] [--gap-ms N (300)]
//                      [--skip-baseline] [--skip-single] [--skip-contended] [--skip-quiet]
//                      [--single-quiet] [--keep-logs DIR] [--perf DIR] [--inproc-only]
//   --rounds applies to control-1 and control-20-quiet, --contended-rounds to control-20.
//   --perf DIR records `perf record -g` of the control plane and agent n0 during each
//   control scenario's rounds; --keep-logs DIR copies every process's log there;
//   --inproc-only stops after the in-process breakdown (starts no process).
// Prints human-readable lines, then last one line of key=value pairs.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/common/cgroup.h"
#include "agent/nodestate/pipeline.h"
#include "agent/nodestate/wire.h"
#include "agent/policy/compiler.h"
#include "agent/policy/manifest_source.h"
#include "warden_structs.h"

#ifndef WARDEN_SOURCE_DIR
#define WARDEN_SOURCE_DIR ""
#endif

#include "tests/bench/bench_args.h"
#include "tests/bench/bench_util.h"

namespace warden::bench {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// ---- plumbing -----------------------------------------------------------------------------------

double MsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

// Cleanup actions, run last-in first-out (at scope exit, also when unwinding).
class Cleanup {
 public:
  ~Cleanup() { RunAll(); }
  void Add(std::function<void()> fn) { fns_.push_back(std::move(fn)); }
  void RunAll() {
    while (!fns_.empty()) {
      auto fn = std::move(fns_.back());
      fns_.pop_back();
      fn();
    }
  }

 private:
  std::vector<std::function<void()>> fns_;
};

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out.flush()) throw Failure("writing " + path);
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// utime + stime of a process, in seconds (or 0 when gone).
double CpuSeconds(pid_t pid) {
  std::string s = ReadText(absl::StrCat("/proc/", pid, "/stat"));
  size_t close_paren = s.rfind(')');
  if (close_paren == std::string::npos) return 0;
  std::istringstream in(s.substr(close_paren + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; in >> field; ++i) {  // field 3 is the state
    if (i == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 15) {
      stime = std::strtoull(field.c_str(), nullptr, 10);
      break;
    }
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

// ---- child processes ----------------------------------------------------------------------------

struct Child {
  pid_t pid = -1;
  std::string label, log;
};

Child Spawn(const std::string& label, const std::vector<std::string>& argv,
            const std::string& log) {
  pid_t pid = fork();
  if (pid < 0) throw Failure("fork");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the benchmark
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull >= 0) dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return Child{pid, label, log};
}

bool Exited(const Child& c) {
  int status;
  return waitpid(c.pid, &status, WNOHANG) == c.pid;
}

std::string Tail(const std::string& path, int lines = 8) {
  std::ifstream in(path);
  std::vector<std::string> all;
  std::string l;
  while (std::getline(in, l)) all.push_back(l);
  std::string out;
  for (size_t i = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0; i < all.size();
       ++i)
    absl::StrAppend(&out, "    ", all[i], "\n");
  return out;
}

void RemoveCgroupTree(const std::string& root) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return;
  std::vector<std::string> dirs;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory(ec)) dirs.push_back(it->path().string());
  }
  // Deepest first.
  std::sort(dirs.begin(), dirs.end(), [](const std::string& a, const std::string& b) {
    return std::count(a.begin(), a.end(), '/') > std::count(b.begin(), b.end(), '/');
  });
  for (const auto& d : dirs) rmdir(d.c_str());
  if (rmdir(root.c_str()) != 0 && errno != ENOENT)
    std::fprintf(stderr, "cleanup: rmdir %s: %s\n", root.c_str(), strerror(errno));
}

// ---- the synthetic cluster ----------------------------------------------------------------------

struct ClusterSpec {
  int namespaces = 100, apps = 10, replicas = 10, nodes = 20;
  int toggle_ns = 2;  // the namespace whose policy changes each round
};

struct PodInfo {
  std::string uid;
  int node;
};

const char* const kApps[] = {"web",    "api",   "auth", "cart",  "search",
                             "worker", "cache", "db",   "queue", "gateway"};

std::string NamespaceName(int k) {
  if (k == 0) return "kube-system";
  if (k == 1) return "monitoring";
  return absl::StrCat("team", k % 20, "-svc", k);
}

std::string PolicyDoc(const std::string& ns, const std::string& name, const std::string& spec) {
  return absl::StrCat(
      "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: ", name,
      "\n  namespace: ", ns, "\nspec:\n", spec);
}

std::string TogglePolicy(const ClusterSpec& c, int port) {
  return PolicyDoc(NamespaceName(c.toggle_ns), "bench-toggle",
                   absl::StrCat("  podSelector: {}\n  policyTypes: [Ingress]\n  ingress:\n"
                                "  - from:\n    - namespaceSelector:\n        matchLabels:\n"
                                "          env: staging\n    ports:\n    - protocol: TCP\n"
                                "      port: ",
                                port, "\n"));
}

// Writes nodes.yaml, ns/<namespace>.yaml (namespace, pods, policies) and toggle.yaml; returns
// every pod's uid and node.
std::vector<PodInfo> WriteManifests(const ClusterSpec& c, const std::string& dir, size_t* bytes) {
  fs::create_directories(dir + "/ns");
  std::vector<PodInfo> pods;
  *bytes = 0;
  std::string nodes;
  for (int n = 0; n < c.nodes; ++n) {
    absl::StrAppend(&nodes, n ? "---\n" : "", "apiVersion: v1\nkind: Node\nmetadata:\n  name: n", n,
                    "\n  labels:\n    topology.kubernetes.io/zone: zone-", n % 3,
                    "\nspec:\n  podCIDR: 10.", 100 + n,
                    ".0.0/16\nstatus:\n  addresses:\n  - type: InternalIP\n    address: 192.168.0.",
                    n + 1, "\n");
  }
  WriteFile(dir + "/nodes.yaml", nodes);
  *bytes += nodes.size();
  int index = 0;
  for (int k = 0; k < c.namespaces; ++k) {
    std::string ns = NamespaceName(k);
    std::string text = absl::StrCat("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ", ns,
                                    "\n  labels:\n    team: team", k % 20,
                                    "\n    env: ", k % 4 == 2 ? "staging" : "prod",
                                    "\n    web-access: \"", k % 3 == 0 ? "true" : "false", "\"\n");
    for (int a = 0; a < c.apps; ++a) {
      std::string app = kApps[a % 10];
      std::string tier = a == 0 || a == 9 ? "frontend" : a <= 5 ? "backend" : "data";
      std::string extra_label;
      std::string ports =
          "    - {name: http, containerPort: 8080, protocol: TCP}\n"
          "    - {name: metrics, containerPort: 9090, protocol: TCP}\n";
      if (k == 0 && a == 0) {
        app = "coredns";
        tier = "system";
        extra_label = "\n    k8s-app: kube-dns";
        ports =
            "    - {name: dns, containerPort: 53, protocol: UDP}\n"
            "    - {name: dns-tcp, containerPort: 53, protocol: TCP}\n"
            "    - {name: metrics, containerPort: 9153, protocol: TCP}\n";
      } else if (k == 1 && a == 0) {
        app = "prometheus";
        tier = "system";
        ports = "    - {name: http, containerPort: 9090, protocol: TCP}\n";
      }
      std::string hash = absl::StrFormat("%x%02d", 0x5d8b0 + k, a);
      for (int r = 0; r < c.replicas; ++r) {
        int node = index % c.nodes;
        int local = index / c.nodes;
        std::string uid = absl::StrFormat("%08x-%04x-4000-8000-%012x", 0xbe9c0000u + k, a, index);
        std::string ip = absl::StrCat("10.", 100 + node, ".", local / 250, ".", local % 250 + 2);
        absl::StrAppend(&text, "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: ", app, "-",
                        hash, "-", r, "\n  namespace: ", ns, "\n  uid: ", uid,
                        "\n  labels:\n    app: ", app, "\n    tier: ", tier,
                        "\n    pod-template-hash: \"", hash, "\"", extra_label,
                        "\nspec:\n  nodeName: n", node, "\n  serviceAccountName: ", app,
                        "\n  containers:\n  - name: main\n    image: registry.example/", app,
                        ":1.0\n    ports:\n", ports, "status:\n  phase: Running\n  podIP: ", ip,
                        "\n  podIPs:\n  - ip: ", ip, "\n");
        pods.push_back(PodInfo{uid, node});
        ++index;
      }
    }
    absl::StrAppend(&text, PolicyDoc(ns, "default-deny",
                                     "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n"));
    absl::StrAppend(&text, PolicyDoc(ns, "allow-same-namespace",
                                     "  podSelector: {}\n  ingress:\n  - from:\n    - podSelector: "
                                     "{}\n  egress:\n  - to:\n    - podSelector: {}\n"));
    absl::StrAppend(&text,
                    PolicyDoc(ns, "allow-web-from-labelled-namespaces",
                              "  podSelector:\n    matchLabels:\n      app: web\n  ingress:\n"
                              "  - from:\n    - namespaceSelector:\n        matchLabels:\n"
                              "          web-access: \"true\"\n    ports:\n    - port: http\n"));
    absl::StrAppend(
        &text,
        PolicyDoc(ns, "allow-dns",
                  "  podSelector: {}\n  policyTypes: [Egress]\n  egress:\n  - to:\n"
                  "    - namespaceSelector:\n        matchLabels:\n          "
                  "kubernetes.io/metadata.name: kube-system\n      podSelector:\n        "
                  "matchLabels:\n          k8s-app: kube-dns\n    ports:\n    - protocol: UDP\n"
                  "      port: 53\n    - protocol: TCP\n      port: 53\n"));
    absl::StrAppend(
        &text, PolicyDoc(ns, "allow-monitoring",
                         "  podSelector: {}\n  ingress:\n  - from:\n    - namespaceSelector:\n"
                         "        matchLabels:\n          kubernetes.io/metadata.name: monitoring\n"
                         "      podSelector:\n        matchLabels:\n          app: prometheus\n"
                         "    ports:\n    - port: metrics\n"));
    WriteFile(absl::StrCat(dir, "/ns/", ns, ".yaml"), text);
    *bytes += text.size();
  }
  std::string toggle = TogglePolicy(c, 7000);
  WriteFile(dir + "/toggle.yaml", toggle);
  *bytes += toggle.size();
  return pods;
}

// ---- what the control plane does on a change, in process ---------------------------------------

struct Breakdown {
  double load_ms = 0, compile_ms = 0, node_states_ms = 0;
  int errors = 0;
  size_t pods = 0, policies = 0, policy_entries = 0, ipcache = 0, identities = 0;
  std::vector<nodestate::NodeState> states;
};

// The steps `warden control` takes on a change, through the same pipeline (ControlPlane::Refresh:
// DesiredStatePipeline::Run, then a state per node), keeping what it keeps between changes.
struct InProcess {
  explicit InProcess(const std::string& dir) : pipeline(Options(dir)) {}
  static nodestate::PipelineOptions Options(const std::string& dir) {
    nodestate::PipelineOptions o;
    o.manifests = dir;
    return o;
  }
  nodestate::DesiredStatePipeline pipeline;

  Breakdown Run(const ClusterSpec& c) {
    Breakdown b;
    nodestate::DesiredStatePipeline::Result r = pipeline.Run();
    if (!r.cluster) throw Failure(absl::StrCat("compile: ", r.status.ToString()));
    auto t = Clock::now();
    for (int n = 0; n < c.nodes; ++n)
      b.states.push_back(r.cluster->NodeStateOf(absl::StrCat("n", n)));
    b.load_ms = r.load_ms;
    b.compile_ms = r.compile_ms;
    b.node_states_ms = r.parts_ms + MsBetween(t, Clock::now());
    b.errors = static_cast<int>(r.errors.size());
    for (size_t i = 0; i < r.errors.size() && i < 5; ++i)
      std::fprintf(stderr, "manifest error: %s\n", r.errors[i].ToString().c_str());
    const policy::ClusterState& st = *r.cluster->state();
    const policy::Snapshot& snap = *r.snapshot;
    b.pods = st.pods.size();
    b.policies = st.policies.size();
    b.policy_entries = snap.policy.size();
    b.ipcache = snap.ipcache.size();
    b.identities = snap.identities.size();
    return b;
  }
};

// ---- statistics ---------------------------------------------------------------------------------

struct Summary {
  size_t n = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, min = 0, mean = 0;
};

// Nearest-rank percentiles.
Summary Summarize(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  auto rank = [&](double q) {
    size_t r = static_cast<size_t>(std::ceil(q * v.size()));
    return v[std::clamp<size_t>(r, 1, v.size()) - 1];
  };
  s.n = v.size();
  s.p50 = rank(0.50);
  s.p90 = rank(0.90);
  s.p99 = rank(0.99);
  s.max = v.back();
  s.min = v.front();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / v.size();
  return s;
}

// ---- one scenario -------------------------------------------------------------------------------

struct Env {
  std::string warden, gen_certs;
  std::string tmp, manifests, stage, pki, cgroup_base, bpffs_base;
  ClusterSpec cluster;
  std::vector<int> pods_per_node;
  int gap_ms = 300;
  std::string perf_dir;   // record the control plane and agent n0 with perf during the rounds
  std::string keep_logs;  // copy each scenario's logs here (debugging)
};

struct ScenarioResult {
  std::string name;
  int agents = 0, rounds = 0;
  std::vector<double> samples;    // every (agent, round)
  std::vector<double> round_max;  // per round, the slowest agent
  std::vector<double> round_min;  // per round, the fastest agent
  double ready_s = 0;             // start -> every agent enforcing the first state
  double control_rss_mb = 0, control_hwm_mb = 0, control_rss_start_mb = 0;
  double control_cpu_s = 0, agents_cpu_s = 0, rounds_wall_s = 0, idle_agents_cpu_pct = 0;
  double push_ms_mean = 0;  // the control plane's own push latency histogram, during the rounds
  long full_update_bytes = 0;
  int extra_flips = 0, timeouts = 0;
};

// Polls every agent's pinned wd_config.
class ConfigWatch {
 public:
  explicit ConfigWatch(const std::vector<std::string>& pins) {
    for (const auto& p : pins) {
      int fd = bpf_obj_get(p.c_str());
      if (fd < 0) throw Failure(absl::StrCat("bpf_obj_get ", p, ": ", strerror(errno)));
      fds_.push_back(fd);
    }
  }
  ~ConfigWatch() {
    for (int fd : fds_) close(fd);
  }
  wd_config Read(size_t i) const {
    uint32_t zero = 0;
    wd_config c{};
    if (bpf_map_lookup_elem(fds_[i], &zero, &c) != 0)
      throw Failure(absl::StrCat("reading wd_config: ", strerror(errno)));
    return c;
  }
  size_t size() const { return fds_.size(); }

 private:
  std::vector<int> fds_;
};

ScenarioResult RunScenario(const Env& env, const std::string& name, bool control_mode, int agents,
                           int rounds, int agent_interval_ms = 0) {
  ScenarioResult res;
  res.name = name;
  res.agents = agents;
  res.rounds = rounds;
  Cleanup cleanup;
  std::string state_dir = absl::StrCat(env.tmp, "/state-", name);
  std::string logs = absl::StrCat(env.tmp, "/logs-", name);
  fs::create_directories(logs);
  if (!env.keep_logs.empty()) {
    cleanup.Add([logs, dest = env.keep_logs + "/" + name] {
      std::error_code ec;
      fs::create_directories(dest, ec);
      fs::copy(logs, dest, fs::copy_options::overwrite_existing | fs::copy_options::recursive, ec);
    });
  }
  cleanup.Add([state_dir] {
    std::error_code ec;
    fs::remove_all(state_dir, ec);
  });
  // The toggle starts at 7000 in every scenario.
  WriteFile(env.stage + "/toggle.yaml", TogglePolicy(env.cluster, 7000));
  if (rename((env.stage + "/toggle.yaml").c_str(), (env.manifests + "/toggle.yaml").c_str()) != 0)
    throw Failure("rename toggle.yaml");

  Child control;
  uint16_t control_metrics = 0;
  auto t_start = Clock::now();
  if (control_mode) {
    uint16_t port = FreePort();
    control_metrics = FreePort();
    control =
        Spawn("control",
              {env.warden, "control", "--manifests", env.manifests, "--listen",
               absl::StrCat("127.0.0.1:", port), "--tls-cert", env.pki + "/warden-control.pem",
               "--tls-key", env.pki + "/warden-control-key.pem", "--client-ca", env.pki + "/ca.pem",
               "--metrics", absl::StrCat("127.0.0.1:", control_metrics)},
              logs + "/control.log");
    pid_t pid = control.pid;
    cleanup.Add([pid] { EndChild(pid); });
    // Up once /metrics answers (it starts after the first compile and the Sync server).
    auto deadline = Clock::now() + std::chrono::seconds(60);
    for (;;) {
      CheckInterrupted();
      if (Exited(control))
        throw Failure("warden control exited early; its log ends with:\n" + Tail(control.log));
      if (HttpGet(control_metrics, "/metrics").find("warden_control_reloads_total") !=
          std::string::npos)
        break;
      if (Clock::now() > deadline) throw Failure("warden control not up in 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    res.control_rss_start_mb = StatusKb(pid, "VmRSS") / 1024.0;
    std::printf("  [%s] warden control up in %.1f s (RSS %.1f MB)\n", name.c_str(),
                MsBetween(t_start, Clock::now()) / 1000, res.control_rss_start_mb);
    std::fflush(stdout);
    std::string arg = absl::StrCat("127.0.0.1:", port);
    control.label = arg;  // where agents connect
  }

  std::vector<Child> children;
  std::vector<uint16_t> metrics_ports;
  std::vector<std::string> pins;
  auto t_agents = Clock::now();
  for (int i = 0; i < agents; ++i) {
    std::string node = absl::StrCat("n", i);
    std::string bpffs = absl::StrCat(env.bpffs_base, "/", node);
    uint16_t mport = FreePort();
    std::vector<std::string> argv = {env.warden,      "node",
                                     "--node",        node,
                                     "--cgroup-root", absl::StrCat(env.cgroup_base, "/", node),
                                     "--bpffs",       bpffs,
                                     "--log",         absl::StrCat(logs, "/", node, ".jsonl"),
                                     "--metrics",     absl::StrCat("127.0.0.1:", mport)};
    if (agent_interval_ms > 0) {
      argv.push_back("--interval-ms");
      argv.push_back(absl::StrCat(agent_interval_ms));
    }
    if (control_mode) {
      for (const std::string& a :
           {std::string("--control"), control.label, std::string("--tls-cert"),
            absl::StrCat(env.pki, "/", node, ".pem"), std::string("--tls-key"),
            absl::StrCat(env.pki, "/", node, "-key.pem"), std::string("--tls-ca"),
            env.pki + "/ca.pem", std::string("--tls-server-name"), std::string("warden-control"),
            std::string("--state-dir"), state_dir})
        argv.push_back(a);
    } else {
      argv.push_back("--manifests");
      argv.push_back(env.manifests);
    }
    // Removing the pins detaches the programs; registered before the spawn so that a failed
    // start still cleans up.
    cleanup.Add([bpffs] {
      std::error_code ec;
      fs::remove_all(bpffs, ec);
      if (ec)
        std::fprintf(stderr, "cleanup: removing %s: %s\n", bpffs.c_str(), ec.message().c_str());
    });
    Child ch = Spawn(node, argv, absl::StrCat(logs, "/", node, ".log"));
    pid_t pid = ch.pid;
    cleanup.Add([pid] { EndChild(pid); });
    children.push_back(ch);
    metrics_ports.push_back(mport);
    pins.push_back(bpffs + "/wd_config");
  }
  // Ready: the first state applied (configured, state saved in control mode) and every local pod
  // found by its cgroup.
  {
    std::vector<bool> ready(agents, false);
    int left = agents;
    auto deadline = Clock::now() + std::chrono::seconds(120);
    while (left > 0) {
      CheckInterrupted();
      for (int i = 0; i < agents; ++i) {
        if (ready[i]) continue;
        if (Exited(children[i]))
          throw Failure(absl::StrCat("agent ", children[i].label,
                                     " exited early; its log ends with:\n", Tail(children[i].log)));
        if (control_mode && !fs::exists(absl::StrCat(state_dir, "/", children[i].label, ".state")))
          continue;
        if (access(pins[i].c_str(), F_OK) != 0) continue;
        std::string m = HttpGet(metrics_ports[i], "/metrics");
        if (Metric(m, "warden_local_pods") != env.pods_per_node[i] ||
            Metric(m, "warden_applies_total") < 1)
          continue;
        ConfigWatch one({pins[i]});
        if (!one.Read(0).configured) continue;
        ready[i] = true;
        --left;
      }
      if (Clock::now() > deadline) {
        for (int i = 0; i < agents; ++i) {
          if (!ready[i])
            throw Failure(absl::StrCat("agent ", children[i].label,
                                       " not ready in 120 s; its log ends with:\n",
                                       Tail(children[i].log)));
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  res.ready_s = MsBetween(t_agents, Clock::now()) / 1000;
  std::printf("  [%s] %d agent%s enforcing the first state (%d local pods each) in %.1f s\n",
              name.c_str(), agents, agents == 1 ? "" : "s", env.pods_per_node[0], res.ready_s);
  std::fflush(stdout);
  if (control_mode)
    res.full_update_bytes = static_cast<long>(fs::file_size(absl::StrCat(state_dir, "/n0.state")));

  // Settle, then the agents' idle CPU (the reconcile ticks) over one second.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  {
    double before = 0, after = 0;
    for (const auto& c : children) before += CpuSeconds(c.pid);
    auto t = Clock::now();
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    for (const auto& c : children) after += CpuSeconds(c.pid);
    res.idle_agents_cpu_pct = 100 * (after - before) / (MsBetween(t, Clock::now()) / 1000);
  }

  ConfigWatch watch(pins);
  std::vector<uint32_t> gen_start(agents);
  for (int i = 0; i < agents; ++i) gen_start[i] = watch.Read(i).generation;
  double push_sum0 = 0, push_n0 = 0;
  if (control_mode) {
    std::string m = HttpGet(control_metrics, "/metrics");
    push_sum0 = Metric(m, "warden_control_push_latency_ms_sum");
    push_n0 = Metric(m, "warden_control_push_latency_ms_count");
  }
  double cpu_control0 = control_mode ? CpuSeconds(control.pid) : 0, cpu_agents0 = 0;
  for (const auto& c : children) cpu_agents0 += CpuSeconds(c.pid);
  std::vector<pid_t> perf_pids;
  if (control_mode && !env.perf_dir.empty()) {
    fs::create_directories(env.perf_dir);
    for (auto [what, pid] : {std::pair<std::string, pid_t>{"control", control.pid},
                             std::pair<std::string, pid_t>{"n0", children[0].pid}}) {
      pid_t p = Spawn("perf",
                      {"/usr/bin/perf", "record", "-g", "-q", "-o",
                       absl::StrCat(env.perf_dir, "/", name, "-", what, ".data"), "-p",
                       absl::StrCat(pid)},
                      absl::StrCat(logs, "/perf-", what, ".log"))
                    .pid;
      perf_pids.push_back(p);
      cleanup.Add([p] { EndChild(p, std::chrono::milliseconds(10000)); });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  std::mt19937 rng(12345);
  auto t_rounds = Clock::now();
  for (int r = 0; r < rounds; ++r) {
    CheckInterrupted();
    int port = r % 2 == 0 ? 7001 : 7000;
    WriteFile(env.stage + "/toggle.yaml", TogglePolicy(env.cluster, port));
    std::vector<uint32_t> before(agents);
    for (int i = 0; i < agents; ++i) before[i] = watch.Read(i).generation;
    std::vector<double> lat(agents, -1);
    int left = agents;
    auto t0 = Clock::now();
    if (rename((env.stage + "/toggle.yaml").c_str(), (env.manifests + "/toggle.yaml").c_str()) != 0)
      throw Failure("rename toggle.yaml");
    auto deadline = t0 + std::chrono::seconds(30);
    while (left > 0) {
      for (int i = 0; i < agents; ++i) {
        if (lat[i] >= 0) continue;
        if (watch.Read(i).generation != before[i]) {
          lat[i] = MsBetween(t0, Clock::now());
          --left;
        }
      }
      if (left == 0) break;
      if (Clock::now() > deadline) {
        ++res.timeouts;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    double mx = 0, mn = 1e18;
    for (int i = 0; i < agents; ++i) {
      if (lat[i] < 0) continue;
      res.samples.push_back(lat[i]);
      mx = std::max(mx, lat[i]);
      mn = std::min(mn, lat[i]);
    }
    res.round_max.push_back(mx);
    res.round_min.push_back(mn);
    if (res.timeouts) {
      for (int i = 0; i < agents; ++i) {
        if (Exited(children[i]))
          throw Failure(absl::StrCat("agent ", children[i].label, " exited; its log ends with:\n",
                                     Tail(children[i].log)));
      }
      if (control_mode && Exited(control))
        throw Failure("warden control exited; its log ends with:\n" + Tail(control.log));
      throw Failure(absl::StrCat("round ", r, ": only ", agents - left, " of ", agents,
                                 " agents applied the change within 30 s"));
    }
    // Let the dust settle (persisting, ACKs), and do not run in step with the agents' ticks.
    std::this_thread::sleep_for(
        std::chrono::milliseconds(env.gap_ms + std::uniform_int_distribution<int>(0, 100)(rng)));
  }
  res.rounds_wall_s = MsBetween(t_rounds, Clock::now()) / 1000;
  for (int i = 0; i < agents; ++i) {
    uint32_t moved = watch.Read(i).generation - gen_start[i];
    if (moved != static_cast<uint32_t>(rounds)) res.extra_flips += static_cast<int>(moved) - rounds;
  }
  for (const auto& c : children) res.agents_cpu_s += CpuSeconds(c.pid);
  res.agents_cpu_s -= cpu_agents0;
  if (control_mode) {
    res.control_cpu_s = CpuSeconds(control.pid) - cpu_control0;
    std::string m = HttpGet(control_metrics, "/metrics");
    double push_sum = Metric(m, "warden_control_push_latency_ms_sum");
    double push_n = Metric(m, "warden_control_push_latency_ms_count");
    if (push_n > push_n0) res.push_ms_mean = (push_sum - push_sum0) / (push_n - push_n0);
    res.control_rss_mb = StatusKb(control.pid, "VmRSS") / 1024.0;
    res.control_hwm_mb = StatusKb(control.pid, "VmHWM") / 1024.0;
    if (Metric(m, "warden_control_versions_nacked_total") > 0)
      std::printf("  [%s] warning: the control plane counted NACKs\n", name.c_str());
  }
  for (pid_t p : perf_pids) kill(p, SIGINT);  // perf writes its file and exits
  std::printf("  [%s] %d rounds in %.1f s\n", name.c_str(), rounds, res.rounds_wall_s);
  std::fflush(stdout);
  return res;
}

// ---- main ---------------------------------------------------------------------------------------

std::string FindGenCerts(const fs::path& bin_dir) {
  std::vector<fs::path> candidates;
  if (std::strlen(WARDEN_SOURCE_DIR) > 0)
    candidates.push_back(fs::path(WARDEN_SOURCE_DIR) / "scripts/gen-certs");
  candidates.push_back(bin_dir / "../../scripts/gen-certs");
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::exists(c, ec)) return fs::canonical(c).string();
  }
  throw Failure("cannot find scripts/gen-certs");
}

int Main(int argc, char** argv) {
  if (ArgFlag(argc, argv, "-h") || ArgFlag(argc, argv, "--help")) {
    std::printf(
        "usage: control_bench [--agents N (20)] [--rounds N (16)] [--contended-rounds N (8)]\n"
        "                     [--baseline-rounds N (8)] [--namespaces N (100)] [--gap-ms N "
        "(300)]\n"
        "                     [--skip-baseline] [--skip-single] [--skip-contended] "
        "[--skip-quiet]\n"
        "                     [--single-quiet] [--keep-logs DIR] [--perf DIR] [--inproc-only]\n"
        "  Needs root. N namespaces hold N*100 pods, spread round-robin over --agents nodes.\n");
    return 0;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr,
                 "control_bench: needs root (it creates cgroups, pins BPF maps and attaches "
                 "programs); run it with sudo\n");
    return 2;
  }
  Env env;
  const int agents_max = std::max(1, ArgInt(argc, argv, "--agents", 20, 0));
  const int rounds = std::max(2, ArgInt(argc, argv, "--rounds", 16, 0));
  const int contended_rounds = std::max(2, ArgInt(argc, argv, "--contended-rounds", 8, 0));
  const int baseline_rounds = std::max(2, ArgInt(argc, argv, "--baseline-rounds", 8, 0));
  const bool skip_quiet = ArgFlag(argc, argv, "--skip-quiet");
  const bool skip_baseline = ArgFlag(argc, argv, "--skip-baseline");
  const bool skip_single = ArgFlag(argc, argv, "--skip-single");
  const bool inproc_only = ArgFlag(argc, argv, "--inproc-only");
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--keep-logs") env.keep_logs = argv[i + 1];
  env.cluster.namespaces = std::max(3, ArgInt(argc, argv, "--namespaces", 100, 0));
  env.cluster.nodes = agents_max;
  env.gap_ms = ArgInt(argc, argv, "--gap-ms", 300, 0);
  const bool skip_contended = ArgFlag(argc, argv, "--skip-contended");
  const int single_interval_ms = ArgFlag(argc, argv, "--single-quiet") ? 60000 : 0;
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--perf") env.perf_dir = argv[i + 1];

  signal(SIGINT, OnSignal);
  signal(SIGTERM, OnSignal);
  signal(SIGPIPE, SIG_IGN);

  Cleanup cleanup;
  int rc = 0;
  try {
    fs::path bin_dir = fs::read_symlink("/proc/self/exe").parent_path();
    env.warden = (bin_dir / "warden").string();
    if (access(env.warden.c_str(), X_OK) != 0)
      throw Failure("no warden binary next to this one: " + env.warden);
    env.gen_certs = FindGenCerts(bin_dir);
    pid_t self = getpid();
    env.tmp = absl::StrCat("/tmp/warden-ctlbench-", self);
    env.manifests = env.tmp + "/manifests";
    env.stage = env.tmp + "/stage";  // same filesystem: rename is atomic
    env.pki = env.tmp + "/pki";
    std::string cg2 = common::FindCgroup2Mount().value_or("");
    if (cg2.empty()) throw Failure("no cgroup2 mount in /proc/self/mountinfo");
    env.cgroup_base = absl::StrCat(cg2, "/warden-ctlbench-", self);
    env.bpffs_base = absl::StrCat("/sys/fs/bpf/warden-ctlbench-", self);
    cleanup.Add([tmp = env.tmp] {
      std::error_code ec;
      fs::remove_all(tmp, ec);
    });
    cleanup.Add([base = env.cgroup_base] { RemoveCgroupTree(base); });
    cleanup.Add([base = env.bpffs_base] {
      std::error_code ec;
      fs::remove_all(base, ec);
    });
    fs::create_directories(env.stage);
    fs::create_directories(env.bpffs_base);

    std::printf(
        "control_bench: NetworkPolicy file change -> new verdict live in every agent's "
        "kernel\n");
    std::printf("machine: %u CPUs; warden: %s\n", std::thread::hardware_concurrency(),
                env.warden.c_str());

    // Manifests.
    size_t yaml_bytes = 0;
    std::vector<PodInfo> pods = WriteManifests(env.cluster, env.manifests, &yaml_bytes);
    env.pods_per_node.assign(env.cluster.nodes, 0);
    for (const auto& p : pods) ++env.pods_per_node[p.node];

    // What the control plane does on every change, in this process: also checks the manifests
    // load cleanly and that the toggle changes every node's state. The first run is the start
    // (everything parsed and built); the toggles after it are changes.
    InProcess inproc(env.manifests);
    Breakdown a = inproc.Run(env.cluster);
    if (a.errors) throw Failure(absl::StrCat(a.errors, " manifest errors"));
    std::vector<double> ch_load, ch_compile, ch_states;
    Breakdown b;
    for (int i = 0; i < 6; ++i) {
      WriteFile(env.manifests + "/toggle.yaml", TogglePolicy(env.cluster, i % 2 ? 7000 : 7001));
      b = inproc.Run(env.cluster);
      ch_load.push_back(b.load_ms);
      ch_compile.push_back(b.compile_ms);
      ch_states.push_back(b.node_states_ms);
      if (i == 0) {
        int unchanged = 0;
        for (int n = 0; n < env.cluster.nodes; ++n)
          unchanged += a.states[n].SameContents(b.states[n]);
        if (unchanged)
          throw Failure(absl::StrCat("the toggle leaves ", unchanged, " nodes' states unchanged"));
      }
    }
    // The sixth toggle wrote 7000 again, as the manifests started; the delta a round sends is
    // that of the first toggle (7000 -> 7001).
    WriteFile(env.manifests + "/toggle.yaml", TogglePolicy(env.cluster, 7001));
    b = inproc.Run(env.cluster);
    WriteFile(env.manifests + "/toggle.yaml", TogglePolicy(env.cluster, 7000));
    size_t full_bytes = nodestate::FullUpdate(a.states[0]).ByteSizeLong();
    size_t delta_bytes = nodestate::DeltaUpdate(a.states[0], b.states[0]).ByteSizeLong();
    size_t node_policy = a.states[0].PolicyEntries();
    std::printf(
        "cluster: %zu pods, %zu NetworkPolicies (%d namespaces), %d nodes (%d pods each), %.1f MB "
        "of YAML in %d files; %zu identities, %zu policy entries, %zu ipcache entries\n",
        a.pods, a.policies, env.cluster.namespaces, env.cluster.nodes, env.pods_per_node[0],
        yaml_bytes / 1e6, env.cluster.namespaces + 2, a.identities, a.policy_entries, a.ipcache);
    std::printf(
        "one node's state: %zu pods, %zu policy entries, %zu ipcache entries; full update %.1f "
        "kB, the toggle's delta %.1f kB\n",
        a.states[0].pods.size(), node_policy, a.states[0].ipcache->size(), full_bytes / 1024.0,
        delta_bytes / 1024.0);
    Summary sl = Summarize(ch_load), sc = Summarize(ch_compile), ss = Summarize(ch_states);
    std::printf(
        "what the control plane does (in process): at start load %.0f ms, compile %.0f ms, %d "
        "node states %.0f ms; per toggle (median of %zu) load %.1f ms, compile %.1f ms, node "
        "states %.1f ms\n",
        a.load_ms, a.compile_ms, env.cluster.nodes, a.node_states_ms, ch_load.size(), sl.p50,
        sc.p50, ss.p50);
    double bd_load = sl.p50, bd_compile = sc.p50, bd_states = ss.p50;
    if (inproc_only) {
      std::printf("inproc_load_ms=%.1f inproc_compile_ms=%.1f inproc_node_states_ms=%.1f\n",
                  bd_load, bd_compile, bd_states);
      return 0;
    }
    a.states.clear();
    b.states.clear();
    std::fflush(stdout);

    // PKI: the control plane (IP:127.0.0.1) and one certificate per node.
    {
      std::string cmd = absl::StrCat(env.gen_certs, " ", env.pki, " warden-control,IP:127.0.0.1");
      for (int n = 0; n < env.cluster.nodes; ++n) absl::StrAppend(&cmd, " n", n);
      if (std::system((cmd + " >/dev/null").c_str()) != 0)
        throw Failure("gen-certs failed: " + cmd);
    }
    // Cgroups: <base>/nI/kubepods/burstable/pod<uid>.
    {
      auto t = Clock::now();
      for (int n = 0; n < env.cluster.nodes; ++n)
        fs::create_directories(absl::StrCat(env.cgroup_base, "/n", n, "/kubepods/burstable"));
      for (const auto& p : pods) {
        std::string d =
            absl::StrCat(env.cgroup_base, "/n", p.node, "/kubepods/burstable/pod", p.uid);
        if (mkdir(d.c_str(), 0755) != 0 && errno != EEXIST)
          throw Failure(absl::StrCat("mkdir ", d, ": ", strerror(errno)));
      }
      std::printf("setup: PKI for %d nodes, %zu pod cgroups in %.1f s\n", env.cluster.nodes,
                  pods.size(), MsBetween(t, Clock::now()) / 1000);
      std::fflush(stdout);
    }

    ScenarioResult base, c1, cn, cq;
    bool have_base = !skip_baseline, have_single = !skip_single, have_quiet = !skip_quiet;
    if (have_base) base = RunScenario(env, "manifests-1", false, 1, baseline_rounds);
    if (have_single) c1 = RunScenario(env, "control-1", true, 1, rounds, single_interval_ms);
    if (!skip_contended)
      cn = RunScenario(env, absl::StrCat("control-", agents_max), true, agents_max,
                       contended_rounds);
    if (have_quiet)
      cq = RunScenario(env, absl::StrCat("control-", agents_max, "-quiet"), true, agents_max,
                       rounds, 60000);

    // Report.
    std::printf(
        "\nlatency from the rename of the policy file to the new tables live in the "
        "kernel, every (agent, round) (ms):\n");
    std::printf("  %-17s %6s %7s %8s %8s %8s %8s %8s %8s\n", "scenario", "agents", "samples", "min",
                "p50", "p90", "p99", "max", "spread");
    auto row = [](const ScenarioResult& r) {
      Summary s = Summarize(r.samples);
      std::vector<double> d;  // per round: last agent - first agent
      for (size_t i = 0; i < r.round_max.size(); ++i) d.push_back(r.round_max[i] - r.round_min[i]);
      std::printf("  %-17s %6d %7zu %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f\n", r.name.c_str(),
                  r.agents, s.n, s.min, s.p50, s.p90, s.p99, s.max, Summarize(d).p50);
    };
    if (have_base) row(base);
    if (have_single) row(c1);
    auto rounds_line = [](const ScenarioResult& r) {
      std::string l;
      for (double v : r.round_max) absl::StrAppend(&l, " ", absl::StrFormat("%.0f", v));
      std::printf("  [%s] slowest agent per round (ms):%s\n", r.name.c_str(), l.c_str());
    };
    auto print_rounds = [&] {
      if (have_base) rounds_line(base);
      if (have_single) rounds_line(c1);
      if (!skip_contended) rounds_line(cn);
      if (have_quiet) rounds_line(cq);
    };
    if (!skip_contended) row(cn);
    if (have_quiet) row(cq);
    std::printf(
        "  (spread: per round, the last agent minus the first, median; -quiet: agents run with "
        "--interval-ms 60000,\n   i.e. without their 100 ms reconcile tick, which on this "
        "2-CPU machine otherwise competes with the push)\n");
    print_rounds();
    Summary sb = Summarize(base.samples), s1 = Summarize(c1.samples), sn = Summarize(cn.samples),
            sq = Summarize(cq.samples);
    std::printf(
        "control plane push latency (its histogram: node states computed -> node ACK), mean: "
        "%.1f ms (1 agent), %.1f ms (%d agents), %.1f ms (%d agents, quiet)\n",
        c1.push_ms_mean, cn.push_ms_mean, agents_max, cq.push_ms_mean, agents_max);
    std::printf(
        "agents' idle CPU (reconcile ticks, no change): %.1f%% of a CPU for 1 agent, %.1f%% for "
        "%d together\n",
        c1.idle_agents_cpu_pct, cn.idle_agents_cpu_pct, agents_max);
    for (const ScenarioResult* r : {&c1, &cn, &cq}) {
      if (r->rounds == 0 || r->samples.empty()) continue;
      std::printf(
          "  [%s] CPU during %d rounds (%.1f s): control %.1f s, agents %.1f s; control VmRSS "
          "%.1f MB (%.1f MB before any agent), VmHWM %.1f MB\n",
          r->name.c_str(), r->rounds, r->rounds_wall_s, r->control_cpu_s, r->agents_cpu_s,
          r->control_rss_mb, r->control_rss_start_mb, r->control_hwm_mb);
    }
    // Memory: the control-1 scenario runs the most rounds (its history of versions fills up),
    // and the control plane keeps every node's versions whether or not its agent is connected.
    const ScenarioResult& mem = have_single && c1.rounds >= cn.rounds ? c1 : cn;
    std::printf(
        "control plane memory with %zu pods, %d nodes, after %d changes: VmRSS %.1f MB, VmHWM "
        "%.1f MB (%.1f MB after the first load)\n",
        pods.size(), env.cluster.nodes, mem.rounds, mem.control_rss_mb, mem.control_hwm_mb,
        mem.control_rss_start_mb);
    std::printf(
        "full update for one node (n0's saved state, a serialized full Update): %.1f kB; "
        "the toggle's delta: %.1f kB\n",
        cn.full_update_bytes / 1024.0, delta_bytes / 1024.0);
    int extra = base.extra_flips + c1.extra_flips + cn.extra_flips + cq.extra_flips;
    if (extra) std::printf("warning: %d table flips other than the rounds' changes\n", extra);
    double ratio = s1.p99 > 0 ? sn.p99 / s1.p99 : 0;
    double ratio_q = s1.p99 > 0 ? sq.p99 / s1.p99 : 0;
    bool met = !skip_contended && sn.p99 < 100 && (!have_quiet || sq.p99 < 100);
    std::printf("target: p99 < 100 ms with %d agents: %s (p99 %.1f ms; quiet agents %.1f ms)\n",
                agents_max, met ? "met" : "MISSED", sn.p99, sq.p99);

    std::string n = absl::StrCat(agents_max);
    std::printf(
        "pods=%zu policies=%zu nodes=%d agents_max=%s rounds=%d rounds_%s=%d p50_ms_1=%.1f "
        "p99_ms_1=%.1f max_ms_1=%.1f p50_ms_%s=%.1f p99_ms_%s=%.1f max_ms_%s=%.1f "
        "p99_ratio_%s_vs_1=%.2f p50_ms_%s_quiet=%.1f p99_ms_%s_quiet=%.1f "
        "p99_ratio_%s_quiet_vs_1=%.2f p50_ms_manifests_1=%.1f p99_ms_manifests_1=%.1f "
        "control_push_ms_mean_1=%.1f control_push_ms_mean_%s=%.1f "
        "control_push_ms_mean_%s_quiet=%.1f control_rss_mb=%.1f control_hwm_mb=%.1f "
        "control_rss_start_mb=%.1f full_update_kb=%.1f delta_update_kb=%.1f "
        "inproc_load_ms=%.1f inproc_compile_ms=%.1f inproc_node_states_ms=%.1f "
        "idle_cpu_pct_1=%.1f idle_cpu_pct_%s=%.1f target_p99_ms=100 target_met=%d\n",
        pods.size(), a.policies, env.cluster.nodes, n.c_str(), rounds, n.c_str(), contended_rounds,
        s1.p50, s1.p99, s1.max, n.c_str(), sn.p50, n.c_str(), sn.p99, n.c_str(), sn.max, n.c_str(),
        ratio, n.c_str(), sq.p50, n.c_str(), sq.p99, n.c_str(), ratio_q, sb.p50, sb.p99,
        c1.push_ms_mean, n.c_str(), cn.push_ms_mean, n.c_str(), cq.push_ms_mean, mem.control_rss_mb,
        mem.control_hwm_mb, mem.control_rss_start_mb, cn.full_update_bytes / 1024.0,
        delta_bytes / 1024.0, bd_load, bd_compile, bd_states, c1.idle_agents_cpu_pct, n.c_str(),
        cn.idle_agents_cpu_pct, met ? 1 : 0);
    std::fflush(stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "control_bench: %s\n", e.what());
    rc = 1;
  }
  cleanup.RunAll();
  return rc;
}

}  // namespace
}  // namespace warden::bench

int main(int argc, char** argv) { return warden::bench::Main(argc, argv); }
