#include "tests/bench/control_scenario.h"

#include <bpf/bpf.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/common/heap_tuning.h"
#include "tests/bench/bench_failure.h"
#include "tests/bench/control_swarm.h"
#include "tests/lib/child_process.h"
#include "tests/lib/cleanup.h"
#include "tests/lib/metrics_endpoint.h"
#include "tests/lib/proc_status.h"
#include "tests/lib/timing.h"
#include "warden_structs.h"

namespace warden::bench {
namespace {

namespace fs = std::filesystem;
using testlib::Clock;
using testlib::MsBetween;
using testlib::MsSince;

struct Child {
  pid_t pid = -1;
  std::string label, log;
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
  ConfigWatch(const ConfigWatch&) = delete;
  ConfigWatch& operator=(const ConfigWatch&) = delete;
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
  std::vector<uint32_t> Generations() const {
    std::vector<uint32_t> g;
    for (size_t i = 0; i < fds_.size(); ++i) g.push_back(Read(i).generation);
    return g;
  }

 private:
  std::vector<int> fds_;
};

// Counters read before the rounds, to take differences after them.
struct Before {
  std::vector<uint32_t> generations;
  double push_sum = 0, push_n = 0, control_cpu = 0, agents_cpu = 0;
};

class Scenario {
 public:
  Scenario(const ControlEnv& env, const std::string& name, bool control_mode, int agents);
  ScenarioResult Run(int rounds, int agent_interval_ms);

 private:
  void Prepare();
  void StartControlPlane();
  bool WithSwarm() const {
    return control_mode_ && env_.swarm && agents_ == env_.swarm_from &&
           env_.swarm_from < env_.cluster.nodes;
  }
  void StartSwarm();
  void WaitSwarmRound(int r, Clock::time_point t0, const std::vector<uint64_t>& before);
  std::vector<std::string> AgentArgs(const std::string& node, const std::string& bpffs,
                                     uint16_t metrics_port, int interval_ms) const;
  void StartAgents(int interval_ms);
  bool AgentReady(int i);
  void WaitAgentsReady(Clock::time_point t_agents);
  void MeasureIdleCpu();
  Before ReadBefore(const ConfigWatch& watch) const;
  void StartPerf();
  void RunRound(int r, const ConfigWatch& watch, std::mt19937& rng);
  [[noreturn]] void FailRound(int r, int applied);
  void ReadAfter(const ConfigWatch& watch, const Before& before, int rounds);
  double AgentsCpu() const;

  const ControlEnv& env_;
  const bool control_mode_;
  const int agents_;
  ScenarioResult res_;
  testlib::Cleanup cleanup_;
  std::string state_dir_, logs_;
  Child control_;
  uint16_t control_metrics_ = 0;
  std::string control_address_;  // where agents connect
  std::vector<Child> children_;
  std::vector<uint16_t> metrics_ports_;
  std::vector<std::string> pins_;
  std::vector<pid_t> perf_pids_;
  std::unique_ptr<Swarm> swarm_;  // after cleanup_: its streams end before the control plane
};

Scenario::Scenario(const ControlEnv& env, const std::string& name, bool control_mode, int agents)
    : env_(env), control_mode_(control_mode), agents_(agents) {
  res_.name = name;
  res_.agents = agents;
  state_dir_ = absl::StrCat(env.tmp.path(), "/state-", name);
  logs_ = absl::StrCat(env.tmp.path(), "/logs-", name);
}

// Logs and state directories; the toggle back at 7000, as every scenario starts.
void Scenario::Prepare() {
  fs::create_directories(logs_);
  if (!env_.keep_logs.empty()) {
    cleanup_.Add("keep logs", [logs = logs_, dest = env_.keep_logs + "/" + res_.name] {
      std::error_code ec;
      fs::create_directories(dest, ec);
      fs::copy(logs, dest, fs::copy_options::overwrite_existing | fs::copy_options::recursive, ec);
    });
  }
  cleanup_.Add("state", [state_dir = state_dir_] {
    std::error_code ec;
    fs::remove_all(state_dir, ec);
  });
  WriteToggle(env_.cluster, env_.stage + "/toggle.yaml", 7000);
  if (rename((env_.stage + "/toggle.yaml").c_str(), (env_.manifests + "/toggle.yaml").c_str()) != 0)
    throw Failure("rename toggle.yaml");
}

void Scenario::StartControlPlane() {
  auto t_start = Clock::now();
  uint16_t port = testlib::FreePort();
  control_metrics_ = testlib::FreePort();
  control_ = {testlib::Spawn(
                  {env_.warden, "control", "--manifests", env_.manifests, "--listen",
                   absl::StrCat("127.0.0.1:", port), "--tls-cert", env_.pki + "/warden-control.pem",
                   "--tls-key", env_.pki + "/warden-control-key.pem", "--client-ca",
                   env_.pki + "/ca.pem", "--metrics", absl::StrCat("127.0.0.1:", control_metrics_)},
                  logs_ + "/control.log"),
              "control", logs_ + "/control.log"};
  cleanup_.Add("control plane", [pid = control_.pid] { testlib::EndChild(pid); });
  // Up once /metrics answers (it starts after the first compile and the Sync server).
  auto deadline = Clock::now() + std::chrono::seconds(60);
  for (;;) {
    CheckInterrupted();
    if (testlib::Exited(control_.pid))
      throw Failure("warden control exited early; its log ends with:\n" +
                    testlib::LogTail(control_.log));
    if (testlib::HttpGet(control_metrics_, "/metrics").find("warden_control_reloads_total") !=
        std::string::npos)
      break;
    if (Clock::now() > deadline) throw Failure("warden control not up in 60 s");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  res_.control_rss_start_mb = testlib::StatusKb(control_.pid, "VmRSS") / 1024.0;
  res_.control_up_s = MsSince(t_start) / 1000;
  std::printf("  [%s] warden control up in %.1f s (RSS %.1f MB)\n", res_.name.c_str(),
              MsSince(t_start) / 1000, res_.control_rss_start_mb);
  std::fflush(stdout);
  control_address_ = absl::StrCat("127.0.0.1:", port);
}

// The nodes without a real agent subscribe, each as itself, and apply their first states:
// with the control plane's start, the first full push to every node.
void Scenario::StartSwarm() {
  SwarmOptions o;
  o.address = control_address_;
  o.pki = env_.pki;
  o.connections = env_.swarm_connections;
  for (int n = env_.swarm_from; n < env_.cluster.nodes; ++n)
    o.nodes.push_back(absl::StrCat("n", n));
  // The swarm receives and frees a 1 MB buffer per node on gRPC's threads: glibc would hand
  // each back to the kernel and fault the next one in, zeroed, costing the two CPUs the control
  // plane shares a fifth of the swarm's time (a node's agent on its own machine does it once).
  common::KeepFreedHeap();
  auto t = Clock::now();
  const double control_cpu = testlib::CpuSeconds(control_.pid),
               swarm_cpu = testlib::CpuSeconds(getpid());
  swarm_ = std::make_unique<Swarm>(o);
  res_.swarm_nodes = swarm_->size();
  auto deadline = t + std::chrono::seconds(600);
  size_t holding = 0;
  while ((holding = swarm_->Holding()) < swarm_->size()) {
    CheckInterrupted();
    if (swarm_->Ended() > 0 || swarm_->Nacks() > 0 || Clock::now() > deadline ||
        testlib::Exited(control_.pid)) {
      throw Failure(absl::StrCat("swarm: ", holding, " of ", swarm_->size(),
                                 " nodes hold a state after ", MsSince(t) / 1000, " s; ",
                                 swarm_->Ended(), " streams ended, ", swarm_->Nacks(), " NACKs (",
                                 swarm_->FirstError(), "); the control plane's log ends with:\n",
                                 testlib::LogTail(control_.log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  res_.swarm_hold_s = MsSince(t) / 1000;
  res_.swarm_hold_control_cpu_s = testlib::CpuSeconds(control_.pid) - control_cpu;
  res_.swarm_hold_swarm_cpu_s = testlib::CpuSeconds(getpid()) - swarm_cpu;
  std::printf(
      "  [%s] %zu swarm nodes holding their first state %.1f s after the control plane was up "
      "(%.1f s after its start); CPU meanwhile: control plane %.1f s, the swarm's decoding and "
      "applying %.1f s; control plane threads %ld, RSS %.1f MB\n",
      res_.name.c_str(), swarm_->size(), res_.swarm_hold_s, res_.control_up_s + res_.swarm_hold_s,
      res_.swarm_hold_control_cpu_s, res_.swarm_hold_swarm_cpu_s,
      testlib::StatusKb(control_.pid, "Threads"),
      testlib::StatusKb(control_.pid, "VmRSS") / 1024.0);
  std::fflush(stdout);
}

// Every swarm node applies the round's change (the toggle changes every node's state).
void Scenario::WaitSwarmRound(int r, Clock::time_point t0, const std::vector<uint64_t>& before) {
  auto deadline = t0 + std::chrono::seconds(30);
  size_t left = swarm_->size();
  std::vector<bool> done(swarm_->size(), false);
  while (left > 0) {
    for (size_t i = 0; i < swarm_->size(); ++i) {
      if (done[i] || swarm_->Version(i) == before[i]) continue;
      done[i] = true;
      --left;
      res_.swarm_samples.push_back(MsBetween(t0, swarm_->AppliedAt(i)));
    }
    if (left == 0) break;
    if (Clock::now() > deadline || swarm_->Ended() > 0) {
      ++res_.timeouts;
      throw Failure(absl::StrCat("round ", r, ": ", left, " of ", swarm_->size(),
                                 " swarm nodes did not apply the change within 30 s (",
                                 swarm_->Ended(), " streams ended: ", swarm_->FirstError(), ")"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::vector<std::string> Scenario::AgentArgs(const std::string& node, const std::string& bpffs,
                                             uint16_t metrics_port, int interval_ms) const {
  std::vector<std::string> argv = {env_.warden,     "node",
                                   "--node",        node,
                                   "--cgroup-root", absl::StrCat(env_.cgroups.path(), "/", node),
                                   "--bpffs",       bpffs,
                                   "--log",         absl::StrCat(logs_, "/", node, ".jsonl"),
                                   "--metrics",     absl::StrCat("127.0.0.1:", metrics_port)};
  if (interval_ms > 0) argv.insert(argv.end(), {"--interval-ms", absl::StrCat(interval_ms)});
  if (control_mode_) {
    argv.insert(
        argv.end(),
        {"--control", control_address_, "--tls-cert", absl::StrCat(env_.pki, "/", node, ".pem"),
         "--tls-key", absl::StrCat(env_.pki, "/", node, "-key.pem"), "--tls-ca",
         env_.pki + "/ca.pem", "--tls-server-name", "warden-control", "--state-dir", state_dir_});
  } else {
    argv.insert(argv.end(), {"--manifests", env_.manifests});
  }
  return argv;
}

void Scenario::StartAgents(int interval_ms) {
  for (int i = 0; i < agents_; ++i) {
    std::string node = absl::StrCat("n", i);
    std::string bpffs = absl::StrCat(env_.bpffs.path(), "/", node);
    uint16_t mport = testlib::FreePort();
    // Removing the pins detaches the programs; registered before the spawn so that a failed
    // start still cleans up.
    cleanup_.Add("pins of " + node, [bpffs] {
      std::error_code ec;
      fs::remove_all(bpffs, ec);
      if (ec)
        std::fprintf(stderr, "cleanup: removing %s: %s\n", bpffs.c_str(), ec.message().c_str());
    });
    std::string log = absl::StrCat(logs_, "/", node, ".log");
    pid_t pid = testlib::Spawn(AgentArgs(node, bpffs, mport, interval_ms), log);
    cleanup_.Add("agent " + node, [pid] { testlib::EndChild(pid); });
    children_.push_back(Child{pid, node, log});
    metrics_ports_.push_back(mport);
    pins_.push_back(bpffs + "/wd_config");
  }
}

// Ready: the first state applied (configured, state saved in control mode) and every local pod
// found by its cgroup.
bool Scenario::AgentReady(int i) {
  const Child& c = children_[i];
  if (testlib::Exited(c.pid))
    throw Failure(absl::StrCat("agent ", c.label, " exited early; its log ends with:\n",
                               testlib::LogTail(c.log)));
  if (control_mode_ && !fs::exists(absl::StrCat(state_dir_, "/", c.label, ".state"))) return false;
  if (access(pins_[i].c_str(), F_OK) != 0) return false;
  std::string m = testlib::HttpGet(metrics_ports_[i], "/metrics");
  if (testlib::Metric(m, "warden_local_pods") != env_.pods_per_node[i] ||
      testlib::Metric(m, "warden_applies_total") < 1)
    return false;
  return ConfigWatch({pins_[i]}).Read(0).configured;
}

void Scenario::WaitAgentsReady(Clock::time_point t_agents) {
  std::vector<bool> ready(agents_, false);
  int left = agents_;
  auto deadline = Clock::now() + std::chrono::seconds(120);
  while (left > 0) {
    CheckInterrupted();
    for (int i = 0; i < agents_; ++i) {
      if (!ready[i] && AgentReady(i)) {
        ready[i] = true;
        --left;
      }
    }
    for (int i = 0; i < agents_ && Clock::now() > deadline; ++i) {
      if (!ready[i])
        throw Failure(absl::StrCat("agent ", children_[i].label,
                                   " not ready in 120 s; its log ends with:\n",
                                   testlib::LogTail(children_[i].log)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  res_.ready_s = MsSince(t_agents) / 1000;
  std::printf("  [%s] %d agent%s enforcing the first state (%d local pods each) in %.1f s\n",
              res_.name.c_str(), agents_, agents_ == 1 ? "" : "s", env_.pods_per_node[0],
              res_.ready_s);
  std::fflush(stdout);
}

double Scenario::AgentsCpu() const {
  double s = 0;
  for (const auto& c : children_) s += testlib::CpuSeconds(c.pid);
  return s;
}

// Settle, then the agents' idle CPU (the reconcile ticks) over one second.
void Scenario::MeasureIdleCpu() {
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  double before = AgentsCpu();
  auto t = Clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  res_.idle_agents_cpu_pct = 100 * (AgentsCpu() - before) / (MsSince(t) / 1000);
}

Before Scenario::ReadBefore(const ConfigWatch& watch) const {
  Before b;
  b.generations = watch.Generations();
  if (control_mode_) {
    std::string m = testlib::HttpGet(control_metrics_, "/metrics");
    b.push_sum = testlib::Metric(m, "warden_control_push_latency_ms_sum");
    b.push_n = testlib::Metric(m, "warden_control_push_latency_ms_count");
  }
  b.control_cpu = control_mode_ ? testlib::CpuSeconds(control_.pid) : 0;
  b.agents_cpu = AgentsCpu();
  return b;
}

// `perf record` with call graphs of the control plane and agent n0, when asked for. Release
// builds keep no frame pointers: the stacks are unwound from DWARF, at a lower frequency.
void Scenario::StartPerf() {
  if (!control_mode_ || env_.perf_dir.empty()) return;
  fs::create_directories(env_.perf_dir);
  for (auto [what, pid] : {std::pair<std::string, pid_t>{"control", control_.pid},
                           std::pair<std::string, pid_t>{"n0", children_[0].pid}}) {
    pid_t p = testlib::Spawn(
        {"/usr/bin/perf", "record", "--call-graph=dwarf,16384", "-F", "499", "-q", "-o",
         absl::StrCat(env_.perf_dir, "/", res_.name, "-", what, ".data"), "-p", absl::StrCat(pid)},
        absl::StrCat(logs_, "/perf-", what, ".log"));
    perf_pids_.push_back(p);
    cleanup_.Add("perf", [p] { testlib::EndChild(p, std::chrono::milliseconds(10000)); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
}

[[noreturn]] void Scenario::FailRound(int r, int applied) {
  for (const Child& c : children_) {
    if (testlib::Exited(c.pid))
      throw Failure(absl::StrCat("agent ", c.label, " exited; its log ends with:\n",
                                 testlib::LogTail(c.log)));
  }
  if (control_mode_ && testlib::Exited(control_.pid))
    throw Failure("warden control exited; its log ends with:\n" + testlib::LogTail(control_.log));
  throw Failure(absl::StrCat("round ", r, ": only ", applied, " of ", agents_,
                             " agents applied the change within 30 s"));
}

void Scenario::RunRound(int r, const ConfigWatch& watch, std::mt19937& rng) {
  CheckInterrupted();
  WriteToggle(env_.cluster, env_.stage + "/toggle.yaml", r % 2 == 0 ? 7001 : 7000);
  const std::vector<uint32_t> before = watch.Generations();
  std::vector<uint64_t> swarm_before;
  for (size_t i = 0; swarm_ && i < swarm_->size(); ++i) swarm_before.push_back(swarm_->Version(i));
  std::vector<double> lat(agents_, -1);
  int left = agents_;
  auto t0 = Clock::now();
  if (rename((env_.stage + "/toggle.yaml").c_str(), (env_.manifests + "/toggle.yaml").c_str()) != 0)
    throw Failure("rename toggle.yaml");
  auto deadline = t0 + std::chrono::seconds(30);
  while (left > 0) {
    for (int i = 0; i < agents_; ++i) {
      if (lat[i] < 0 && watch.Read(i).generation != before[i]) {
        lat[i] = MsSince(t0);
        --left;
      }
    }
    if (left == 0) break;
    if (Clock::now() > deadline) {
      ++res_.timeouts;
      FailRound(r, agents_ - left);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  if (swarm_) WaitSwarmRound(r, t0, swarm_before);
  res_.samples.insert(res_.samples.end(), lat.begin(), lat.end());
  res_.round_max.push_back(*std::max_element(lat.begin(), lat.end()));
  res_.round_min.push_back(*std::min_element(lat.begin(), lat.end()));
  // Let the dust settle (persisting, ACKs), and do not run in step with the agents' ticks.
  std::this_thread::sleep_for(
      std::chrono::milliseconds(env_.gap_ms + std::uniform_int_distribution<int>(0, 100)(rng)));
}

void Scenario::ReadAfter(const ConfigWatch& watch, const Before& before, int rounds) {
  const std::vector<uint32_t> now = watch.Generations();
  for (int i = 0; i < agents_; ++i) {
    uint32_t moved = now[i] - before.generations[i];
    if (moved != static_cast<uint32_t>(rounds))
      res_.extra_flips += static_cast<int>(moved) - rounds;
  }
  res_.agents_cpu_s = AgentsCpu() - before.agents_cpu;
  for (const Child& c : children_) {
    res_.agent_rss_max_mb =
        std::max(res_.agent_rss_max_mb, testlib::StatusKb(c.pid, "VmRSS") / 1024.0);
    res_.agent_hwm_max_mb =
        std::max(res_.agent_hwm_max_mb, testlib::StatusKb(c.pid, "VmHWM") / 1024.0);
  }
  if (!control_mode_) return;
  res_.control_cpu_s = testlib::CpuSeconds(control_.pid) - before.control_cpu;
  std::string m = testlib::HttpGet(control_metrics_, "/metrics");
  double push_sum = testlib::Metric(m, "warden_control_push_latency_ms_sum");
  double push_n = testlib::Metric(m, "warden_control_push_latency_ms_count");
  if (push_n > before.push_n)
    res_.push_ms_mean = (push_sum - before.push_sum) / (push_n - before.push_n);
  res_.control_rss_mb = testlib::StatusKb(control_.pid, "VmRSS") / 1024.0;
  res_.control_threads = testlib::StatusKb(control_.pid, "Threads");
  if (swarm_) res_.swarm_nacks = swarm_->Nacks();
  res_.control_hwm_mb = testlib::StatusKb(control_.pid, "VmHWM") / 1024.0;
  if (testlib::Metric(m, "warden_control_versions_nacked_total") > 0)
    std::printf("  [%s] warning: the control plane counted NACKs\n", res_.name.c_str());
}

ScenarioResult Scenario::Run(int rounds, int agent_interval_ms) {
  res_.rounds = rounds;
  Prepare();
  if (control_mode_) StartControlPlane();
  if (WithSwarm()) StartSwarm();
  auto t_agents = Clock::now();
  StartAgents(agent_interval_ms);
  WaitAgentsReady(t_agents);
  if (control_mode_)
    res_.full_update_bytes =
        static_cast<long>(fs::file_size(absl::StrCat(state_dir_, "/n0.state")));
  MeasureIdleCpu();
  ConfigWatch watch(pins_);
  const Before before = ReadBefore(watch);
  StartPerf();
  std::mt19937 rng(12345);
  auto t_rounds = Clock::now();
  for (int r = 0; r < rounds; ++r) RunRound(r, watch, rng);
  res_.rounds_wall_s = MsSince(t_rounds) / 1000;
  ReadAfter(watch, before, rounds);
  for (pid_t p : perf_pids_) kill(p, SIGINT);  // perf writes its file and exits
  std::printf("  [%s] %d rounds in %.1f s\n", res_.name.c_str(), rounds, res_.rounds_wall_s);
  std::fflush(stdout);
  return res_;  // the processes end, the pins and the state go
}

}  // namespace

ScenarioResult RunScenario(const ControlEnv& env, const std::string& name, bool control_mode,
                           int agents, int rounds, int agent_interval_ms) {
  return Scenario(env, name, control_mode, agents).Run(rounds, agent_interval_ms);
}

}  // namespace warden::bench
