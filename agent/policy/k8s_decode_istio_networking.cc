#include "agent/policy/k8s_decode_istio_networking.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/istio_fields.h"
#include "agent/policy/k8s_decode_fields.h"
#include "agent/policy/k8s_names.h"

namespace warden::policy {
namespace {

// ---- ServiceEntry ---------------------------------------------------------------------------

bool HttpFamily(IstioProtocol p) {
  return p == IstioProtocol::kHTTP || p == IstioProtocol::kHTTP2 || p == IstioProtocol::kGRPC;
}

std::optional<ServicePort> ReadServicePort(ManifestReader* r, const YAML::Node& n,
                                           const std::string& f) {
  if (!r->IsMapOrReport(n, f)) return std::nullopt;
  r->CheckKnownKeys(n, f, {"number", "protocol", "name", "targetPort"});
  ServicePort p;
  const int before = r->error_count();
  auto number = ReadUint(r, n, "number", f + ".number", UINT32_MAX);
  if (!number || *number < 1 || *number > 65535) {
    if (number || !Present(n["number"]))
      r->Fail(n, f + ".number",
              absl::StrCat("port number ", number.value_or(0), " must be in the range 1..65535"));
  } else {
    p.number = *number;
  }
  r->ReadString(n, "name", f + ".name", &p.name);
  if (std::string why = CheckDns1123Label(p.name); p.name.empty() || !why.empty())
    r->Fail(n["name"] ? n["name"] : n, f + ".name", absl::StrCat("invalid port name: ", p.name));
  r->ReadString(n, "protocol", f + ".protocol", &p.protocol_name);
  p.protocol_name = absl::AsciiStrToUpper(p.protocol_name);
  if (auto proto = ParseIstioProtocol(p.protocol_name)) {
    p.protocol = *proto;
  } else {
    r->Fail(n["protocol"], f + ".protocol",
            absl::StrCat("unsupported protocol: ", p.protocol_name));
  }
  if (auto target = ReadUint(r, n, "targetPort", f + ".targetPort", UINT32_MAX)) {
    if (*target > 65535)
      r->Fail(n["targetPort"], f + ".targetPort",
              absl::StrCat("port number ", *target, " must be in the range 1..65535"));
    else
      p.target_port = *target;
  }
  if (r->error_count() != before) return std::nullopt;
  return p;
}

std::vector<ServicePort> ReadServicePorts(ManifestReader* r, const YAML::Node& spec,
                                          const std::string& sf) {
  std::vector<ServicePort> ports;
  const YAML::Node list = spec["ports"];
  const std::string lf = sf + ".ports";
  if (!r->OptionalList(list, lf)) return ports;
  std::set<std::string> names;
  std::set<uint32_t> numbers;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string f = IndexField(lf, i);
    auto p = ReadServicePort(r, list[i], f);
    if (!p) continue;
    if (!names.insert(p->name).second)
      r->Fail(list[i], f + ".name",
              absl::StrCat("service entry port name \"", p->name, "\" already defined"));
    if (!numbers.insert(p->number).second)
      r->Fail(list[i], f + ".number",
              absl::StrCat("service entry port ", p->number, " already defined"));
    ports.push_back(std::move(*p));
  }
  return ports;
}

// An endpoint's address for `resolution`: STATIC takes IPs (or a unix socket), DNS also names.
void CheckEndpointAddress(ManifestReader* r, const YAML::Node& n, const std::string& f,
                          Resolution resolution, const std::string& address, bool has_network) {
  if (address.empty()) {
    if (!has_network) r->Fail(n, f, "address is required");
    return;
  }
  if (address.starts_with("unix://")) {
    const std::string path = address.substr(7);
    if (path.empty())
      r->Fail(n, f, "unix address must not be empty");
    else if (!(path.starts_with("@") || (path.starts_with("/") && !path.ends_with("/"))))
      r->Fail(n, f, absl::StrCat(path, " is not an absolute path to a file"));
    return;
  }
  if (ParseIp(address).ok()) return;
  if (resolution == Resolution::kStatic)
    r->Fail(n, f, absl::StrCat("endpoint address \"", address, "\" is not a valid IP address"));
  else if (!CheckFqdn(address).empty())
    r->Fail(
        n, f,
        absl::StrCat("endpoint address \"", address, "\" is not a valid FQDN or an IP address"));
}

std::optional<ServiceEndpoint> ReadEndpoint(ManifestReader* r, const YAML::Node& n,
                                            const std::string& f, Resolution resolution,
                                            const std::vector<ServicePort>& ports) {
  if (!r->IsMapOrReport(n, f)) return std::nullopt;
  r->CheckKnownKeys(
      n, f, {"address", "ports", "labels", "network", "locality", "weight", "serviceAccount"});
  ServiceEndpoint e;
  std::string network;
  r->ReadString(n, "address", f + ".address", &e.address);
  r->ReadString(n, "network", f + ".network", &network);
  CheckEndpointAddress(r, n["address"] ? n["address"] : n, f + ".address", resolution, e.address,
                       !network.empty());
  const std::string pf = f + ".ports";
  const YAML::Node pm = n["ports"];
  if (r->OptionalMap(pm, pf)) {
    for (const auto& kv : pm) {
      const std::string name = kv.first.Scalar(), pfn = JoinField(pf, name);
      bool defined = false;
      for (const auto& p : ports) defined |= p.name == name;
      if (!defined)
        r->Fail(kv.first, pfn,
                absl::StrCat("endpoint port ", name, " is not defined by the service entry"));
      auto number = ReadUint(r, pm, name.c_str(), pfn, UINT32_MAX);
      if (number && (*number < 1 || *number > 65535))
        r->Fail(kv.second, pfn,
                absl::StrCat("port number ", *number, " must be in the range 1..65535"));
      if (number) e.ports.emplace_back(name, *number);
    }
  }
  std::sort(e.ports.begin(), e.ports.end());  // a map: its order is none
  if (e.address.starts_with("unix://") && !e.ports.empty())
    r->Fail(n["ports"], pf, absl::StrCat("unix endpoint ", e.address, " must not include ports"));
  e.labels = ReadLabels(r, n, "labels", f + ".labels");
  return e;
}

// The endpoints and what the resolution requires of them and of the hosts.
void ReadResolution(ManifestReader* r, const YAML::Node& spec, const std::string& sf,
                    ServiceEntry* se) {
  static const std::vector<const char*> kResolutions = {"NONE", "STATIC", "DNS", "DNS_ROUND_ROBIN",
                                                        "DYNAMIC_DNS"};
  if (auto i = ReadEnum(r, spec, "resolution", sf + ".resolution", kResolutions))
    se->resolution = static_cast<Resolution>(*i);
  const YAML::Node eps = spec["endpoints"];
  const std::string ef = sf + ".endpoints";
  if (r->OptionalList(eps, ef)) {
    for (size_t i = 0; i < eps.size(); ++i) {
      if (auto e = ReadEndpoint(r, eps[i], IndexField(ef, i), se->resolution, se->ports))
        se->endpoints.push_back(std::move(*e));
    }
  }
  const bool has_endpoints = Present(eps) && eps.IsSequence() && eps.size() > 0;
  switch (se->resolution) {
    case Resolution::kNone:
      if (has_endpoints)
        r->Fail(eps, ef, "no endpoints should be provided for resolution type none");
      break;
    case Resolution::kStatic:
      break;
    case Resolution::kDns:
    case Resolution::kDnsRoundRobin:
      if (!has_endpoints) {
        for (size_t i = 0; i < se->hosts.size(); ++i) {
          if (CheckFqdn(se->hosts[i]).empty()) continue;
          r->Fail(spec["hosts"][i], IndexField(sf + ".hosts", i),
                  absl::StrCat("hosts must be FQDN if no endpoints are provided for resolution "
                               "mode ",
                               ResolutionName(se->resolution)));
        }
      }
      if (se->resolution == Resolution::kDnsRoundRobin && has_endpoints && eps.size() > 1)
        r->Fail(eps, ef, "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN");
      break;
    case Resolution::kDynamicDns:
      for (size_t i = 0; i < se->hosts.size(); ++i) {
        if (!se->hosts[i].starts_with("*"))
          r->Fail(spec["hosts"][i], IndexField(sf + ".hosts", i),
                  "host must be wildcarded for resolution mode DYNAMIC_DNS");
      }
      if (has_endpoints) r->Fail(eps, ef, "no endpoints for resolution mode DYNAMIC_DNS");
      if (!se->addresses.empty())
        r->Fail(spec["addresses"], sf + ".addresses",
                "no addresses for resolution mode DYNAMIC_DNS");
      for (const auto& p : se->ports) {
        if (!HttpFamily(p.protocol) && p.protocol != IstioProtocol::kTLS)
          r->Fail(spec["ports"], sf + ".ports",
                  absl::StrCat("port protocol ", p.protocol_name,
                               " is not allowed for resolution mode DYNAMIC_DNS (HTTP, HTTP2, "
                               "GRPC or TLS)"));
      }
      break;
  }
  if (se->hosts.size() > 1 && se->resolution != Resolution::kNone) {
    for (const auto& p : se->ports) {
      if (HttpFamily(p.protocol) || p.protocol == IstioProtocol::kHTTPS ||
          p.protocol == IstioProtocol::kTLS || p.protocol_name == "GRPC-WEB" ||
          p.protocol_name == "HTTP_PROXY")
        continue;
      r->Fail(spec["ports"], sf + ".ports", "multiple hosts provided with non-HTTP, non-TLS ports");
      break;
    }
  }
}

void ReadServiceEntrySpec(ManifestReader* r, const YAML::Node& doc, ServiceEntry* se,
                          std::vector<std::string>* notes) {
  const YAML::Node spec = doc["spec"];
  const std::string sf = r->Field("spec");
  if (!Present(spec)) {
    r->Fail(doc, sf, "service entry must have at least one host");
    return;
  }
  if (!r->IsMapOrReport(spec, sf)) return;
  r->CheckKnownKeys(spec, sf,
                    {"hosts", "addresses", "ports", "location", "resolution", "endpoints",
                     "workloadSelector", "exportTo", "subjectAltNames"});
  const int before = r->error_count();
  auto selector =
      ReadWorkloadSelector(r, spec, "workloadSelector", sf + ".workloadSelector", "labels");
  if (r->error_count() != before) return;  // Istio checks nothing else then
  if (selector && Present(spec["endpoints"]))
    r->Fail(spec, sf, "only one of WorkloadSelector or Endpoints is allowed in Service Entry");
  const std::string hf = sf + ".hosts";
  se->hosts = ReadStringList(r, spec, "hosts", hf);
  if (se->hosts.empty()) r->Fail(spec, hf, "service entry must have at least one host");
  if (se->hosts.size() > 256) r->Fail(spec["hosts"], hf, "must have at most 256 items");
  for (size_t i = 0; i < se->hosts.size(); ++i) {
    std::string& h = se->hosts[i];
    const std::string f = IndexField(hf, i);
    if (h == "*") {
      r->Fail(spec["hosts"][i], f, "invalid host *");
    } else if (std::string why = CheckWildcardDomain(h); !why.empty()) {
      r->Fail(spec["hosts"][i], f, why);
    } else if (h.find('*') != std::string::npos && !h.starts_with("*.")) {
      notes->push_back(absl::StrCat(r->file(), ":", r->Line(spec["hosts"][i]), ": ", f,
                                    ": partial wildcard \"", h, "\" not allowed (Istio warns)"));
    }
    h = absl::AsciiStrToLower(h);
  }
  se->ports = ReadServicePorts(r, spec, sf);
  const std::string af = sf + ".addresses";
  se->addresses = ReadStringList(r, spec, "addresses", af);
  static const std::vector<const char*> kLocations = {"MESH_EXTERNAL", "MESH_INTERNAL"};
  if (auto i = ReadEnum(r, spec, "location", sf + ".location", kLocations))
    se->mesh_internal = *i == 1;
  ReadResolution(r, spec, sf, se);
  for (size_t i = 0; i < se->addresses.size(); ++i) {
    const std::string& a = se->addresses[i];
    const bool cidr = a.find('/') != std::string::npos;
    if (cidr ? !ParseCidr(a).ok() : !ParseIp(a).ok()) {
      r->Fail(spec["addresses"][i], IndexField(af, i),
              absl::StrCat(a, cidr ? " is not a valid CIDR block" : " is not a valid IP"));
    } else if (cidr && se->resolution != Resolution::kNone &&
               se->resolution != Resolution::kStatic) {
      r->Fail(spec["addresses"][i], IndexField(af, i),
              "CIDR addresses are allowed only for NONE/STATIC resolution types");
    }
  }
  bool unix_endpoint = false;
  for (const auto& e : se->endpoints) unix_endpoint |= e.address.starts_with("unix://");
  if (unix_endpoint && se->ports.size() != 1)
    r->Fail(spec["ports"] ? spec["ports"] : spec, sf + ".ports",
            "exactly 1 service port required for unix endpoints");
  se->export_to = ReadExportTo(r, spec, sf + ".exportTo", se->ns, true);
  ReadStringList(r, spec, "subjectAltNames", sf + ".subjectAltNames");
}

// ---- DestinationRule ------------------------------------------------------------------------

std::optional<ClientTls> ReadClientTls(ManifestReader* r, const YAML::Node& parent,
                                       const std::string& f, const std::string& ns) {
  const YAML::Node n = parent["tls"];
  if (!r->OptionalMap(n, f)) return std::nullopt;
  r->CheckKnownKeys(n, f,
                    {"mode", "clientCertificate", "privateKey", "caCertificates", "credentialName",
                     "subjectAltNames", "sni", "insecureSkipVerify", "caCrl"});
  ClientTls t;
  static const std::vector<const char*> kModes = {"DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"};
  if (auto i = ReadEnum(r, n, "mode", f + ".mode", kModes)) t.mode = static_cast<TlsMode>(*i);
  r->ReadString(n, "clientCertificate", f + ".clientCertificate", &t.client_certificate);
  r->ReadString(n, "privateKey", f + ".privateKey", &t.private_key);
  r->ReadString(n, "caCertificates", f + ".caCertificates", &t.ca_certificates);
  r->ReadString(n, "credentialName", f + ".credentialName", &t.credential_name);
  r->ReadString(n, "caCrl", f + ".caCrl", &t.ca_crl);
  r->ReadString(n, "sni", f + ".sni", &t.sni);
  t.subject_alt_names = ReadStringList(r, n, "subjectAltNames", f + ".subjectAltNames");
  if (bool skip = false; r->ReadBool(n, "insecureSkipVerify", f + ".insecureSkipVerify", &skip))
    t.insecure_skip_verify = skip;
  const bool sans = Present(n["subjectAltNames"]);
  const bool simple_or_mutual = t.mode == TlsMode::kSimple || t.mode == TlsMode::kMutual;
  // Istio's ValidateTLS, in its order.
  if (t.credential_name.starts_with("configmap://")) {
    const std::string rest = t.credential_name.substr(12);
    const size_t slash = rest.find('/');
    if (slash == std::string::npos || rest.substr(0, slash) != ns)
      r->Fail(n["credentialName"], f + ".credentialName",
              absl::StrCat("invalid configmap:// credentialName: namespace must match the "
                           "configuration namespace \"",
                           ns, "\""));
  }
  if (t.insecure_skip_verify.value_or(false)) {
    if (t.mode == TlsMode::kSimple &&
        (!t.ca_certificates.empty() || !t.credential_name.empty() || sans))
      r->Fail(n, f,
              "cannot specify CaCertificates or CredentialName or SubjectAltNames when "
              "InsecureSkipVerify is set true");
    if (t.mode == TlsMode::kMutual && (!t.ca_certificates.empty() || sans))
      r->Fail(n, f,
              "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set "
              "true");
  }
  if (simple_or_mutual && !t.credential_name.empty()) {
    if (!t.client_certificate.empty() || !t.ca_certificates.empty() || !t.private_key.empty() ||
        !t.ca_crl.empty())
      r->Fail(n, f,
              "cannot specify client certificates or CA certificate or CA CRL If credentialName "
              "is set");
    // Istio fetches the secret over SDS; warden's gateway reads files.
    r->Fail(n["credentialName"], f + ".credentialName",
            "not supported by warden gateway: give caCertificates, clientCertificate and "
            "privateKey as files instead of a Kubernetes secret");
  } else if (t.mode == TlsMode::kMutual) {
    if (t.client_certificate.empty())
      r->Fail(n, f + ".clientCertificate", "client certificate required for mutual tls");
    if (t.private_key.empty()) r->Fail(n, f + ".privateKey", "private key required for mutual tls");
  }
  return t;
}

// The trafficPolicy keys Istio knows; warden reads tls and portLevelSettings, and accepts the
// rest (they tune Envoy's connection pool and load balancing, which warden's gateway does not
// share).
constexpr std::initializer_list<const char*> kTrafficPolicyKeys = {
    "loadBalancer",      "connectionPool", "outlierDetection", "tls",
    "portLevelSettings", "tunnel",         "proxyProtocol",    "retryBudget"};

void ReadPortLevel(ManifestReader* r, const YAML::Node& tp, const std::string& tf,
                   const std::string& ns, DestinationRule* dr) {
  const YAML::Node list = tp["portLevelSettings"];
  const std::string lf = tf + ".portLevelSettings";
  if (!r->OptionalList(list, lf)) return;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string f = IndexField(lf, i);
    if (!r->IsMapOrReport(list[i], f)) continue;
    r->CheckKnownKeys(list[i], f,
                      {"port", "loadBalancer", "connectionPool", "outlierDetection", "tls"});
    PortTls pt;
    const YAML::Node port = list[i]["port"];
    if (!Present(port)) {
      r->Fail(list[i], f + ".port", "portTrafficPolicy must have valid port");
    } else if (r->IsMapOrReport(port, f + ".port")) {
      r->CheckKnownKeys(port, f + ".port", {"number"});
      auto number = ReadUint(r, port, "number", f + ".port.number", 65535);
      if (!number || *number == 0)
        r->Fail(port, f + ".port.number", "portTrafficPolicy must have valid port");
      else
        pt.port = *number;
    }
    bool any = false;
    for (const char* k : {"loadBalancer", "connectionPool", "outlierDetection", "tls"})
      any |= Present(list[i][k]);
    if (!any) r->Fail(list[i], f, "port traffic policy must have at least one field");
    pt.tls = ReadClientTls(r, list[i], f + ".tls", ns);
    dr->port_level.push_back(std::move(pt));
  }
}

void ReadTrafficPolicy(ManifestReader* r, const YAML::Node& parent, const std::string& tf,
                       const std::string& ns, DestinationRule* dr) {
  const YAML::Node tp = parent["trafficPolicy"];
  if (!r->OptionalMap(tp, tf)) return;
  r->CheckKnownKeys(tp, tf, kTrafficPolicyKeys);
  bool any = false;
  for (const char* k : kTrafficPolicyKeys) any |= Present(tp[k]);
  if (!any) r->Fail(tp, tf, "traffic policy must have at least one field");
  if (Present(tp["tunnel"]) && Present(tp["proxyProtocol"]))
    r->Fail(tp, tf, "tunnel and proxyProtocol cannot be set together");
  if (dr) {
    dr->traffic_policy = true;
    dr->tls = ReadClientTls(r, tp, tf + ".tls", ns);
    ReadPortLevel(r, tp, tf, ns, dr);
  } else {  // a subset's: checked, not used (warden's gateway has no subsets)
    DestinationRule ignored;
    ReadClientTls(r, tp, tf + ".tls", ns);
    ReadPortLevel(r, tp, tf, ns, &ignored);
  }
}

void ReadSubsets(ManifestReader* r, const YAML::Node& spec, const std::string& sf,
                 const std::string& ns) {
  const YAML::Node list = spec["subsets"];
  const std::string lf = sf + ".subsets";
  if (!r->OptionalList(list, lf)) return;
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string f = IndexField(lf, i);
    if (!r->IsMapOrReport(list[i], f)) continue;
    r->CheckKnownKeys(list[i], f, {"name", "labels", "trafficPolicy"});
    std::string name;
    r->ReadString(list[i], "name", f + ".name", &name);
    if (name.empty())
      r->Fail(list[i], f + ".name", "subset name cannot be empty");
    else if (!CheckDns1123Label(name).empty())
      r->Fail(list[i]["name"], f + ".name", absl::StrCat("subset name is invalid: ", name));
    else if (!names.insert(name).second)
      r->Fail(list[i]["name"], f + ".name", absl::StrCat("duplicate subset names: ", name));
    ReadLabels(r, list[i], "labels", f + ".labels");
    ReadTrafficPolicy(r, list[i], f + ".trafficPolicy", ns, nullptr);
  }
}

void ReadDestinationRuleSpec(ManifestReader* r, const YAML::Node& doc, DestinationRule* dr) {
  const YAML::Node spec = doc["spec"];
  const std::string sf = r->Field("spec");
  if (!Present(spec)) {
    r->Fail(doc, sf + ".host", "empty domain name not allowed");
    return;
  }
  if (!r->IsMapOrReport(spec, sf)) return;
  r->CheckKnownKeys(spec, sf, {"host", "trafficPolicy", "subsets", "exportTo", "workloadSelector"});
  r->ReadString(spec, "host", sf + ".host", &dr->host);
  if (std::string why = CheckWildcardDomain(dr->host); !why.empty())
    r->Fail(spec["host"] ? spec["host"] : spec, sf + ".host", why);
  dr->host = absl::AsciiStrToLower(dr->host);
  ReadTrafficPolicy(r, spec, sf + ".trafficPolicy", dr->ns, dr);
  ReadSubsets(r, spec, sf, dr->ns);
  dr->workload_selector =
      ReadWorkloadSelector(r, spec, "workloadSelector", sf + ".workloadSelector");
  dr->export_to = ReadExportTo(r, spec, sf + ".exportTo", dr->ns, false);
  if (dr->workload_selector && !dr->export_to.empty()) {
    bool own = false;
    for (const auto& e : dr->export_to) own |= e == "." || e == dr->ns;
    if (!own)
      r->Fail(spec["exportTo"], sf + ".exportTo",
              "destination rule with workload selector cannot have exportTo beyond current "
              "namespace");
    else if (dr->export_to.size() > 1)
      r->Fail(spec["exportTo"], sf + ".exportTo",
              "destination rule with workload selector cannot have multiple entries in exportTo");
  }
}

// Istio refuses istio.io/dry-run on every kind but AuthorizationPolicy.
void RefuseDryRun(ManifestReader* r, const YAML::Node& doc, const ObjectMeta& m) {
  if (m.annotations.count("istio.io/dry-run"))
    r->Fail(doc["metadata"], r->Field("metadata.annotations"),
            absl::StrCat(m.ns, "/", m.name,
                         " has unsupported annotation istio.io/dry-run, please remove the "
                         "annotation"));
}

}  // namespace

std::optional<ServiceEntry> DecodeServiceEntry(ManifestReader* r, const YAML::Node& doc,
                                               std::vector<std::string>* notes) {
  auto fill = [&](const ObjectMeta& m, ServiceEntry* se) {
    se->ns = m.ns;
    se->name = m.name;
    RefuseDryRun(r, doc, m);
    ReadServiceEntrySpec(r, doc, se, notes);
  };
  return DecodeObject<ServiceEntry>(r, doc, "ServiceEntry", true, fill);
}

std::optional<DestinationRule> DecodeDestinationRule(ManifestReader* r, const YAML::Node& doc) {
  auto fill = [&](const ObjectMeta& m, DestinationRule* dr) {
    dr->ns = m.ns;
    dr->name = m.name;
    RefuseDryRun(r, doc, m);
    ReadDestinationRuleSpec(r, doc, dr);
  };
  return DecodeObject<DestinationRule>(r, doc, "DestinationRule", true, fill);
}

}  // namespace warden::policy
