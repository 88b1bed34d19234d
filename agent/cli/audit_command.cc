// `warden audit`: who can reach what outside the cluster, directly and through the gateway.
#include <iostream>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"
#include "agent/cli/commands.h"
#include "agent/cli/egress_options.h"
#include "agent/cli/flags.h"
#include "agent/egress/audit.h"
#include "agent/policy/manifest_loader.h"

namespace warden::cli {

namespace po = boost::program_options;
using nlohmann::json;

namespace {

struct AuditFlags {
  std::string manifests, output = "text", gateway_port = "mtls";
  std::vector<std::string> allow, cluster;
  policy::LockdownOptions lockdown;
  egress::GatewayOptions gateway;
};

po::options_description Describe(AuditFlags* f) {
  po::options_description desc(
      "warden audit: every identity's egress exposure, directly (NetworkPolicy within the node "
      "pools' lockdown) and through the gateway (ServiceEntry + AuthorizationPolicy)\n\n"
      "  warden audit --manifests DIR [--output text|json|csv] [--allow-world ...]\n\n"
      "options");
  auto add = desc.add_options();
  add("help,h", "show this help");
  add("manifests", po::value(&f->manifests), "directory of manifests (YAML/JSON, recursive)");
  add("output,o", po::value(&f->output)->default_value("text"), "text, json or csv");
  AddWorldOptions(add, &f->allow, &f->cluster, &f->lockdown.gateway_namespace);
  AddGatewayOptions(add, &f->gateway, &f->gateway_port);
  return desc;
}

std::string Labels(const policy::Labels& l) {
  std::vector<std::string> kv;
  for (const auto& [k, v] : l) kv.push_back(k + "=" + v);
  return absl::StrJoin(kv, ",");
}

std::string Any(const std::vector<std::string>& v, const std::vector<std::string>& not_v) {
  std::string s = v.empty() ? "any" : absl::StrJoin(v, " ");
  if (!not_v.empty()) s += " except " + absl::StrJoin(not_v, " ");
  return s;
}

json ReportJson(const egress::AuditReport& r) {
  json ids = json::array();
  for (const auto& ia : r.identities) {
    json direct = json::array(), via = json::array();
    for (const auto& d : ia.direct)
      direct.push_back({{"node_pool", d.node_pool},
                        {"destination", d.destination},
                        {"protocol", d.protocol},
                        {"ports", d.ports},
                        {"allowed_by", d.allowed_by},
                        {"lockdown", d.lockdown},
                        {"checked_at", d.checked_at}});
    for (const auto& g : ia.gateway)
      via.push_back({{"host", g.host},
                     {"port", g.port},
                     {"protocol", g.protocol},
                     {"methods", g.methods},
                     {"not_methods", g.not_methods},
                     {"paths", g.paths},
                     {"not_paths", g.not_paths},
                     {"conditions", g.conditions},
                     {"allowed_by", g.allowed_by},
                     {"denied_by", g.denied_by},
                     {"registered_by", g.registered_by},
                     {"upstream_tls", g.upstream_tls}});
    ids.push_back({{"namespace", ia.identity.ns},
                   {"service_account", ia.identity.service_account},
                   {"labels", ia.identity.labels},
                   {"pods", ia.identity.pods},
                   {"direct", direct},
                   {"gateway", via}});
    if (!ia.no_gateway.empty()) ids.back()["no_gateway"] = ia.no_gateway;
  }
  return {{"identities", ids},
          {"unreachable_hosts", r.unreachable_hosts},
          {"policies_allowing_nothing", r.policies_allowing_nothing}};
}

std::string Csv(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

void PrintCsv(const egress::AuditReport& r, std::ostream& out) {
  out << "namespace,service_account,labels,pods,path,destination,protocol,ports,methods,paths,"
         "conditions,allowed_by,denied_by\n";
  for (const auto& ia : r.identities) {
    const std::string who =
        absl::StrJoin({Csv(ia.identity.ns), Csv(ia.identity.service_account),
                       Csv(Labels(ia.identity.labels)), Csv(absl::StrJoin(ia.identity.pods, " "))},
                      ",");
    for (const auto& d : ia.direct)
      out << who << ",direct," << Csv(d.destination) << "," << d.protocol << "," << Csv(d.ports)
          << ",,,," << Csv(d.allowed_by + "; " + d.lockdown) << ",\n";
    for (const auto& g : ia.gateway)
      out << who << ",gateway," << Csv(g.host) << "," << Csv(g.protocol) << "," << g.port << ","
          << Csv(Any(g.methods, g.not_methods)) << "," << Csv(Any(g.paths, g.not_paths)) << ","
          << Csv(absl::StrJoin(g.conditions, "; ")) << "," << Csv(g.allowed_by) << ","
          << Csv(absl::StrJoin(g.denied_by, "; ")) << "\n";
  }
}

void PrintText(const egress::AuditReport& r, std::ostream& out) {
  for (const auto& ia : r.identities) {
    out << ia.identity.ns << " (service account " << ia.identity.service_account << "; "
        << (ia.identity.labels.empty() ? "no labels" : Labels(ia.identity.labels))
        << "): " << absl::StrJoin(ia.identity.pods, " ") << "\n";
    if (ia.direct.empty() && ia.gateway.empty()) out << "  reaches nothing outside\n";
    if (!ia.no_gateway.empty() && ia.no_gateway != "it is the gateway")
      out << "  (no gateway: " << ia.no_gateway << ")\n";
    for (const auto& d : ia.direct)
      out << "  direct   " << d.destination << " " << d.protocol << "/" << d.ports << "  ("
          << d.allowed_by << "; " << d.lockdown << ")\n";
    for (const auto& g : ia.gateway) {
      out << "  gateway  " << g.host << ":" << g.port << " " << g.protocol << " methods "
          << Any(g.methods, g.not_methods) << " paths " << Any(g.paths, g.not_paths);
      if (!g.conditions.empty()) out << " when " << absl::StrJoin(g.conditions, "; ");
      out << "  (" << g.allowed_by << "; ServiceEntry " << g.registered_by << "; upstream "
          << g.upstream_tls << ")";
      if (!g.denied_by.empty()) out << " except as denied by " << absl::StrJoin(g.denied_by, ", ");
      out << "\n";
    }
  }
  out << "registered hosts nobody can reach:" << (r.unreachable_hosts.empty() ? " none" : "")
      << "\n";
  for (const auto& h : r.unreachable_hosts) out << "  " << h << "\n";
  out << "AuthorizationPolicies that allow nothing:"
      << (r.policies_allowing_nothing.empty() ? " none" : "") << "\n";
  for (const auto& p : r.policies_allowing_nothing) out << "  " << p << "\n";
}

}  // namespace

int RunAudit(const std::vector<std::string>& args) {
  AuditFlags f;
  po::options_description desc = Describe(&f);
  po::variables_map vm;
  if (auto done = ParseFlags("audit", desc, args, &vm)) return *done;
  if (f.manifests.empty()) return BadInput("audit", "--manifests DIR is required");
  if (f.output != "text" && f.output != "json" && f.output != "csv")
    return BadInput("audit", "--output must be text, json or csv, not \"" + f.output + "\"");
  std::vector<policy::Cidr> cluster_cidrs;
  if (auto st = ParseWorldFlags(f.allow, f.cluster, &f.lockdown.allowances, &cluster_cidrs);
      !st.ok())
    return CommandFailed("audit", st);
  f.gateway.gateway_namespace = f.lockdown.gateway_namespace;
  policy::LoadResult loaded = policy::LoadManifestDir(f.manifests);
  for (const auto& e : loaded.errors) std::cerr << "error: " << e.ToString() << "\n";
  egress::GatewayConfig gateway(loaded.state,
                                egress::WithGatewayPodLabels(loaded.state, f.gateway));
  egress::AuditReport report = egress::Audit(loaded.state, gateway, f.lockdown, f.gateway_port);
  if (f.output == "json")
    std::cout << ReportJson(report).dump(2) << "\n";
  else if (f.output == "csv")
    PrintCsv(report, std::cout);
  else
    PrintText(report, std::cout);
  return loaded.errors.empty() ? 0 : 2;
}

}  // namespace warden::cli
