// `warden lab`: build, probe and remove the lab cluster (agent/lab/lab.h).
#include <iostream>
#include <map>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/cli/commands.h"
#include "agent/lab/lab.h"
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
  return {{"from", r.from},
          {"to", r.to},
          {"port", r.port},
          {"protocol", r.protocol},
          {"verdict", r.allowed ? "allow" : "deny"},
          {"egress", egress},
          {"ingress", ingress},
          {"reason", r.detail},
          {"outcome", r.outcome}};
}

int Usage() {
  std::cerr
      << "usage: warden lab up --manifests DIR [--state DIR] [--serve-ports P,..] [--no-control] "
         "[--no-agents] "
         "[-- AGENT-FLAGS...]\n"
         "       warden lab down [--state DIR]\n"
         "       warden lab start-agent --node NAME   (start a node's agent again, as it was)\n"
         "       warden lab start-control             (start the control plane again)\n"
         "       warden lab probe --from NS/POD|node:NAME|internet --to NS/POD|IP --port P "
         "[--protocol TCP|UDP]\n"
         "       warden lab matrix [--ports 80,81] [--protocols TCP,UDP] [--output text|json]\n"
         "       warden lab serve --cgroup PATH --netns NAME [--tcp P,..] [--udp P,..]   (used by "
         "the lab)\n";
  return 2;
}

}  // namespace

int RunLab(const std::vector<std::string>& all) {
  if (all.empty()) return Usage();
  std::string verb = all[0];
  std::vector<std::string> args(all.begin() + 1, all.end());
  std::vector<std::string> agent_args;
  if (auto it = std::find(args.begin(), args.end(), "--"); it != args.end()) {
    agent_args.assign(it + 1, args.end());
    args.erase(it, args.end());
  }
  std::string state = "/run/warden-lab", manifests, from, to, protocol = "TCP", ports = "80",
              protocols = "TCP", output = "text", cgroup, netns, tcp, udp, serve_ports;
  int port = 0, timeout_ms = 1000, parallel = 16;
  bool no_agents = false, no_control = false;
  po::options_description desc("warden lab");
  desc.add_options()("state", po::value(&state))("manifests", po::value(&manifests))(
      "no-agents", po::bool_switch(&no_agents))("no-control", po::bool_switch(&no_control))(
      "serve-ports", po::value(&serve_ports))("from", po::value(&from))("to", po::value(&to))(
      "port", po::value(&port))("protocol", po::value(&protocol))("ports", po::value(&ports))(
      "protocols", po::value(&protocols))("output,o", po::value(&output))(
      "timeout-ms", po::value(&timeout_ms))("parallel", po::value(&parallel))(
      "cgroup", po::value(&cgroup))("netns", po::value(&netns))("tcp", po::value(&tcp))(
      "udp", po::value(&udp))("node", po::value<std::string>());
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(desc).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "warden lab " << verb << ": " << e.what() << "\n";
    return 2;
  }
  auto fail = [&](const absl::Status& st) {
    std::cerr << "warden lab " << verb << ": " << st.message() << "\n";
    return absl::IsInvalidArgument(st) || absl::IsNotFound(st) ? 2 : 1;
  };
  if (verb == "up") {
    if (manifests.empty()) return fail(absl::InvalidArgumentError("--manifests DIR is required"));
    lab::LabOptions o;
    o.manifests = manifests;
    o.state_dir = state;
    o.agents = !no_agents;
    o.control = !no_control;
    o.agent_args = agent_args;
    if (!serve_ports.empty() && !ParseInts(serve_ports, &o.serve_ports)) {
      return fail(absl::InvalidArgumentError("--serve-ports: bad list"));
    }
    if (auto st = lab::LabUp(o); !st.ok()) return fail(st);
    std::cout << "lab is up (state in " << state << ")\n";
    return 0;
  }
  if (verb == "down") {
    if (auto st = lab::LabDown(state); !st.ok()) return fail(st);
    return 0;
  }
  if (verb == "start-control") {
    auto pid = lab::LabStartControl(state);
    if (!pid.ok()) return fail(pid.status());
    std::cout << *pid << "\n";
    return 0;
  }
  if (verb == "start-agent") {
    std::string node;
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--node") node = args[i + 1];
    }
    auto pid = lab::LabStartAgent(state, node);
    if (!pid.ok()) return fail(pid.status());
    std::cout << *pid << "\n";
    return 0;
  }
  if (verb == "serve") {
    std::vector<int> t, u;
    if (!ParseInts(tcp, &t) || !ParseInts(udp, &u))
      return fail(absl::InvalidArgumentError("bad --tcp/--udp port list"));
    if (auto st = lab::EnterPlace(cgroup, netns); !st.ok()) return fail(st);
    auto st = lab::ServeForever(t, u);
    return fail(st);
  }
  if (verb == "probe") {
    if (from.empty() || to.empty() || port < 1 || port > 65535) {
      return fail(absl::InvalidArgumentError("--from, --to and --port (1-65535) are required"));
    }
    if (protocol != "TCP" && protocol != "UDP")
      return fail(absl::InvalidArgumentError("--protocol must be TCP or UDP"));
    auto r = lab::LabProbe(state, lab::ProbeSpec{from, to, port, protocol == "UDP", timeout_ms});
    if (!r.ok()) return fail(r.status());
    if (output == "json") {
      std::cout << ReportJson(*r).dump() << "\n";
    } else {
      std::cout << (r->allowed ? "allow" : "deny") << "\n";
      std::cerr << r->outcome << ": " << r->detail << "\n";
    }
    return 0;
  }
  if (verb == "matrix") {
    std::vector<int> p;
    if (!ParseInts(ports, &p) || p.empty())
      return fail(absl::InvalidArgumentError("--ports: bad list"));
    std::vector<std::string> protos;
    for (absl::string_view s : absl::StrSplit(protocols, ',', absl::SkipWhitespace())) {
      if (s != "TCP" && s != "UDP")
        return fail(absl::InvalidArgumentError(
            "--protocols: TCP and UDP only (the kernel has no SCTP here)"));
      protos.emplace_back(s);
    }
    auto r = lab::LabMatrix(state, p, protos, timeout_ms, parallel);
    if (!r.ok()) return fail(r.status());
    if (output == "json") {
      json arr = json::array();
      for (const auto& x : *r) arr.push_back(ReportJson(x));
      std::cout << json{{"results", arr}}.dump(1) << "\n";
    } else {
      for (const auto& x : *r) {
        std::cout << (x.allowed ? "allow " : "deny  ") << x.protocol << "/" << x.port << "  "
                  << x.from << " -> " << x.to << "  (" << x.outcome << ")\n";
      }
    }
    return 0;
  }
  return Usage();
}

}  // namespace warden::cli
