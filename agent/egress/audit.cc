#include "agent/egress/audit.h"

#include <map>
#include <set>
#include <tuple>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/egress/gateway_hop.h"
#include "agent/egress/string_match.h"
#include "agent/policy/model.h"

namespace warden::egress {
namespace {

using policy::AuthorizationPolicy;
using policy::AuthzAction;
using policy::AuthzRule;
using policy::IstioProtocol;
using policy::Pod;
using policy::Protocol;

bool OnGatewayPool(const policy::ClusterState& state, const Pod& pod) {
  auto it = state.nodes.find(pod.node_name);
  return it != state.nodes.end() && policy::IsGatewayPool(it->second);
}

// An address inside `cidr` that stands for it when NetworkPolicy is evaluated: its first address,
// or a documentation address for a default route (its first address, 0.0.0.0, is no
// destination).
policy::IpAddress Representative(const policy::Cidr& c) {
  if (c.prefix_len == 0)
    return *policy::ParseIp(c.addr.family == policy::Family::kV4 ? "203.0.113.1" : "2001:db8::1");
  return c.addr;
}

std::string Ports(uint16_t lo, uint16_t hi) {
  if (lo <= 1 && hi == 65535) return "any";
  return lo == hi ? absl::StrCat(lo) : absl::StrCat(lo, "-", hi);
}

// The world destinations `pod` may reach directly: those past its pool's lockdown (the
// allowances on a default-pool node; TCP 80 and 443 for a gateway pod on a gateway-pool node),
// each checked against NetworkPolicy.
std::vector<DirectExposure> Direct(const policy::ClusterState& state, const policy::Model& model,
                                   const Pod& pod, const policy::LockdownOptions& lockdown) {
  struct Candidate {
    policy::Cidr cidr;
    std::optional<Protocol> protocol;
    uint16_t lo, hi;
    std::string lockdown;
  };
  std::vector<Candidate> candidates;
  const bool gateway_pool = OnGatewayPool(state, pod);
  if (gateway_pool) {
    if (pod.ns == lockdown.gateway_namespace) {
      for (const char* any : {"0.0.0.0/0", "::/0"}) {
        for (uint16_t port : {80, 443})
          candidates.push_back({*policy::ParseCidr(any), Protocol::kTCP, port, port,
                                "gateway pod on a gateway-pool node"});
      }
    }
  } else {
    for (const auto& a : lockdown.allowances)
      candidates.push_back(
          {a.cidr, a.protocol, a.port_lo, a.port_hi, absl::StrCat("allowance ", a.ToString())});
  }
  std::vector<DirectExposure> out;
  for (const Candidate& c : candidates) {
    const policy::IpAddress at = Representative(c.cidr);
    std::vector<Protocol> protocols;
    if (c.protocol)
      protocols = {*c.protocol};
    else
      protocols = {Protocol::kTCP, Protocol::kUDP, Protocol::kSCTP};
    for (Protocol pr : protocols) {
      policy::Endpoint remote;
      remote.ip = at;
      policy::SideDecision d =
          model.Evaluate(policy::Direction::kEgress, pod, remote, policy::L4{pr, c.lo});
      if (!d.allowed) continue;
      DirectExposure e;
      e.node_pool = gateway_pool ? "gateway" : "default";
      e.destination = c.cidr.ToString();
      e.protocol = policy::ProtocolName(pr);
      e.ports = Ports(c.lo, c.hi);
      e.allowed_by = d.isolated ? absl::StrCat("NetworkPolicy ", d.allowing_policy, " egress rule ",
                                               d.rule_index)
                                : "no NetworkPolicy isolates its egress";
      e.lockdown = c.lockdown;
      e.checked_at = at.ToString();
      out.push_back(std::move(e));
    }
  }
  return out;
}

bool HttpPort(IstioProtocol p) {
  return p == IstioProtocol::kHTTP || p == IstioProtocol::kHTTP2 || p == IstioProtocol::kGRPC ||
         p == IstioProtocol::kAuto;
}

// Whether a host value of a rule can name some host `registered` stands for (an exact host or a
// wildcard pattern); the narrower of the two when it does.
std::optional<std::string> HostOverlap(const std::string& value, const std::string& registered,
                                       uint32_t port) {
  const std::string v = absl::AsciiStrToLower(value);
  const std::string with_port = absl::StrCat(registered, ":", port);
  if (!absl::StartsWith(registered, "*")) {
    if (StringMatches(v, registered, {.ignore_case = true}) ||
        StringMatches(v, with_port, {.ignore_case = true}))
      return registered;
    return std::nullopt;
  }
  // A wildcard registration: the rule's exact host under it, or a rule pattern that overlaps.
  if (v == "*") return registered;
  if (!absl::StrContains(v, "*")) {
    if (HostPatternMatches(registered, v)) return v;
    return std::nullopt;
  }
  if (absl::StartsWith(v, "*")) {
    const std::string vs = v.substr(1), rs = registered.substr(1);
    if (absl::EndsWith(vs, rs)) return v;           // narrower
    if (absl::EndsWith(rs, vs)) return registered;  // broader: all of the registration
    return std::nullopt;
  }
  return v;  // "prefix*": some name under the registration may start with it
}

// A condition of a rule's `when` that is about the request, not its source.
bool RequestCondition(const std::string& key) {
  return !(key == "source.ip" || key == "remote.ip" || key == "source.namespace" ||
           key == "source.principal" || key == "source.serviceAccount");
}

std::string ConditionText(const policy::AuthzCondition& c) {
  std::string s = c.key;
  if (!c.values.empty()) absl::StrAppend(&s, " in [", absl::StrJoin(c.values, ", "), "]");
  if (!c.not_values.empty())
    absl::StrAppend(&s, c.values.empty() ? "" : " and", " not in [",
                    absl::StrJoin(c.not_values, ", "), "]");
  return s;
}

// Whether a rule's source-side `when` conditions admit the identity (request-side ones are
// reported as conditions).
bool SourceConditionsHold(const AuthorizationPolicy& p, const AuthzRule& rule, const Request& req,
                          const AuthzOptions& o) {
  AuthzRule only;
  for (const auto& w : rule.when) {
    if (!RequestCondition(w.key)) only.when.push_back(w);
  }
  return RuleMatches(p, only, req, o);
}

struct RuleKey {
  const AuthorizationPolicy* policy;
  size_t rule;
  auto operator<=>(const RuleKey&) const = default;
};

// The gateway exposures of one identity: per registered host and port visible to its
// namespace, what each ALLOW rule admitting the identity allows, with the DENY rules that apply.
std::vector<GatewayExposure> ThroughGateway(const policy::ClusterState& state,
                                            const GatewayConfig& gw, const Request& who,
                                            std::set<RuleKey>* used,
                                            std::set<std::string>* reached) {
  std::vector<GatewayExposure> out;
  const AuthzOptions& o = gw.options().authz;
  const AuthzScope scope = ScopeOf(gw.policies());
  for (const auto& entry : state.service_entries.get()) {
    const policy::ServiceEntry& se = entry.second;  // captured below: not a structured binding
    if (!Registry::Visible(se, who.source->ns)) continue;
    for (const auto& host : se.hosts) {
      for (const auto& port : se.ports) {
        if (port.protocol == IstioProtocol::kOther) continue;
        // Registered for this namespace by this entry (and not by a more specific one)?
        const std::string probe =
            absl::StartsWith(host, "*") ? absl::StrCat("audit", host.substr(1)) : host;
        auto reg = gw.registry().Lookup(
            who.source->ns, probe, port.number,
            HttpPort(port.protocol) ? Registry::Want::kHttp : Registry::Want::kTls);
        if (!reg || reg->entry != &se || *reg->host != host) continue;
        const bool http = HttpPort(port.protocol);
        const std::string tls =
            policy::TlsModeName(gw.registry().UpstreamFor(who.source->ns, *reg).tls);
        auto base = [&](const std::string& h) {
          GatewayExposure e;
          e.host = h;
          e.port = port.number;
          e.protocol = port.protocol_name.empty() ? "(sniffed)" : port.protocol_name;
          e.registered_by = se.Key();
          e.upstream_tls = tls;
          return e;
        };
        std::vector<GatewayExposure> found;
        if (!scope.allow) {
          found.push_back(base(host));
          found.back().allowed_by = "no ALLOW policy applies to the gateway";
        }
        std::vector<std::string> denied;
        for (const auto* p : gw.policies()) {
          if (p->dry_run || p->action == AuthzAction::kAudit) continue;
          for (size_t i = 0; i < p->rules.size(); ++i) {
            const AuthzRule& rule = p->rules[i];
            if (!FromMatches(*p, rule, who, o) || !SourceConditionsHold(*p, rule, who, o)) continue;
            const std::string name = absl::StrCat(p->ns, "/", p->name, " rule ", i);
            auto add = [&](const policy::AuthzOperation* op, const std::string& h) {
              if (p->action == AuthzAction::kDeny) {
                denied.push_back(name);
                used->insert({p, i});
                return;
              }
              GatewayExposure e = base(h);
              e.allowed_by = name;
              if (op) {
                e.methods = op->methods;
                e.not_methods = op->not_methods;
                e.paths = op->paths;
                e.not_paths = op->not_paths;
              }
              for (const auto& w : rule.when) {
                if (RequestCondition(w.key)) e.conditions.push_back(ConditionText(w));
              }
              found.push_back(std::move(e));
              used->insert({p, i});
            };
            if (rule.to.empty()) {
              add(nullptr, host);
              continue;
            }
            for (const auto& op : rule.to) {
              const bool http_fields = !op.hosts.empty() || !op.not_hosts.empty() ||
                                       !op.methods.empty() || !op.not_methods.empty() ||
                                       !op.paths.empty() || !op.not_paths.empty();
              // On a port that is not HTTP an ALLOW rule with HTTP fields is skipped (Istio).
              if (!http && http_fields && p->action == AuthzAction::kAllow) continue;
              bool port_ok =
                  op.ports.empty() || std::find(op.ports.begin(), op.ports.end(),
                                                std::to_string(port.number)) != op.ports.end();
              if (std::find(op.not_ports.begin(), op.not_ports.end(),
                            std::to_string(port.number)) != op.not_ports.end())
                port_ok = false;
              if (!port_ok) continue;
              if (op.hosts.empty() || !http) {
                add(&op, host);
                continue;
              }
              for (const auto& v : op.hosts) {
                if (auto h = HostOverlap(v, host, port.number)) add(&op, *h);
              }
            }
          }
        }
        for (auto& e : found) {
          e.denied_by = denied;
          reached->insert(absl::StrCat(host, ":", port.number));
          out.push_back(std::move(e));
        }
      }
    }
  }
  return out;
}

}  // namespace

AuditReport Audit(const policy::ClusterState& state, const GatewayConfig& gateway,
                  const policy::LockdownOptions& lockdown, const std::string& gateway_port) {
  AuditReport report;
  policy::Model model(state);
  // Identities: pods of one namespace, service account and labels together.
  std::map<std::tuple<std::string, std::string, policy::Labels>, std::vector<const Pod*>> groups;
  for (const auto& [key, pod] : state.pods.get()) {
    if (pod.host_network) continue;  // the node's own traffic: the lockdown alone
    groups[{pod.ns, pod.service_account, pod.labels}].push_back(&pod);
  }
  std::set<RuleKey> used;
  std::set<std::string> reached;
  for (const auto& [k, pods] : groups) {
    IdentityAudit ia;
    ia.identity = {std::get<0>(k), std::get<1>(k), std::get<2>(k), {}};
    std::set<std::tuple<std::string, std::string, std::string, std::string>> seen;
    for (const Pod* p : pods) {
      ia.identity.pods.push_back(p->Key());
      for (auto& e : Direct(state, model, *p, lockdown)) {
        if (seen.insert({e.node_pool, e.destination, e.protocol, e.ports}).second)
          ia.direct.push_back(std::move(e));
      }
    }
    Request who;
    who.source = SourceIdentity{std::get<0>(k), std::get<1>(k), pods.front()->Key()};
    if (!pods.front()->ips.empty()) who.source_ip = pods.front()->ips.front();
    GatewayHop hop = CheckGatewayHop(state, model, gateway.options().gateway_namespace,
                                     *pods.front(), gateway_port);
    if (!hop.allowed) ia.no_gateway = hop.reason;
    if (ia.no_gateway.empty()) ia.gateway = ThroughGateway(state, gateway, who, &used, &reached);
    report.identities.push_back(std::move(ia));
  }
  for (const auto& [key, se] : state.service_entries.get()) {
    for (const auto& host : se.hosts) {
      for (const auto& port : se.ports) {
        if (port.protocol == IstioProtocol::kOther) continue;
        const std::string hp = absl::StrCat(host, ":", port.number);
        if (!reached.count(hp))
          report.unreachable_hosts.push_back(absl::StrCat(hp, " (ServiceEntry ", se.Key(), ")"));
      }
    }
  }
  for (const auto& [key, p] : state.authorization_policies.get()) {
    if (p.action != AuthzAction::kAllow) continue;
    std::string why;
    if (!gateway.Applies(p)) {
      why = "applies to no gateway (its namespace, selector or targetRefs)";
    } else if (p.rules.empty()) {
      why = "an ALLOW policy without rules allows nothing";
    } else if (p.dry_run) {
      why = "dry-run: enforces nothing";
    } else {
      bool any = false;
      for (size_t i = 0; i < p.rules.size(); ++i) any |= used.count({&p, i}) > 0;
      if (!any) why = "no rule admits any identity of the cluster to a registered host";
    }
    if (!why.empty()) report.policies_allowing_nothing.push_back(absl::StrCat(key, ": ", why));
  }
  return report;
}

}  // namespace warden::egress
