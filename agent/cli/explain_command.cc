// `warden explain`: one flow, or the whole matrix of pod pairs, ports and protocols.
#include <iomanip>
#include <iostream>
#include <sstream>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/cli/commands.h"
#include "agent/cli/flags.h"
#include "agent/policy/compiler.h"
#include "agent/policy/explain.h"
#include "agent/policy/manifest_loader.h"

namespace warden::cli {

namespace po = boost::program_options;
using namespace warden::policy;
using nlohmann::json;

namespace {

const char* Word(bool allowed) { return allowed ? "allow" : "deny"; }

json PortJson(const FlowExplanation& fx) {
  int n = 0;
  if (absl::SimpleAtoi(fx.port_text, &n)) return n;
  return fx.port_text;
}

json SideJson(const SideReport& s) {
  json j = {{"verdict", Word(s.allowed)},
            {"applies", s.applies},
            {"isolated", s.isolated},
            {"reason", s.reason},
            {"isolating_policies", s.isolating_policies}};
  if (!s.policy.empty()) {
    j["policy"] = s.policy;
    j["rule"] = s.rule;
  }
  return j;
}

json FlowJson(const FlowExplanation& fx) {
  json j = {{"from", fx.from},
            {"to", fx.to},
            {"port", PortJson(fx)},
            {"protocol", ProtocolName(fx.protocol)},
            {"verdict", Word(fx.allowed)},
            {"egress", SideJson(fx.egress)},
            {"ingress", SideJson(fx.ingress)},
            {"reason", fx.reason}};
  if (!fx.from_ip.empty()) j["from_ip"] = fx.from_ip;
  if (!fx.to_ip.empty()) j["to_ip"] = fx.to_ip;
  if (fx.from_identity) j["from_identity"] = fx.from_identity;
  if (fx.to_identity) j["to_identity"] = fx.to_identity;
  if (fx.port_text != std::to_string(fx.port) && fx.port) j["resolved_port"] = fx.port;
  return j;
}

void PrintFlowText(const FlowExplanation& fx, std::ostream& out) {
  auto end = [](const std::string& name, const std::string& ip, uint32_t id) {
    std::string s = name;
    if (!ip.empty() && ip != name) s += " (" + ip + ")";
    if (id) s += " identity " + std::to_string(id);
    return s;
  };
  out << (fx.allowed ? "ALLOW" : "DENY") << "  " << end(fx.from, fx.from_ip, fx.from_identity)
      << " -> " << end(fx.to, fx.to_ip, fx.to_identity) << "  " << ProtocolName(fx.protocol) << "/"
      << fx.port_text;
  if (fx.port_text != std::to_string(fx.port) && fx.port) out << " (port " << fx.port << ")";
  out << "\n";
  auto side = [&](const char* name, const SideReport& s) {
    out << "  " << std::left << std::setw(8) << name << std::setw(6) << Word(s.allowed) << s.reason
        << "\n";
  };
  side("egress", fx.egress);
  side("ingress", fx.ingress);
  if (fx.egress.applies || fx.ingress.applies) return;
  out << "  (neither end is a pod: nothing here is enforced by NetworkPolicy)\n";
}

void PrintMatrixText(const std::vector<const Pod*>& pods, const std::vector<std::string>& ports,
                     const std::vector<Protocol>& protos,
                     const std::vector<FlowExplanation>& results, std::ostream& out) {
  // One grid per port and protocol, as the upstream truth tables print them:
  // rows are sources, columns destinations; "." allowed, "X" denied, "-" same pod.
  size_t width = 0;
  for (const Pod* p : pods) width = std::max(width, p->Key().size());
  size_t i = 0;
  for (const auto& port : ports) {
    for (Protocol proto : protos) {
      out << ProtocolName(proto) << "/" << port << "  (rows: from, columns: to; . allow, X deny)\n";
      out << std::string(width + 1, ' ');
      for (size_t c = 0; c < pods.size(); ++c) out << std::setw(4) << c;
      out << "\n";
      for (size_t r = 0; r < pods.size(); ++r) {
        out << std::left << std::setw(width + 1) << pods[r]->Key() << std::right;
        for (size_t c = 0; c < pods.size(); ++c) {
          if (r == c) {
            out << std::setw(4) << "-";
          } else {
            out << std::setw(4) << (results[i++].allowed ? "." : "X");
          }
        }
        out << "\n";
      }
      out << "\n";
    }
  }
  out << "columns:";
  for (size_t c = 0; c < pods.size(); ++c) out << " " << c << "=" << pods[c]->Key();
  out << "\n";
}

}  // namespace

int RunExplain(const std::vector<std::string>& args) {
  po::options_description desc(
      "warden explain: why a flow is allowed or denied by NetworkPolicy\n\n"
      "  warden explain --manifests DIR --from NS/POD --to NS/POD|IP --port PORT|NAME [--protocol "
      "TCP]\n"
      "  warden explain --manifests DIR --matrix [--ports 80,81] [--protocols TCP,UDP,SCTP]\n\n"
      "options");
  std::string manifests, from, to, port, protocol = "TCP", ports = "80", protocols = "TCP",
                                         output = "text";
  bool matrix = false;
  desc.add_options()("help,h", "show this help")(
      "manifests", po::value(&manifests),
      "directory of Kubernetes manifests (YAML/JSON, recursive)")(
      "from", po::value(&from), "source: NAMESPACE/POD or an IP address")(
      "to", po::value(&to), "destination: NAMESPACE/POD or an IP address")(
      "port", po::value(&port), "destination port number, or a port name of the destination pod")(
      "protocol", po::value(&protocol)->default_value("TCP"), "TCP, UDP or SCTP")(
      "matrix", po::bool_switch(&matrix), "every ordered pair of distinct pods")(
      "ports", po::value(&ports)->default_value("80"),
      "matrix ports, comma-separated (numbers or names)")(
      "protocols", po::value(&protocols)->default_value("TCP"),
      "matrix protocols, comma-separated")("output,o", po::value(&output)->default_value("text"),
                                           "text or json");
  po::variables_map vm;
  if (auto done = ParseFlags("explain", desc, args, &vm)) return *done;
  auto fail = [](const std::string& msg) { return BadInput("explain", msg); };
  if (manifests.empty()) return fail("--manifests DIR is required");
  if (output != "text" && output != "json")
    return fail("--output must be text or json, not \"" + output + "\"");
  std::vector<Protocol> protos;
  std::vector<std::string> port_list;
  if (matrix) {
    if (vm.count("from") || vm.count("to") || vm.count("port"))
      return fail("--matrix takes no --from/--to/--port");
    for (absl::string_view p : absl::StrSplit(protocols, ',', absl::SkipWhitespace())) {
      auto pr = ParseProtocol(std::string(p));
      if (!pr)
        return fail("--protocols: unknown protocol \"" + std::string(p) + "\" (TCP, UDP or SCTP)");
      protos.push_back(*pr);
    }
    for (absl::string_view p : absl::StrSplit(ports, ',', absl::SkipWhitespace())) {
      int n = 0;
      std::string s(p);
      if (absl::SimpleAtoi(s, &n) ? (n < 1 || n > 65535) : s.empty())
        return fail("--ports: bad port \"" + s + "\"");
      port_list.push_back(s);
    }
    if (protos.empty() || port_list.empty())
      return fail("--ports and --protocols must not be empty");
  } else {
    if (from.empty() || to.empty() || port.empty())
      return fail("--from, --to and --port are required (or --matrix)");
  }
  auto proto = ParseProtocol(protocol);
  if (!proto) return fail("--protocol: unknown protocol \"" + protocol + "\" (TCP, UDP or SCTP)");

  LoadResult loaded = LoadManifestDir(manifests);
  for (const auto& n : loaded.notes) std::cerr << "info: " << n << "\n";
  for (const auto& e : loaded.errors) std::cerr << "error: " << e.ToString() << "\n";
  int exit_code = loaded.errors.empty() ? 0 : 2;
  if (!loaded.errors.empty()) {
    std::cerr << "warden explain: " << loaded.errors.size()
              << " invalid input(s); files with errors were not applied, results use the rest\n";
  }
  // Explained even when the datapath could not hold the tables: the operator learns both why a
  // flow would pass and that the agents keep their current tables meanwhile.
  CompileOptions co;
  co.limits = TableLimits::None();
  absl::StatusOr<Snapshot> compiled = Compile(loaded.state, co);
  if (!compiled.ok()) return fail(std::string(compiled.status().message()));
  const Snapshot& snap = *compiled;
  if (auto st = CheckTableLimits(snap, TableLimits{}); !st.ok()) {
    std::cerr << "warning: " << st.message()
              << ": agents refuse these manifests and keep the tables in force\n";
    exit_code = 2;
  }
  Explainer explainer(loaded.state, snap);

  if (!matrix) {
    auto fx = explainer.Explain(from, to, port, *proto);
    if (!fx.ok()) return fail(std::string(fx.status().message()));
    if (output == "json") {
      std::cout << FlowJson(*fx).dump(2) << "\n";
    } else {
      PrintFlowText(*fx, std::cout);
    }
    return fx->consistent ? exit_code : 3;
  }

  std::vector<const Pod*> pods;
  for (const auto& [_, p] : loaded.state.pods) pods.push_back(&p);
  std::vector<FlowExplanation> results;
  results.reserve(pods.size() * pods.size() * port_list.size() * protos.size());
  bool consistent = true;
  for (const auto& p : port_list) {
    for (Protocol pr : protos) {
      for (const Pod* a : pods) {
        for (const Pod* b : pods) {
          if (a == b) continue;
          results.push_back(explainer.ExplainPods(*a, *b, p, pr));
          consistent = consistent && results.back().consistent;
        }
      }
    }
  }
  if (output == "json") {
    json arr = json::array();
    for (const auto& fx : results) {
      arr.push_back({{"from", fx.from},
                     {"to", fx.to},
                     {"port", PortJson(fx)},
                     {"protocol", ProtocolName(fx.protocol)},
                     {"verdict", Word(fx.allowed)},
                     {"egress", Word(fx.egress.allowed)},
                     {"ingress", Word(fx.ingress.allowed)},
                     {"reason", fx.reason}});
    }
    std::cout << json{{"results", arr}}.dump(1) << "\n";
  } else {
    PrintMatrixText(pods, port_list, protos, results, std::cout);
  }
  return consistent ? exit_code : 3;
}

}  // namespace warden::cli
