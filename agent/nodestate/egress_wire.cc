#include "agent/nodestate/egress_wire.h"

#include "absl/strings/str_cat.h"
#include "agent/common/status_macros.h"
#include "agent/policy/istio_fields.h"

namespace warden::nodestate {
namespace {

using google::protobuf::RepeatedPtrField;
using policy::Values;

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

Values ListOf(const RepeatedPtrField<std::string>& w) { return Values(w.begin(), w.end()); }

template <typename L>
void SetList(const Values& v, L* w) {
  w->Assign(v.begin(), v.end());
}

// Every value non-empty and, when `check` is given, valid by it.
absl::Status CheckValues(const Values& v, const std::string& field,
                         std::string (*check)(const std::string&)) {
  for (size_t i = 0; i < v.size(); ++i) {
    const std::string f = absl::StrCat(field, "[", i, "]");
    if (v[i].empty()) return Bad(f, "empty value");
    if (check) {
      if (std::string why = check(v[i]); !why.empty()) return Bad(f, why);
    }
  }
  return absl::OkStatus();
}

absl::Status CheckHost(const std::string& host, const std::string& field, bool star_ok) {
  if (host == "*") return star_ok ? absl::OkStatus() : Bad(field, "a bare * is not a host");
  if (std::string why = policy::CheckWildcardDomain(host); !why.empty()) return Bad(field, why);
  return absl::OkStatus();
}

absl::Status CheckPort(uint32_t port, const std::string& field, bool zero_ok) {
  if ((port == 0 && !zero_ok) || port > 65535)
    return Bad(field, absl::StrCat(port, " is not a port number"));
  return absl::OkStatus();
}

// ---- DestinationRule's TLS ------------------------------------------------------------------

void TlsToWire(const policy::ClientTls& t, v1::IstioClientTls* w) {
  w->set_mode(static_cast<v1::IstioClientTls::Mode>(t.mode));
  w->set_sni(t.sni);
  SetList(t.subject_alt_names, w->mutable_subject_alt_names());
  w->set_ca_certificates(t.ca_certificates);
  w->set_ca_crl(t.ca_crl);
  w->set_client_certificate(t.client_certificate);
  w->set_private_key(t.private_key);
  w->set_credential_name(t.credential_name);
  if (t.insecure_skip_verify) w->set_insecure_skip_verify(*t.insecure_skip_verify);
}

absl::StatusOr<policy::ClientTls> TlsFromWire(const v1::IstioClientTls& w,
                                              const std::string& field) {
  if (!v1::IstioClientTls::Mode_IsValid(w.mode()))
    return Bad(field + ".mode", absl::StrCat(w.mode(), " is not a TLS mode"));
  policy::ClientTls t;
  t.mode = static_cast<policy::TlsMode>(w.mode());
  t.sni = w.sni();
  t.subject_alt_names = ListOf(w.subject_alt_names());
  t.ca_certificates = w.ca_certificates();
  t.ca_crl = w.ca_crl();
  t.client_certificate = w.client_certificate();
  t.private_key = w.private_key();
  t.credential_name = w.credential_name();
  if (w.has_insecure_skip_verify()) t.insecure_skip_verify = w.insecure_skip_verify();
  if (t.mode == policy::TlsMode::kMutual && (t.client_certificate.empty() || t.private_key.empty()))
    return Bad(field, "MUTUAL needs a client certificate and a private key");
  return t;
}

// ---- AuthorizationPolicy's rules ------------------------------------------------------------

absl::StatusOr<policy::AuthzSource> SourceFromWire(const v1::IstioAuthzSource& w,
                                                   const std::string& f) {
  policy::AuthzSource s;
  s.principals = ListOf(w.principals());
  s.not_principals = ListOf(w.not_principals());
  s.namespaces = ListOf(w.namespaces());
  s.not_namespaces = ListOf(w.not_namespaces());
  s.ip_blocks = ListOf(w.ip_blocks());
  s.not_ip_blocks = ListOf(w.not_ip_blocks());
  s.remote_ip_blocks = ListOf(w.remote_ip_blocks());
  s.not_remote_ip_blocks = ListOf(w.not_remote_ip_blocks());
  s.service_accounts = ListOf(w.service_accounts());
  s.not_service_accounts = ListOf(w.not_service_accounts());
  WD_RETURN_IF_ERROR(CheckValues(s.principals, f + ".principals", nullptr));
  WD_RETURN_IF_ERROR(CheckValues(s.not_principals, f + ".not_principals", nullptr));
  WD_RETURN_IF_ERROR(CheckValues(s.namespaces, f + ".namespaces", nullptr));
  WD_RETURN_IF_ERROR(CheckValues(s.not_namespaces, f + ".not_namespaces", nullptr));
  WD_RETURN_IF_ERROR(CheckValues(s.ip_blocks, f + ".ip_blocks", policy::CheckIpOrCidr));
  WD_RETURN_IF_ERROR(CheckValues(s.not_ip_blocks, f + ".not_ip_blocks", policy::CheckIpOrCidr));
  WD_RETURN_IF_ERROR(
      CheckValues(s.remote_ip_blocks, f + ".remote_ip_blocks", policy::CheckIpOrCidr));
  WD_RETURN_IF_ERROR(
      CheckValues(s.not_remote_ip_blocks, f + ".not_remote_ip_blocks", policy::CheckIpOrCidr));
  WD_RETURN_IF_ERROR(CheckValues(s.service_accounts, f + ".service_accounts", nullptr));
  WD_RETURN_IF_ERROR(CheckValues(s.not_service_accounts, f + ".not_service_accounts", nullptr));
  if (s == policy::AuthzSource{}) return Bad(f, "an empty source");
  return s;
}

absl::StatusOr<policy::AuthzOperation> OperationFromWire(const v1::IstioAuthzOperation& w,
                                                         const std::string& f) {
  policy::AuthzOperation o;
  o.hosts = ListOf(w.hosts());
  o.not_hosts = ListOf(w.not_hosts());
  o.ports = ListOf(w.ports());
  o.not_ports = ListOf(w.not_ports());
  o.methods = ListOf(w.methods());
  o.not_methods = ListOf(w.not_methods());
  o.paths = ListOf(w.paths());
  o.not_paths = ListOf(w.not_paths());
  WD_RETURN_IF_ERROR(CheckValues(o.hosts, f + ".hosts", nullptr));
  WD_RETURN_IF_ERROR(CheckValues(o.not_hosts, f + ".not_hosts", nullptr));
  WD_RETURN_IF_ERROR(CheckValues(o.ports, f + ".ports", policy::CheckPortString));
  WD_RETURN_IF_ERROR(CheckValues(o.not_ports, f + ".not_ports", policy::CheckPortString));
  WD_RETURN_IF_ERROR(CheckValues(o.methods, f + ".methods", nullptr));
  WD_RETURN_IF_ERROR(CheckValues(o.not_methods, f + ".not_methods", nullptr));
  WD_RETURN_IF_ERROR(CheckValues(o.paths, f + ".paths", nullptr));
  WD_RETURN_IF_ERROR(CheckValues(o.not_paths, f + ".not_paths", nullptr));
  if (o == policy::AuthzOperation{}) return Bad(f, "an empty operation");
  return o;
}

absl::StatusOr<policy::AuthzRule> RuleFromWire(const v1::IstioAuthzRule& w, const std::string& f) {
  policy::AuthzRule r;
  for (int i = 0; i < w.from_size(); ++i) {
    WD_ASSIGN_OR_RETURN(policy::AuthzSource s,
                        SourceFromWire(w.from(i), absl::StrCat(f, ".from[", i, "]")));
    r.from.push_back(std::move(s));
  }
  for (int i = 0; i < w.to_size(); ++i) {
    WD_ASSIGN_OR_RETURN(policy::AuthzOperation o,
                        OperationFromWire(w.to(i), absl::StrCat(f, ".to[", i, "]")));
    r.to.push_back(std::move(o));
  }
  for (int i = 0; i < w.when_size(); ++i) {
    const std::string cf = absl::StrCat(f, ".when[", i, "]");
    policy::AuthzCondition c{w.when(i).key(), ListOf(w.when(i).values()),
                             ListOf(w.when(i).not_values())};
    if (!policy::SupportedConditionKey(c.key))
      return Bad(cf + ".key",
                 absl::StrCat("\"", c.key, "\" is not a condition the gateway decides"));
    if (c.values.empty() && c.not_values.empty()) return Bad(cf, "neither values nor not_values");
    WD_RETURN_IF_ERROR(CheckValues(c.values, cf + ".values", nullptr));
    WD_RETURN_IF_ERROR(CheckValues(c.not_values, cf + ".not_values", nullptr));
    r.when.push_back(std::move(c));
  }
  return r;
}

void RuleToWire(const policy::AuthzRule& r, v1::IstioAuthzRule* w) {
  for (const auto& s : r.from) {
    auto* x = w->add_from();
    SetList(s.principals, x->mutable_principals());
    SetList(s.not_principals, x->mutable_not_principals());
    SetList(s.namespaces, x->mutable_namespaces());
    SetList(s.not_namespaces, x->mutable_not_namespaces());
    SetList(s.ip_blocks, x->mutable_ip_blocks());
    SetList(s.not_ip_blocks, x->mutable_not_ip_blocks());
    SetList(s.remote_ip_blocks, x->mutable_remote_ip_blocks());
    SetList(s.not_remote_ip_blocks, x->mutable_not_remote_ip_blocks());
    SetList(s.service_accounts, x->mutable_service_accounts());
    SetList(s.not_service_accounts, x->mutable_not_service_accounts());
  }
  for (const auto& o : r.to) {
    auto* x = w->add_to();
    SetList(o.hosts, x->mutable_hosts());
    SetList(o.not_hosts, x->mutable_not_hosts());
    SetList(o.ports, x->mutable_ports());
    SetList(o.not_ports, x->mutable_not_ports());
    SetList(o.methods, x->mutable_methods());
    SetList(o.not_methods, x->mutable_not_methods());
    SetList(o.paths, x->mutable_paths());
    SetList(o.not_paths, x->mutable_not_paths());
  }
  for (const auto& c : r.when) {
    auto* x = w->add_when();
    x->set_key(c.key);
    SetList(c.values, x->mutable_values());
    SetList(c.not_values, x->mutable_not_values());
  }
}

absl::Status CheckNamed(const std::string& ns, const std::string& name, const std::string& f) {
  if (ns.empty()) return Bad(f + ".namespace", "empty");
  if (name.empty()) return Bad(f + ".name", "empty");
  return absl::OkStatus();
}

}  // namespace

// ---- ServiceEntry ---------------------------------------------------------------------------

void ToWire(const policy::ServiceEntry& se, v1::IstioServiceEntry* w) {
  w->set_namespace_(se.ns);
  w->set_name(se.name);
  SetList(se.hosts, w->mutable_hosts());
  SetList(se.addresses, w->mutable_addresses());
  for (const auto& p : se.ports) {
    auto* x = w->add_ports();
    x->set_number(p.number);
    x->set_protocol(p.protocol_name);
    x->set_name(p.name);
    x->set_target_port(p.target_port);
  }
  w->set_mesh_internal(se.mesh_internal);
  w->set_resolution(static_cast<v1::IstioServiceEntry::Resolution>(se.resolution));
  for (const auto& e : se.endpoints) {
    auto* x = w->add_endpoints();
    x->set_address(e.address);
    for (const auto& [n, p] : e.ports) (*x->mutable_ports())[n] = p;
    for (const auto& [k, v] : e.labels) (*x->mutable_labels())[k] = v;
  }
  SetList(se.export_to, w->mutable_export_to());
}

absl::StatusOr<policy::ServiceEntry> FromWire(const v1::IstioServiceEntry& w,
                                              const std::string& f) {
  WD_RETURN_IF_ERROR(CheckNamed(w.namespace_(), w.name(), f));
  policy::ServiceEntry se;
  se.ns = w.namespace_();
  se.name = w.name();
  se.hosts = ListOf(w.hosts());
  if (se.hosts.empty()) return Bad(f + ".hosts", "no host");
  for (size_t i = 0; i < se.hosts.size(); ++i)
    WD_RETURN_IF_ERROR(CheckHost(se.hosts[i], absl::StrCat(f, ".hosts[", i, "]"), false));
  se.addresses = ListOf(w.addresses());
  WD_RETURN_IF_ERROR(CheckValues(se.addresses, f + ".addresses", policy::CheckIpOrCidr));
  for (int i = 0; i < w.ports_size(); ++i) {
    const auto& x = w.ports(i);
    const std::string pf = absl::StrCat(f, ".ports[", i, "]");
    WD_RETURN_IF_ERROR(CheckPort(x.number(), pf + ".number", false));
    WD_RETURN_IF_ERROR(CheckPort(x.target_port(), pf + ".target_port", true));
    auto proto = policy::ParseIstioProtocol(x.protocol());
    if (!proto) return Bad(pf + ".protocol", absl::StrCat("unsupported protocol ", x.protocol()));
    se.ports.push_back({x.number(), *proto, x.protocol(), x.name(), x.target_port()});
  }
  se.mesh_internal = w.mesh_internal();
  if (!v1::IstioServiceEntry::Resolution_IsValid(w.resolution()))
    return Bad(f + ".resolution", absl::StrCat(w.resolution(), " is not a resolution"));
  se.resolution = static_cast<policy::Resolution>(w.resolution());
  for (int i = 0; i < w.endpoints_size(); ++i) {
    const auto& x = w.endpoints(i);
    policy::ServiceEndpoint e;
    e.address = x.address();
    for (const auto& [n, p] : x.ports()) {
      WD_RETURN_IF_ERROR(CheckPort(p, absl::StrCat(f, ".endpoints[", i, "].ports.", n), false));
      e.ports.emplace_back(n, p);
    }
    std::sort(e.ports.begin(), e.ports.end());
    e.labels = policy::Labels(x.labels().begin(), x.labels().end());
    se.endpoints.push_back(std::move(e));
  }
  se.export_to = ListOf(w.export_to());
  return se;
}

// ---- DestinationRule ------------------------------------------------------------------------

void ToWire(const policy::DestinationRule& dr, v1::IstioDestinationRule* w) {
  w->set_namespace_(dr.ns);
  w->set_name(dr.name);
  w->set_host(dr.host);
  w->set_traffic_policy(dr.traffic_policy);
  if (dr.tls) TlsToWire(*dr.tls, w->mutable_tls());
  for (const auto& pl : dr.port_level) {
    auto* x = w->add_port_level();
    x->set_port(pl.port);
    if (pl.tls) TlsToWire(*pl.tls, x->mutable_tls());
  }
  if (dr.workload_selector) {
    w->set_has_workload_selector(true);
    for (const auto& [k, v] : dr.workload_selector->match_labels)
      (*w->mutable_workload_selector())[k] = v;
  }
  SetList(dr.export_to, w->mutable_export_to());
}

absl::StatusOr<policy::DestinationRule> FromWire(const v1::IstioDestinationRule& w,
                                                 const std::string& f) {
  WD_RETURN_IF_ERROR(CheckNamed(w.namespace_(), w.name(), f));
  policy::DestinationRule dr;
  dr.ns = w.namespace_();
  dr.name = w.name();
  dr.host = w.host();
  WD_RETURN_IF_ERROR(CheckHost(dr.host, f + ".host", true));
  dr.traffic_policy = w.traffic_policy();
  if (w.has_tls()) {
    WD_ASSIGN_OR_RETURN(policy::ClientTls t, TlsFromWire(w.tls(), f + ".tls"));
    dr.tls = std::move(t);
  }
  for (int i = 0; i < w.port_level_size(); ++i) {
    const std::string pf = absl::StrCat(f, ".port_level[", i, "]");
    policy::PortTls pl;
    pl.port = w.port_level(i).port();
    WD_RETURN_IF_ERROR(CheckPort(pl.port, pf + ".port", false));
    if (w.port_level(i).has_tls()) {
      WD_ASSIGN_OR_RETURN(policy::ClientTls t, TlsFromWire(w.port_level(i).tls(), pf + ".tls"));
      pl.tls = std::move(t);
    }
    dr.port_level.push_back(std::move(pl));
  }
  if (w.has_workload_selector()) {
    policy::LabelSelector sel;
    sel.match_labels = {w.workload_selector().begin(), w.workload_selector().end()};
    dr.workload_selector = std::move(sel);
  }
  dr.export_to = ListOf(w.export_to());
  return dr;
}

// ---- AuthorizationPolicy --------------------------------------------------------------------

void ToWire(const policy::AuthorizationPolicy& ap, v1::IstioAuthorizationPolicy* w) {
  w->set_namespace_(ap.ns);
  w->set_name(ap.name);
  if (ap.selector) {
    w->set_has_selector(true);
    for (const auto& [k, v] : ap.selector->match_labels) (*w->mutable_selector())[k] = v;
  }
  for (const auto& r : ap.target_refs) {
    auto* x = w->add_target_refs();
    x->set_group(r.group);
    x->set_kind(r.kind);
    x->set_name(r.name);
  }
  w->set_action(static_cast<v1::IstioAuthorizationPolicy::Action>(ap.action));
  for (const auto& r : ap.rules) RuleToWire(r, w->add_rules());
  w->set_dry_run(ap.dry_run);
}

absl::StatusOr<policy::AuthorizationPolicy> FromWire(const v1::IstioAuthorizationPolicy& w,
                                                     const std::string& f) {
  WD_RETURN_IF_ERROR(CheckNamed(w.namespace_(), w.name(), f));
  policy::AuthorizationPolicy ap;
  ap.ns = w.namespace_();
  ap.name = w.name();
  if (w.has_selector()) {
    policy::LabelSelector sel;
    sel.match_labels = {w.selector().begin(), w.selector().end()};
    ap.selector = std::move(sel);
  }
  for (int i = 0; i < w.target_refs_size(); ++i) {
    const auto& x = w.target_refs(i);
    if (x.name().empty()) return Bad(absl::StrCat(f, ".target_refs[", i, "].name"), "empty");
    ap.target_refs.push_back({x.group(), x.kind(), x.name(), ""});
  }
  // CUSTOM is refused when read: the wire has no value for it.
  if (!v1::IstioAuthorizationPolicy::Action_IsValid(w.action()))
    return Bad(f + ".action", absl::StrCat(w.action(), " is not an action the gateway takes"));
  ap.action = static_cast<policy::AuthzAction>(w.action());
  for (int i = 0; i < w.rules_size(); ++i) {
    WD_ASSIGN_OR_RETURN(policy::AuthzRule r,
                        RuleFromWire(w.rules(i), absl::StrCat(f, ".rules[", i, "]")));
    ap.rules.push_back(std::move(r));
  }
  ap.dry_run = w.dry_run();
  return ap;
}

}  // namespace warden::nodestate
