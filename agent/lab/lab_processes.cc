#include "agent/lab/lab_processes.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/common/cgroup.h"
#include "agent/lab/lab_network.h"
#include "agent/lab/lab_pki.h"
#include "agent/lab/probe.h"

namespace warden::lab {
namespace {

// What default-pool nodes may still reach directly (metadata server, Google API VIPs of both
// families).
const std::vector<std::string> kAllowances = {
    "169.254.169.254/32:80/TCP", "199.36.153.8/30:443/TCP", "199.36.153.4/30:443/TCP",
    "2600:2d00:2:2000::/64:443/TCP", "2600:2d00:2:1000::/64:443/TCP"};

}  // namespace

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, const std::string& log,
                            const std::string& cgroup) {
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    if (!cgroup.empty()) common::MoveToCgroup(cgroup, getpid()).IgnoreError();
    setsid();
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    if (null >= 0) dup2(null, 0);
    // Nothing but stdio reaches a daemon: an inherited descriptor (such as the lock `flock`
    // holds around `lab up`) would otherwise stay open as long as the lab runs.
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

namespace {

void AppendAllowances(std::vector<std::string>* argv) {
  for (const auto& a : kAllowances) argv->insert(argv->end(), {"--allow-world", a});
}

void AddUnique(int port, std::vector<int>* ports) {
  if (std::find(ports->begin(), ports->end(), port) == ports->end()) ports->push_back(port);
}

}  // namespace

std::string WardenBinary(const std::string& configured) {
  if (!configured.empty()) return configured;
  return std::filesystem::read_symlink("/proc/self/exe").string();
}

std::string ControlAddress() { return absl::StrCat(kControlIp, ":9443"); }

std::string AgentStateDir(const std::string& state_dir) { return state_dir + "/agent-state"; }

ServedPorts PortsToServe(const policy::Pod& pod, const std::vector<int>& extra) {
  ServedPorts out;
  for (const auto& cp : pod.ports) {
    if (cp.protocol == policy::Protocol::kTCP) out.tcp.push_back(cp.port);
    if (cp.protocol == policy::Protocol::kUDP) out.udp.push_back(cp.port);
  }
  for (int p : extra) {
    AddUnique(p, &out.tcp);
    AddUnique(p, &out.udp);
  }
  return out;
}

absl::StatusOr<pid_t> StartEchoServers(const std::string& self, const std::string& cgroup,
                                       const std::string& netns, const ServedPorts& ports,
                                       const std::string& log, bool container) {
  std::vector<std::string> argv = {self, "lab", "serve", "--cgroup", cgroup, "--netns", netns};
  if (container) argv.push_back("--container");
  if (!ports.tcp.empty()) argv.insert(argv.end(), {"--tcp", absl::StrJoin(ports.tcp, ",")});
  if (!ports.udp.empty()) argv.insert(argv.end(), {"--udp", absl::StrJoin(ports.udp, ",")});
  return Spawn(argv, log);
}

std::vector<std::string> ControlArgv(const std::string& self, const LabState& lab,
                                     const std::string& pki) {
  std::vector<std::string> argv = {self,
                                   "control",
                                   "--netns",
                                   kControlNetns,
                                   "--manifests",
                                   lab.manifests,
                                   "--listen",
                                   ControlAddress(),
                                   "--tls-cert",
                                   CertPath(pki, "warden-control"),
                                   "--tls-key",
                                   KeyPath(pki, "warden-control"),
                                   "--client-ca",
                                   CaPath(pki),
                                   "--metrics",
                                   kControlMetrics,
                                   "--cluster-cidr",
                                   kFabricSubnet,
                                   "--cluster-cidr",
                                   kFabricSubnet6};
  AppendAllowances(&argv);
  return argv;
}

std::vector<std::string> AgentArgv(const LabOptions& o, const std::string& self,
                                   const LabState& lab, const LabNode& node,
                                   const std::string& pki) {
  std::vector<std::string> argv = {self,
                                   "node",
                                   "--node",
                                   node.name,
                                   "--netns",
                                   node.netns,
                                   "--cgroup-root",
                                   node.cgroup,
                                   "--bpffs",
                                   node.bpffs,
                                   "--pool",
                                   node.pool,
                                   "--log",
                                   LogPath(o.state_dir, node.name + "-verdicts.jsonl"),
                                   "--metrics",
                                   node.metrics};
  if (o.control) {
    argv.insert(argv.end(),
                {"--control", ControlAddress(), "--tls-cert", CertPath(pki, node.name), "--tls-key",
                 KeyPath(pki, node.name), "--tls-ca", CaPath(pki), "--tls-server-name",
                 "warden-control", "--state-dir", AgentStateDir(o.state_dir)});
    // With the gateway: a default-pool node's forwarder, on its own address (its pods reach it
    // through their veth), carries their world-bound HTTP(S) to the gateway.
    if (o.gateway && node.pool != "gateway")
      argv.insert(argv.end(), {"--forwarder-listen", absl::StrCat(node.ip, ":", kForwarderPort)});
  } else {
    argv.insert(argv.end(), {"--manifests", lab.manifests, "--cluster-cidr", kFabricSubnet,
                             "--cluster-cidr", kFabricSubnet6});
  }
  AppendAllowances(&argv);
  argv.insert(argv.end(), o.agent_args.begin(), o.agent_args.end());
  return argv;
}

absl::StatusOr<pid_t> StartControl(const LabState& lab, const std::string& state_dir) {
  return Spawn(lab.control->argv, LogPath(state_dir, "control.log"), lab.daemons_cgroup());
}

absl::StatusOr<pid_t> StartAgent(const LabState& lab, const LabNode& node,
                                 const std::string& state_dir) {
  return Spawn(node.agent_argv, LogPath(state_dir, node.name + ".log"), lab.daemons_cgroup());
}

absl::Status WaitForServers(const std::vector<StartedServer>& servers) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (const auto& s : servers) {
    while (true) {
      std::ifstream in(s.log);
      std::string line;
      bool serving = false;
      while (!serving && std::getline(in, line)) serving = line == kServingLine;
      if (serving) break;
      int status;
      if (waitpid(s.pid, &status, WNOHANG) != 0)
        return absl::InternalError(absl::StrCat("an echo server exited; see ", s.log));
      if (std::chrono::steady_clock::now() > deadline)
        return absl::DeadlineExceededError(
            absl::StrCat("an echo server did not listen in 10 s; see ", s.log));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  return absl::OkStatus();
}

absl::Status WaitForAgents(const LabState& lab, const std::string& state_dir, bool with_control) {
  // Every node's agent loads its programs at once: the verifier takes seconds per program, and
  // the nodes share the machine's cores.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  for (const auto& n : lab.nodes) {
    std::string pin = n.bpffs + "/links/wd_sendmsg6";
    std::string saved = absl::StrCat(AgentStateDir(state_dir), "/", n.name, ".state");
    while (access(pin.c_str(), F_OK) != 0 || (with_control && access(saved.c_str(), F_OK) != 0)) {
      int status;
      if (waitpid(n.agent_pid, &status, WNOHANG) != 0) {
        return absl::InternalError(absl::StrCat("the agent of node ", n.name, " exited; see ",
                                                LogPath(state_dir, n.name + ".log")));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat("the agent of node ", n.name, " did not attach in 90 s"));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return absl::OkStatus();
}

}  // namespace warden::lab
