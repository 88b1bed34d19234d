// `warden explain`: one flow, or the whole matrix of pod pairs, ports and protocols.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/cli/commands.h"
#include "agent/cli/egress_options.h"
#include "agent/cli/explain_request.h"
#include "agent/cli/flags.h"
#include "agent/common/status_macros.h"
#include "agent/egress/gateway_hop.h"
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
  if (!s.lockdown.empty()) j["lockdown"] = s.lockdown;
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

struct ExplainFlags {
  std::string manifests, from, to, port, protocol = "TCP", ports = "80", protocols = "TCP",
                                         output = "text";
  bool matrix = false;
  std::vector<std::string> allow, cluster;
  RequestExplainFlags requests;  // --request / --requests: the egress gateway's answer
  std::string forwarder_ports = "80,443";
  std::vector<int> fwd_ports;  // parsed; empty: the agents run no forwarder
  // Parsed.
  std::vector<Cidr> cluster_cidrs;
  LockdownOptions lockdown;
  Protocol proto = Protocol::kTCP;
  std::vector<Protocol> matrix_protocols;
  std::vector<std::string> matrix_ports;
};

po::options_description Describe(ExplainFlags* f) {
  po::options_description desc(
      "warden explain: why a flow is allowed or denied by NetworkPolicy\n\n"
      "  warden explain --manifests DIR --from NS/POD --to NS/POD|IP --port PORT|NAME [--protocol "
      "TCP]\n"
      "  warden explain --manifests DIR --matrix [--ports 80,81] [--protocols TCP,UDP,SCTP]\n"
      "  warden explain --manifests DIR --from NS/POD --request 'GET http://host/path' "
      "[--header 'K: V']...\n"
      "  warden explain --manifests DIR --requests FILE --output json\n\n"
      "options");
  auto add = desc.add_options();
  add("help,h", "show this help");
  add("manifests", po::value(&f->manifests),
      "directory of Kubernetes manifests (YAML/JSON, recursive)");
  add("from", po::value(&f->from), "source: NAMESPACE/POD or an IP address");
  add("to", po::value(&f->to), "destination: NAMESPACE/POD or an IP address");
  add("port", po::value(&f->port),
      "destination port number, or a port name of the destination pod");
  add("protocol", po::value(&f->protocol)->default_value("TCP"), "TCP, UDP or SCTP");
  add("matrix", po::bool_switch(&f->matrix), "every ordered pair of distinct pods");
  add("ports", po::value(&f->ports)->default_value("80"),
      "matrix ports, comma-separated (numbers or names)");
  add("protocols", po::value(&f->protocols)->default_value("TCP"),
      "matrix protocols, comma-separated");
  add("output,o", po::value(&f->output)->default_value("text"), "text or json");
  AddWorldOptions(add, &f->allow, &f->cluster, &f->lockdown.gateway_namespace);
  add("request", po::value(&f->requests.request),
      "an HTTP request to the egress gateway: 'METHOD URL' (http:// or https://)");
  add("header", po::value(&f->requests.headers)->composing(),
      "a request header 'Name: value' (repeatable; Host sets the authority)");
  add("requests", po::value(&f->requests.requests_file),
      "a file of requests, one JSON object a line: from (NS/POD) or namespace and "
      "service_account, method, url, port, headers");
  AddGatewayOptions(add, &f->requests.gateway, &f->requests.gateway_port);
  add("forwarder-ports", po::value(&f->forwarder_ports)->default_value("80,443"),
      "the world ports default-pool nodes' forwarders take, as the agents are given them "
      "(\"none\": the agents run no forwarder)");
  return desc;
}

// The matrix's protocols and ports from their comma-separated flags.
absl::Status ParseMatrixLists(ExplainFlags* f) {
  for (absl::string_view p : absl::StrSplit(f->protocols, ',', absl::SkipWhitespace())) {
    auto pr = ParseProtocol(std::string(p));
    if (!pr) {
      return absl::InvalidArgumentError(
          absl::StrCat("--protocols: unknown protocol \"", p, "\" (TCP, UDP or SCTP)"));
    }
    f->matrix_protocols.push_back(*pr);
  }
  for (absl::string_view p : absl::StrSplit(f->ports, ',', absl::SkipWhitespace())) {
    int n = 0;
    std::string s(p);
    if (absl::SimpleAtoi(s, &n) ? (n < 1 || n > 65535) : s.empty())
      return absl::InvalidArgumentError("--ports: bad port \"" + s + "\"");
    f->matrix_ports.push_back(s);
  }
  if (f->matrix_protocols.empty() || f->matrix_ports.empty())
    return absl::InvalidArgumentError("--ports and --protocols must not be empty");
  return absl::OkStatus();
}

absl::Status CheckFlags(const po::variables_map& vm, ExplainFlags* f) {
  if (f->manifests.empty()) return absl::InvalidArgumentError("--manifests DIR is required");
  if (f->output != "text" && f->output != "json")
    return absl::InvalidArgumentError("--output must be text or json, not \"" + f->output + "\"");
  const bool requests = vm.count("request") || vm.count("requests");
  if (requests) {
    if (f->matrix || vm.count("to") || vm.count("port"))
      return absl::InvalidArgumentError("--request/--requests take no --matrix, --to or --port");
    if (vm.count("request") && vm.count("requests"))
      return absl::InvalidArgumentError("give --request or --requests, not both");
    if (vm.count("request") && f->from.empty())
      return absl::InvalidArgumentError("--request needs --from NS/POD");
    if (vm.count("requests") && vm.count("from"))
      return absl::InvalidArgumentError("--requests names each request's source in the file");
    f->requests.from = f->from;
    f->requests.output = f->output;
    f->requests.gateway.gateway_namespace = f->lockdown.gateway_namespace;
  } else if (f->matrix) {
    if (vm.count("from") || vm.count("to") || vm.count("port"))
      return absl::InvalidArgumentError("--matrix takes no --from/--to/--port");
    WD_RETURN_IF_ERROR(ParseMatrixLists(f));
  } else if (f->from.empty() || f->to.empty() || f->port.empty()) {
    return absl::InvalidArgumentError("--from, --to and --port are required (or --matrix)");
  }
  auto proto = ParseProtocol(f->protocol);
  if (!proto) {
    return absl::InvalidArgumentError("--protocol: unknown protocol \"" + f->protocol +
                                      "\" (TCP, UDP or SCTP)");
  }
  f->proto = *proto;
  if (f->forwarder_ports != "none") {
    for (absl::string_view p : absl::StrSplit(f->forwarder_ports, ',', absl::SkipWhitespace())) {
      int n = 0;
      if (!absl::SimpleAtoi(p, &n) || n < 1 || n > 65535)
        return absl::InvalidArgumentError(
            absl::StrCat("--forwarder-ports: \"", p, "\" is not a port (or give \"none\")"));
      f->fwd_ports.push_back(n);
    }
  }
  return ParseWorldFlags(f->allow, f->cluster, &f->lockdown.allowances, &f->cluster_cidrs);
}

// The manifests and their compile. Invalid objects and tables the datapath could not hold are
// reported and make the exit code 2, but the flows are still explained from the rest: the
// operator learns both why a flow would pass and that the agents keep their tables meanwhile.
absl::Status LoadAndCompile(const ExplainFlags& f, LoadResult* loaded, Snapshot* snap,
                            int* exit_code) {
  *loaded = LoadManifestDir(f.manifests);
  for (const auto& n : loaded->notes) std::cerr << "info: " << n << "\n";
  if (!loaded->ignored.empty()) {
    std::vector<std::string> kinds;
    for (const auto& [kind, n] : loaded->ignored) kinds.push_back(absl::StrCat(n, " ", kind));
    std::cerr << "info: not read (kinds Warden does not use): " << absl::StrJoin(kinds, ", ")
              << "\n";
  }
  for (const auto& e : loaded->errors) std::cerr << "error: " << e.ToString() << "\n";
  *exit_code = loaded->errors.empty() ? 0 : 2;
  if (!loaded->errors.empty()) {
    std::cerr << "warden explain: " << loaded->errors.size()
              << " invalid input(s); files with errors were not applied, results use the rest\n";
  }
  CompileOptions co;
  co.limits = TableLimits::None();
  co.cluster_cidrs = f.cluster_cidrs;
  WD_ASSIGN_OR_RETURN(*snap, Compile(loaded->state, co));
  if (auto st = CheckTableLimits(*snap, TableLimits{}); !st.ok()) {
    std::cerr << "warning: " << st.message()
              << ": agents refuse these manifests and keep the tables in force\n";
    *exit_code = 2;
  }
  return absl::OkStatus();
}

// A connect the default-pool lockdown refuses that the node's forwarder takes instead (TCP to an
// IPv4 world address on a forwarder port, from a pod), as the datapath decides it, with the hop
// to the gateway: the pod's egress must admit a gateway pod, and the gateway's ingress the
// pod's node. What passes after that is decided request by request at the gateway.
std::optional<egress::GatewayHop> Redirect(const ClusterState& state, const ExplainFlags& f,
                                           const FlowExplanation& fx) {
  if (fx.protocol != Protocol::kTCP || fx.egress.allowed || !fx.egress.default_pool_lockdown)
    return std::nullopt;
  if (std::find(f.fwd_ports.begin(), f.fwd_ports.end(), fx.port) == f.fwd_ports.end())
    return std::nullopt;
  absl::StatusOr<IpAddress> ip = ParseIp(fx.to_ip);
  const Pod* pod = state.FindPod(fx.from);
  // The forwarder takes IPv4 connects.
  if (!ip.ok() || ip->family != Family::kV4 || !pod) return std::nullopt;
  Model model(state);
  return egress::CheckGatewayHop(state, model, f.lockdown.gateway_namespace, *pod,
                                 f.requests.gateway_port);
}

std::string RequestHint(const FlowExplanation& fx) {
  return absl::StrCat("warden explain --from ", fx.from, " --request 'GET ",
                      fx.port == 443 ? "https" : "http", "://HOST/PATH'");
}

int ExplainOne(const Explainer& explainer, const ClusterState& state, const ExplainFlags& f,
               int exit_code) {
  auto fx = explainer.Explain(f.from, f.to, f.port, f.proto);
  if (!fx.ok()) return BadInput("explain", std::string(fx.status().message()));
  const std::optional<egress::GatewayHop> hop = Redirect(state, f, *fx);
  const bool redirected = hop && hop->allowed;
  if (f.output == "json") {
    json j = FlowJson(*fx);
    if (hop) {
      j["redirect"] = {{"taken", hop->allowed},
                       {"node", hop->node},
                       {"gateway", hop->gateway},
                       {"reason", hop->reason}};
      if (redirected) {
        j["verdict"] = "redirect";
        j["then"] = "each request is decided at the gateway: " + RequestHint(*fx);
      }
    }
    std::cout << j.dump(2) << "\n";
  } else {
    std::ostringstream flow;
    PrintFlowText(*fx, flow);
    std::string text = flow.str();
    if (redirected) text.replace(0, text.find(' '), "REDIRECT");
    std::cout << text;
    if (hop && redirected) {
      std::cout << "  forwarder  the connect goes to " << hop->node << "'s forwarder, then to "
                << hop->gateway << ": " << hop->reason << "\n"
                << "  then       each request is decided at the gateway: " << RequestHint(*fx)
                << "\n";
    } else if (hop) {
      std::cout << "  forwarder  not taken: " << hop->reason << "\n";
    }
  }
  return fx->consistent ? exit_code : 3;
}

int ExplainMatrix(const Explainer& explainer, const ClusterState& state, const ExplainFlags& f,
                  int exit_code) {
  std::vector<const Pod*> pods;
  for (const auto& [_, p] : state.pods) pods.push_back(&p);
  std::vector<FlowExplanation> results;
  results.reserve(pods.size() * pods.size() * f.matrix_ports.size() * f.matrix_protocols.size());
  bool consistent = true;
  for (const auto& port : f.matrix_ports) {
    for (Protocol pr : f.matrix_protocols) {
      for (const Pod* a : pods) {
        for (const Pod* b : pods) {
          if (a == b) continue;
          results.push_back(explainer.ExplainPods(*a, *b, port, pr));
          consistent = consistent && results.back().consistent;
        }
      }
    }
  }
  if (f.output == "json") {
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
    PrintMatrixText(pods, f.matrix_ports, f.matrix_protocols, results, std::cout);
  }
  return consistent ? exit_code : 3;
}

}  // namespace

int RunExplain(const std::vector<std::string>& args) {
  ExplainFlags f;
  po::options_description desc = Describe(&f);
  po::variables_map vm;
  if (auto done = ParseFlags("explain", desc, args, &vm)) return *done;
  if (auto st = CheckFlags(vm, &f); !st.ok()) return CommandFailed("explain", st);
  LoadResult loaded;
  Snapshot snap;
  int exit_code = 0;
  if (auto st = LoadAndCompile(f, &loaded, &snap, &exit_code); !st.ok())
    return BadInput("explain", std::string(st.message()));
  if (!f.requests.request.empty() || !f.requests.requests_file.empty())
    return ExplainRequests(loaded.state, f.requests, exit_code);
  Explainer explainer(loaded.state, snap, f.lockdown);
  return f.matrix ? ExplainMatrix(explainer, loaded.state, f, exit_code)
                  : ExplainOne(explainer, loaded.state, f, exit_code);
}

}  // namespace warden::cli
