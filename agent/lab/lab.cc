#include "agent/lab/lab.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "agent/common/capabilities.h"
#include "agent/common/cgroup.h"
#include "agent/common/log.h"
#include "agent/common/status_macros.h"
#include "agent/lab/lab_egress.h"
#include "agent/lab/lab_exec.h"
#include "agent/lab/lab_network.h"
#include "agent/lab/lab_pki.h"
#include "agent/lab/lab_places.h"
#include "agent/lab/lab_plan.h"
#include "agent/lab/lab_processes.h"
#include "agent/lab/lab_state.h"
#include "agent/lab/probe.h"
#include "agent/policy/manifest_loader.h"

namespace warden::lab {

namespace {

namespace fs = std::filesystem;

// <cgroup2>/warden-lab: every process of the lab runs below it.
absl::StatusOr<std::string> LabCgroup() {
  WD_ASSIGN_OR_RETURN(std::string cgroup2, common::FindCgroup2Mount());
  return cgroup2 + "/warden-lab";
}

// ---- up -------------------------------------------------------------------------------------

absl::StatusOr<policy::ClusterState> LoadManifests(const std::string& dir) {
  policy::LoadResult loaded = policy::LoadManifestDir(dir);
  for (const auto& e : loaded.errors) common::Logger("lab").Error("manifest error: ", e.ToString());
  if (!loaded.errors.empty()) return absl::InvalidArgumentError("fix the manifests first");
  return std::move(loaded.state);
}

// The state directory (with its logs) and every cgroup of the lab.
absl::Status MakeDirectories(const std::string& state_dir, const LabState& lab) {
  std::error_code ec;
  fs::create_directories(state_dir + "/logs", ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", state_dir, ": ", ec.message()));
  WD_RETURN_IF_ERROR(common::MakeCgroup(lab.inet.cgroup));
  WD_RETURN_IF_ERROR(common::MakeCgroup(lab.daemons_cgroup()));
  for (const auto& n : lab.nodes) {
    WD_RETURN_IF_ERROR(common::MakeCgroup(n.system_cgroup));
    WD_RETURN_IF_ERROR(common::MakeCgroup(n.cgroup + "/kubepods/burstable"));
  }
  for (const auto& p : lab.pods) WD_RETURN_IF_ERROR(common::MakeCgroup(p.cgroup));
  return absl::OkStatus();
}

absl::Status MakeNetwork(const LabState& lab) {
  WD_RETURN_IF_ERROR(MakeFabric());
  WD_RETURN_IF_ERROR(MakeInternet(lab.inet));
  for (size_t i = 0; i < lab.nodes.size(); ++i) WD_RETURN_IF_ERROR(MakeNode(i, lab.nodes[i]));
  for (size_t j = 0; j < lab.pods.size(); ++j)
    WD_RETURN_IF_ERROR(MakePod(j, lab.pods[j], *lab.FindNode(lab.pods[j].node)));
  return RouteClusterAddresses(lab);
}

bool RunsGateway(const LabOptions& o) { return o.agents && o.control && o.gateway; }

// Echo servers in every pod (its container ports and `serve_ports`), the metadata server on
// every node, and the internet hosts' servers; done when all of them listen.
absl::Status StartServers(const LabOptions& o, const policy::ClusterState& cluster, LabState* lab) {
  std::string self = WardenBinary(o.warden_binary);
  std::vector<StartedServer> started;
  auto start = [&](const std::string& cgroup, const std::string& netns, const ServedPorts& ports,
                   const std::string& log, bool container) -> absl::StatusOr<pid_t> {
    WD_ASSIGN_OR_RETURN(pid_t pid, StartEchoServers(self, cgroup, netns, ports, log, container));
    started.push_back({pid, log});
    return pid;
  };
  const std::vector<const LabPod*> gateways =
      RunsGateway(o) ? FindGatewayPods(*lab) : std::vector<const LabPod*>{};
  for (size_t j = 0; j < lab->pods.size(); ++j) {
    LabPod& pod = lab->pods[j];
    // `warden gateway` serves there.
    if (std::find(gateways.begin(), gateways.end(), &pod) != gateways.end()) continue;
    ServedPorts ports = PortsToServe(*cluster.FindPod(pod.key), o.serve_ports);
    if (ports.tcp.empty() && ports.udp.empty()) continue;
    WD_ASSIGN_OR_RETURN(pod.server_pid, start(pod.cgroup, pod.netns, ports,
                                              LogPath(o.state_dir, absl::StrCat("pod-", j, ".log")),
                                              /*container=*/true));
  }
  for (const auto& n : lab->nodes) {
    WD_RETURN_IF_ERROR(start(n.system_cgroup, n.netns, {{80}, {}},
                             LogPath(o.state_dir, "metadata-" + n.name + ".log"), false)
                           .status());
  }
  WD_RETURN_IF_ERROR(start(lab->inet.cgroup, lab->inet.netns, {{80, 443, 8443, 53}, {53}},
                           LogPath(o.state_dir, "internet.log"), false)
                         .status());
  return WaitForServers(started);
}

// The control plane, in a network namespace of its own on the fabric, with a lab PKI (a
// certificate for it and one per node).
absl::Status StartControlPlane(const LabOptions& o, LabState* lab) {
  std::string pki = o.state_dir + "/pki";
  std::vector<LabCert> certs = {{"warden-control", kControlIp}};
  for (const auto& n : lab->nodes) certs.push_back({n.name, ""});
  for (const auto& c : InternetCerts()) certs.push_back(c);
  WD_RETURN_IF_ERROR(MakePki(pki, certs));
  WD_RETURN_IF_ERROR(MakeControlNetns());
  WD_RETURN_IF_ERROR(RouteToPods(*lab, kControlNetns));
  lab->control = LabControl{kControlNetns, ControlAddress(), kControlMetrics,
                            ControlArgv(WardenBinary(o.warden_binary), *lab, pki), 0};
  WD_ASSIGN_OR_RETURN(lab->control->pid, StartControl(*lab, o.state_dir));
  return absl::OkStatus();
}

// One agent per node, in its node's network namespace (as a hostNetwork DaemonSet); ready when
// every one has attached.
absl::Status StartAgents(const LabOptions& o, LabState* lab) {
  std::string self = WardenBinary(o.warden_binary), pki = o.state_dir + "/pki";
  for (size_t i = 0; i < lab->nodes.size(); ++i) {
    LabNode& n = lab->nodes[i];
    n.metrics = absl::StrCat("127.0.0.1:", kFirstAgentMetricsPort + i);
    n.agent_argv = AgentArgv(o, self, *lab, n, pki);
    WD_ASSIGN_OR_RETURN(n.agent_pid, StartAgent(*lab, n, o.state_dir));
  }
  return WaitForAgents(*lab, o.state_dir, o.control);
}

// The internet's HTTPS hosts, and the gateway once the agents enforce (its pod's egress is the
// gateway node's to allow).
absl::Status StartEgress(const LabOptions& o, LabState* lab) {
  const std::string pki = o.state_dir + "/pki";
  WD_ASSIGN_OR_RETURN(lab->web_pid, StartInternetHttps(*lab, o.state_dir, pki));
  // Manifests without a gateway pod run none.
  for (const LabPod* pod : FindGatewayPods(*lab)) {
    LabGateway g = PlanGateway(WardenBinary(o.warden_binary), *pod, pki, o.state_dir);
    WD_ASSIGN_OR_RETURN(g.pid, StartGateway(*lab, g, o.state_dir));
    lab->gateways.push_back(std::move(g));
  }
  for (const LabGateway& g : lab->gateways) WD_RETURN_IF_ERROR(WaitForGateway(g, o.state_dir));
  return absl::OkStatus();
}

// `up`'s steps as they start and end, with how long each took.
class Progress {
 public:
  explicit Progress(std::ostream* out) : out_(out), start_(std::chrono::steady_clock::now()) {}

  absl::Status Step(const std::string& what, const std::function<absl::Status()>& run) {
    if (out_) *out_ << "  " << what << " ..." << std::flush;
    auto begin = std::chrono::steady_clock::now();
    absl::Status status = run();
    if (out_) *out_ << (status.ok() ? " " : " failed after ") << Seconds(begin) << std::endl;
    return status;
  }
  void Done() {
    if (out_) *out_ << "  up in " << Seconds(start_) << std::endl;
  }

 private:
  static std::string Seconds(std::chrono::steady_clock::time_point since) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - since)
                  .count();
    return absl::StrCat(ms / 1000, ".", ms % 1000 / 100, " s");
  }

  std::ostream* out_;
  std::chrono::steady_clock::time_point start_;
};

// ---- probes ---------------------------------------------------------------------------------

absl::StatusOr<ProbeReport> Probe(const LabState& lab, const ProbeSpec& s) {
  WD_ASSIGN_OR_RETURN(Place place, PlaceOf(lab, s.from, "--from"));
  WD_ASSIGN_OR_RETURN(Target target, TargetOf(lab, s.to, s.family));
  ProbeResult r = ProbeFrom(place.cgroup, place.netns, target.ip, s.port, s.udp, s.timeout_ms);
  return ProbeReport{.from = s.from,
                     .to = s.to,
                     .port = s.port,
                     .protocol = s.udp ? "UDP" : "TCP",
                     .family = target.family,
                     .allowed = r.allowed(),
                     .outcome = OutcomeName(r.outcome),
                     .detail = r.detail};
}

// The matrix's families: as asked, or both when a pod has an IPv6 address, else IPv4.
std::vector<int> MatrixFamilies(const LabState& lab, const std::vector<int>& asked) {
  if (!asked.empty()) return asked;
  bool v6 =
      std::any_of(lab.pods.begin(), lab.pods.end(), [](const LabPod& p) { return !p.ip6.empty(); });
  return v6 ? std::vector<int>{4, 6} : std::vector<int>{4};
}

// Every ordered pair of distinct pods with addresses of the family, for each family, port and
// protocol.
std::vector<ProbeSpec> MatrixSpecs(const LabState& lab, const MatrixSpec& m) {
  std::vector<const LabPod*> pods;
  for (const auto& p : lab.pods) pods.push_back(&p);
  std::sort(pods.begin(), pods.end(),
            [](const LabPod* a, const LabPod* b) { return a->key < b->key; });
  std::vector<ProbeSpec> specs;
  for (int family : MatrixFamilies(lab, m.families)) {
    for (int port : m.ports) {
      for (const auto& proto : m.protocols) {
        for (const LabPod* a : pods) {
          for (const LabPod* b : pods) {
            if (a == b || PodAddress(*a, family).empty() || PodAddress(*b, family).empty())
              continue;
            specs.push_back(ProbeSpec{a->key, b->key, port, proto == "UDP", m.timeout_ms, family});
          }
        }
      }
    }
  }
  return specs;
}

}  // namespace

absl::Status LabUp(const LabOptions& o) {
  Progress progress(o.progress);
  LabDown(o.state_dir).IgnoreError();
  WD_ASSIGN_OR_RETURN(policy::ClusterState cluster, LoadManifests(o.manifests));
  WD_ASSIGN_OR_RETURN(std::string lab_cgroup, LabCgroup());
  WD_ASSIGN_OR_RETURN(LabState lab, PlanLab(cluster, o.manifests, lab_cgroup));
  size_t gateways = RunsGateway(o) ? FindGatewayPods(lab).size() : 0;
  WD_RETURN_IF_ERROR(
      progress.Step(absl::StrCat("network: ", lab.nodes.size(), " nodes, ", lab.pods.size(),
                                 " pods, the internet (namespaces, veths, routes, cgroups)"),
                    [&] {
                      WD_RETURN_IF_ERROR(MakeDirectories(o.state_dir, lab));
                      return MakeNetwork(lab);
                    }));
  WD_RETURN_IF_ERROR(progress.Step(
      "servers: every pod's ports, the metadata server on each node, the internet's hosts",
      [&] { return StartServers(o, cluster, &lab); }));
  if (o.agents && o.control) {
    WD_RETURN_IF_ERROR(progress.Step("control plane: a lab PKI, `warden control`",
                                     [&] { return StartControlPlane(o, &lab); }));
  }
  if (o.agents) {
    WD_RETURN_IF_ERROR(
        progress.Step(absl::StrCat("agents: one `warden node` per node, until each has attached "
                                   "its programs and applied a state (the verifier is the wait)"),
                      [&] { return StartAgents(o, &lab); }));
  }
  if (RunsGateway(o)) {
    WD_RETURN_IF_ERROR(
        progress.Step(absl::StrCat("egress: nginx for the internet's HTTPS hosts, ", gateways,
                                   " `warden gateway` replica(s), until each serves"),
                      [&] { return StartEgress(o, &lab); }));
  }
  progress.Done();
  return WriteLabState(o.state_dir, lab);
}

absl::Status LabDown(const std::string& state_dir) {
  auto lab_cgroup = LabCgroup();
  if (lab_cgroup.ok()) common::KillCgroupProcesses(*lab_cgroup);
  DeleteLabNetns();
  if (lab_cgroup.ok()) common::RemoveCgroupTree(*lab_cgroup).IgnoreError();
  std::error_code ec;
  fs::remove_all(kLabBpffs, ec);  // unpinning the links detaches the programs
  fs::remove_all(state_dir, ec);
  return absl::OkStatus();
}

absl::StatusOr<pid_t> LabStartControl(const std::string& state_dir) {
  WD_ASSIGN_OR_RETURN(LabState lab, ReadLabState(state_dir));
  if (!lab.control) return absl::FailedPreconditionError("the lab runs without a control plane");
  WD_ASSIGN_OR_RETURN(lab.control->pid, StartControl(lab, state_dir));
  WD_RETURN_IF_ERROR(WriteLabState(state_dir, lab));
  return lab.control->pid;
}

absl::StatusOr<pid_t> LabStartAgent(const std::string& state_dir, const std::string& node) {
  WD_ASSIGN_OR_RETURN(LabState lab, ReadLabState(state_dir));
  LabNode* n = lab.FindNode(node);
  if (!n) return absl::NotFoundError(absl::StrCat("--node ", node, ": no such node in the lab"));
  if (n->agent_argv.empty())
    return absl::FailedPreconditionError("the lab was brought up without agents");
  WD_ASSIGN_OR_RETURN(n->agent_pid, StartAgent(lab, *n, state_dir));
  WD_RETURN_IF_ERROR(WriteLabState(state_dir, lab));
  return n->agent_pid;
}

absl::StatusOr<ProbeReport> LabProbe(const std::string& state_dir, const ProbeSpec& spec) {
  WD_ASSIGN_OR_RETURN(LabState lab, ReadLabState(state_dir));
  return Probe(lab, spec);
}

absl::StatusOr<int> LabExec(const std::string& state_dir, const ExecSpec& spec) {
  auto lab = ReadLabState(state_dir);
  if (!lab.ok())
    return absl::Status(lab.status().code(),
                        absl::StrCat("--state ", state_dir, ": ", lab.status().message()));
  WD_ASSIGN_OR_RETURN(Place place, PlaceOf(*lab, spec.in, "--in"));
  if (spec.argv.empty())
    return absl::InvalidArgumentError(
        "no command: give it after --, as in `lab exec --in NS/POD -- CMD`");
  ExecPlace where{place.cgroup, place.netns, std::nullopt};
  if (place.pod && !spec.privileged) where.capabilities = common::kContainerDefaultCapabilities;
  return RunIn(where, spec.argv);
}

absl::StatusOr<std::vector<ProbeReport>> LabMatrix(const std::string& state_dir,
                                                   const MatrixSpec& spec) {
  WD_ASSIGN_OR_RETURN(LabState lab, ReadLabState(state_dir));
  std::vector<ProbeSpec> specs = MatrixSpecs(lab, spec);
  std::vector<ProbeReport> out(specs.size());
  std::atomic<size_t> next{0};
  absl::Status first_error;
  std::mutex mu;
  auto work = [&] {
    for (size_t i = next++; i < specs.size(); i = next++) {
      auto r = Probe(lab, specs[i]);
      if (r.ok()) {
        out[i] = *r;
        continue;
      }
      std::lock_guard<std::mutex> l(mu);
      if (first_error.ok()) first_error = r.status();
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < std::max(1, spec.parallel); ++w) workers.emplace_back(work);
  for (auto& t : workers) t.join();
  if (!first_error.ok()) return first_error;
  return out;
}

}  // namespace warden::lab
