// `warden lab`: build, probe and remove the lab cluster (agent/lab/lab.h).
#include <functional>
#include <iostream>
#include <map>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/cli/commands.h"
#include "agent/cli/flags.h"
#include "agent/common/capabilities.h"
#include "agent/common/status_macros.h"
#include "agent/lab/lab.h"
#include "agent/lab/lab_faults.h"
#include "agent/lab/probe.h"

namespace warden::cli {

namespace po = boost::program_options;
using nlohmann::json;

namespace {

bool ParseInts(const std::string& s, std::vector<int>* out) {
  for (absl::string_view p : absl::StrSplit(s, ',', absl::SkipWhitespace())) {
    int v;
    if (!absl::SimpleAtoi(p, &v) || v < 1 || v > 65535) return false;
    out->push_back(v);
  }
  return true;
}

json ReportJson(const lab::ProbeReport& r) {
  std::string egress = r.allowed ? "allow" : (r.outcome == "eperm" ? "deny" : "unknown");
  std::string ingress = r.allowed ? "allow" : "unknown";
  json j = {{"from", r.from},
            {"to", r.to},
            {"port", r.port},
            {"protocol", r.protocol},
            {"verdict", r.allowed ? "allow" : "deny"},
            {"egress", egress},
            {"ingress", ingress},
            {"reason", r.detail},
            {"outcome", r.outcome}};
  j["family"] = r.family;  // of the address probed: 4 or 6
  return j;
}

int Usage() {
  std::cerr
      << "usage: warden lab up --manifests DIR [--state DIR] [--serve-ports P,..] [--no-control] "
         "[--no-agents] "
         "[-- AGENT-FLAGS...]\n"
         "       warden lab down [--state DIR]\n"
         "       warden lab start-agent --node NAME   (start a node's agent again, as it was)\n"
         "       warden lab start-control             (start the control plane again)\n"
         "       warden lab start-gateway [--pod NS/NAME] (start a gateway replica again; without\n"
         "           --pod every replica whose process is gone)\n"
         "       warden lab probe --from NS/POD|node:NAME|internet --to NS/POD|IP --port P "
         "[--protocol TCP|UDP] [--family 4|6]\n"
         "       warden lab matrix [--ports 80,81] [--protocols TCP,UDP] [--families 4,6] "
         "[--output text|json]\n"
         "           (--families: default both when a pod has an IPv6 address, else 4)\n"
         "       warden lab faults [--output text|json]   (the reference scenario's rows tried\n"
         "           continuously while the control plane, an agent and a gateway replica are\n"
         "           each killed and started again; exits 1 if anything denied got through)\n"
         "       warden lab exec --in NS/POD|node:NAME|internet [--privileged] -- CMD [ARGS...]\n"
         "           (CMD in that place's cgroup and network namespace, with this terminal's\n"
         "           stdin/stdout/stderr; exits with CMD's status. In a pod CMD keeps only a\n"
         "           container's default capabilities (NET_RAW, not NET_ADMIN) unless "
         "--privileged)\n"
         "       warden lab serve --cgroup PATH --netns NAME [--tcp P,..] [--udp P,..] "
         "[--container]"
         "   (used by the lab)\n";
  return 2;
}

struct LabFlags {
  std::string state = "/run/warden-lab", manifests, from, to, protocol = "TCP", ports = "80",
              protocols = "TCP", output = "text", cgroup, netns, tcp, udp, serve_ports, node, in,
              pod;
  std::string families;
  int port = 0, timeout_ms = 1000, parallel = 16, family = 0;
  bool no_agents = false, no_control = false, privileged = false, container = false;
  std::vector<std::string> after_dashes;  // after "--": the agents' flags (up), the command (exec)
};

po::options_description Describe(LabFlags* f) {
  po::options_description desc("warden lab");
  auto add = desc.add_options();
  add("state", po::value(&f->state));
  add("manifests", po::value(&f->manifests));
  add("no-agents", po::bool_switch(&f->no_agents));
  add("no-control", po::bool_switch(&f->no_control));
  add("serve-ports", po::value(&f->serve_ports));
  add("from", po::value(&f->from));
  add("to", po::value(&f->to));
  add("port", po::value(&f->port));
  add("protocol", po::value(&f->protocol));
  add("ports", po::value(&f->ports));
  add("protocols", po::value(&f->protocols));
  add("family", po::value(&f->family));
  add("families", po::value(&f->families));
  add("output,o", po::value(&f->output));
  add("timeout-ms", po::value(&f->timeout_ms));
  add("parallel", po::value(&f->parallel));
  add("cgroup", po::value(&f->cgroup));
  add("netns", po::value(&f->netns));
  add("tcp", po::value(&f->tcp));
  add("udp", po::value(&f->udp));
  add("node", po::value(&f->node));
  add("pod", po::value(&f->pod));
  add("in", po::value(&f->in));
  add("privileged", po::bool_switch(&f->privileged));
  add("container", po::bool_switch(&f->container));
  return desc;
}

absl::Status Up(const LabFlags& f) {
  if (f.manifests.empty()) return absl::InvalidArgumentError("--manifests DIR is required");
  lab::LabOptions o;
  o.manifests = f.manifests;
  o.state_dir = f.state;
  o.agents = !f.no_agents;
  o.control = !f.no_control;
  o.agent_args = f.after_dashes;
  if (!f.serve_ports.empty() && !ParseInts(f.serve_ports, &o.serve_ports))
    return absl::InvalidArgumentError("--serve-ports: bad list");
  o.progress = &std::cout;
  WD_RETURN_IF_ERROR(lab::LabUp(o));
  std::cout << "lab is up (state in " << f.state << ")\n";
  return absl::OkStatus();
}

absl::Status PrintPid(absl::StatusOr<pid_t> pid) {
  if (!pid.ok()) return pid.status();
  std::cout << *pid << "\n";
  return absl::OkStatus();
}

absl::Status PrintPids(absl::StatusOr<std::vector<pid_t>> pids) {
  if (!pids.ok()) return pids.status();
  for (pid_t p : *pids) std::cout << p << "\n";
  return absl::OkStatus();
}

absl::Status Serve(const LabFlags& f) {
  std::vector<int> t, u;
  if (!ParseInts(f.tcp, &t) || !ParseInts(f.udp, &u))
    return absl::InvalidArgumentError("bad --tcp/--udp port list");
  WD_RETURN_IF_ERROR(lab::EnterPlace(f.cgroup, f.netns));
  // A pod's servers are a container's processes: the capabilities it gets by default, so that
  // the agent's capability report sees what it would see on a real node.
  if (f.container)
    WD_RETURN_IF_ERROR(common::KeepOnlyCapabilities(common::kContainerDefaultCapabilities));
  return lab::ServeForever(t, u);
}

absl::Status Probe(const LabFlags& f) {
  if (f.from.empty() || f.to.empty() || f.port < 1 || f.port > 65535)
    return absl::InvalidArgumentError("--from, --to and --port (1-65535) are required");
  if (f.protocol != "TCP" && f.protocol != "UDP")
    return absl::InvalidArgumentError("--protocol must be TCP or UDP");
  if (f.family != 0 && f.family != 4 && f.family != 6)
    return absl::InvalidArgumentError("--family must be 4 or 6");
  WD_ASSIGN_OR_RETURN(
      lab::ProbeReport r,
      lab::LabProbe(f.state, lab::ProbeSpec{f.from, f.to, f.port, f.protocol == "UDP", f.timeout_ms,
                                            f.family}));
  if (f.output == "json") {
    std::cout << ReportJson(r).dump() << "\n";
  } else {
    std::cout << (r.allowed ? "allow" : "deny") << "\n";
    std::cerr << r.outcome << ": " << r.detail << "\n";
  }
  return absl::OkStatus();
}

absl::Status Exec(const LabFlags& f, int* exit_code) {
  if (f.in.empty()) return absl::InvalidArgumentError("--in NS/POD|node:NAME|internet is required");
  WD_ASSIGN_OR_RETURN(*exit_code,
                      lab::LabExec(f.state, lab::ExecSpec{f.in, f.after_dashes, f.privileged}));
  return absl::OkStatus();
}

absl::Status Matrix(const LabFlags& f) {
  lab::MatrixSpec m;
  m.timeout_ms = f.timeout_ms;
  m.parallel = f.parallel;
  if (!ParseInts(f.ports, &m.ports) || m.ports.empty())
    return absl::InvalidArgumentError("--ports: bad list");
  for (absl::string_view s : absl::StrSplit(f.protocols, ',', absl::SkipWhitespace())) {
    if (s != "TCP" && s != "UDP")
      return absl::InvalidArgumentError(
          "--protocols: TCP and UDP only (the kernel has no SCTP here)");
    m.protocols.emplace_back(s);
  }
  for (absl::string_view s : absl::StrSplit(f.families, ',', absl::SkipWhitespace())) {
    if (s != "4" && s != "6") return absl::InvalidArgumentError("--families: 4, 6 or 4,6");
    m.families.push_back(s == "4" ? 4 : 6);
  }
  WD_ASSIGN_OR_RETURN(std::vector<lab::ProbeReport> r, lab::LabMatrix(f.state, m));
  if (f.output == "json") {
    json arr = json::array();
    for (const auto& x : r) arr.push_back(ReportJson(x));
    std::cout << json{{"results", arr}}.dump(1) << "\n";
    return absl::OkStatus();
  }
  for (const auto& x : r) {
    std::cout << (x.allowed ? "allow " : "deny  ") << x.protocol << "/" << x.port << "  " << x.from
              << " -> " << x.to << (x.family == 6 ? "  IPv6" : "") << "  (" << x.outcome << ")\n";
  }
  return absl::OkStatus();
}

// Faults under continuous traffic; exits 1 when something denied got through or permitted
// traffic did not come back.
absl::Status Faults(const LabFlags& f, int* exit_code) {
  lab::FaultsOptions o;
  o.state_dir = f.state;
  o.progress = f.output == "json" ? &std::cerr : &std::cout;
  WD_ASSIGN_OR_RETURN(lab::FaultsReport r, lab::LabFaults(o));
  if (f.output == "json") {
    std::cout << lab::FaultsJson(r).dump(1) << "\n";
  } else {
    std::cout << "\n" << lab::FaultsText(r);
  }
  *exit_code = r.ok() ? 0 : 1;
  return absl::OkStatus();
}

}  // namespace

int RunLab(const std::vector<std::string>& all) {
  if (all.empty()) return Usage();
  const std::string verb = all[0];
  std::vector<std::string> args(all.begin() + 1, all.end());
  LabFlags f;
  if (auto it = std::find(args.begin(), args.end(), "--"); it != args.end()) {
    f.after_dashes.assign(it + 1, args.end());
    args.erase(it, args.end());
  }
  po::options_description desc = Describe(&f);
  po::variables_map vm;
  if (auto done = ParseFlags(("lab " + verb).c_str(), desc, args, &vm)) return *done;
  int exit_code = 0;  // exec's is its command's
  const std::map<std::string, std::function<absl::Status()>> verbs = {
      {"up", [&] { return Up(f); }},
      {"down", [&] { return lab::LabDown(f.state); }},
      {"start-control", [&] { return PrintPid(lab::LabStartControl(f.state)); }},
      {"start-gateway", [&] { return PrintPids(lab::LabStartGateway(f.state, f.pod)); }},
      {"start-agent", [&] { return PrintPid(lab::LabStartAgent(f.state, f.node)); }},
      {"serve", [&] { return Serve(f); }},
      {"probe", [&] { return Probe(f); }},
      {"matrix", [&] { return Matrix(f); }},
      {"exec", [&] { return Exec(f, &exit_code); }},
      {"faults", [&] { return Faults(f, &exit_code); }},
  };
  auto it = verbs.find(verb);
  if (it == verbs.end()) return Usage();
  if (absl::Status st = it->second(); !st.ok()) return CommandFailed("lab " + verb, st);
  return exit_code;
}

}  // namespace warden::cli
