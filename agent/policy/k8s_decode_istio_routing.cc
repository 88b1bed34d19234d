#include "agent/policy/k8s_decode_istio_routing.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/policy/istio_fields.h"
#include "agent/policy/k8s_decode_fields.h"
#include "agent/policy/k8s_names.h"

namespace warden::policy {
namespace {

// A "namespace/dnsName" host of a Gateway server or a Sidecar listener: the namespace ".", "*",
// "~" (Sidecar) or a name; the name a wildcard domain or "*".
void CheckNamespacedHost(ManifestReader* r, const YAML::Node& at, const std::string& f,
                         const std::string& host, bool sidecar) {
  const size_t slash = host.find('/');
  if (slash == std::string::npos) {
    if (sidecar) {
      r->Fail(at, f, "sidecar: hosts must be of form namespace/dnsName");
      return;
    }
  }
  const std::string ns = slash == std::string::npos ? "" : host.substr(0, slash);
  const std::string name = slash == std::string::npos ? host : host.substr(slash + 1);
  if (slash != std::string::npos && ns != "." && ns != "*" && !(sidecar && ns == "~") &&
      !CheckDns1123Label(ns).empty())
    r->Fail(at, f, absl::StrCat("invalid namespace value ", ns, " in host ", host));
  if (name != "*" && !CheckWildcardDomain(name).empty()) r->Fail(at, f, CheckWildcardDomain(name));
}

bool KnownGatewayProtocol(const std::string& p) {
  static const char* kKnown[] = {"http",  "https", "grpc", "grpc-web", "http2", "mongo",
                                 "redis", "mysql", "tcp",  "tls",      "udp"};
  const std::string lower = absl::AsciiStrToLower(p);
  for (const char* k : kKnown) {
    if (lower == k) return true;
  }
  return false;
}

void CheckGatewaySpec(ManifestReader* r, const YAML::Node& spec, const std::string& sf) {
  r->CheckKnownKeys(spec, sf, {"servers", "selector"});
  ReadStringMap(r, spec["selector"], sf + ".selector", "label", nullptr, nullptr);
  const YAML::Node servers = spec["servers"];
  const std::string lf = sf + ".servers";
  if (!r->OptionalList(servers, lf) || servers.size() == 0) {
    r->Fail(spec, lf, "gateway must have at least one server");
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < servers.size(); ++i) {
    const std::string f = IndexField(lf, i);
    const YAML::Node s = servers[i];
    if (!r->IsMapOrReport(s, f)) continue;
    r->CheckKnownKeys(s, f, {"port", "bind", "hosts", "tls", "defaultEndpoint", "name"});
    const YAML::Node port = s["port"];
    std::string protocol;
    if (!Present(port)) {
      r->Fail(s, f + ".port", "port is required");
    } else if (r->IsMapOrReport(port, f + ".port")) {
      r->CheckKnownKeys(port, f + ".port", {"number", "protocol", "name", "targetPort"});
      auto number = ReadUint(r, port, "number", f + ".port.number", UINT32_MAX);
      if (number && (*number < 1 || *number > 65535))
        r->Fail(port["number"], f + ".port.number",
                absl::StrCat("port number ", *number, " must be in the range 1..65535"));
      r->ReadString(port, "protocol", f + ".port.protocol", &protocol);
      if (!KnownGatewayProtocol(protocol))
        r->Fail(port, f + ".port.protocol",
                absl::StrCat("invalid protocol \"", protocol,
                             "\", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, "
                             "REDIS, MYSQL, TCP"));
      std::string name;
      r->ReadString(port, "name", f + ".port.name", &name);
      if (name.empty()) r->Fail(port, f + ".port.name", "port name must be set");
    }
    const std::vector<std::string> hosts = ReadStringList(r, s, "hosts", f + ".hosts");
    if (hosts.empty()) r->Fail(s, f + ".hosts", "server config must contain at least one host");
    for (size_t h = 0; h < hosts.size(); ++h)
      CheckNamespacedHost(r, s["hosts"][h], IndexField(f + ".hosts", h), hosts[h], false);
    const std::string p = absl::AsciiStrToUpper(protocol);
    if ((p == "HTTPS" || p == "TLS") && !Present(s["tls"]))
      r->Fail(s, f + ".tls", "server must have TLS settings for HTTPS/TLS protocols");
    std::string name;
    if (r->ReadString(s, "name", f + ".name", &name) && !name.empty() && !names.insert(name).second)
      r->Fail(s["name"], f + ".name", absl::StrCat("server name \"", name, "\" is not unique"));
  }
}

void CheckDestination(ManifestReader* r, const YAML::Node& n, const std::string& f) {
  if (!r->IsMapOrReport(n, f)) return;
  r->CheckKnownKeys(n, f, {"destination", "weight", "headers"});
  const YAML::Node d = n["destination"];
  if (!Present(d)) {
    r->Fail(n, f + ".destination", "destination is required");
    return;
  }
  if (!r->IsMapOrReport(d, f + ".destination")) return;
  r->CheckKnownKeys(d, f + ".destination", {"host", "subset", "port"});
  std::string host;
  r->ReadString(d, "host", f + ".destination.host", &host);
  if (std::string why = CheckWildcardDomain(host); !why.empty())
    r->Fail(d, f + ".destination.host", why);
}

// http, tls and tcp routes: each with somewhere to go.
void CheckRoutes(ManifestReader* r, const YAML::Node& spec, const std::string& sf) {
  bool any = false;
  for (const char* kind : {"http", "tls", "tcp"}) {
    const YAML::Node list = spec[kind];
    const std::string lf = sf + "." + kind;
    if (!r->OptionalList(list, lf)) continue;
    any |= list.size() > 0;
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string f = IndexField(lf, i);
      const YAML::Node route = list[i];
      if (!r->IsMapOrReport(route, f)) continue;
      const bool http = std::string(kind) == "http";
      const bool elsewhere =
          http && (Present(route["redirect"]) || Present(route["directResponse"]) ||
                   Present(route["delegate"]));
      const YAML::Node dests = route["route"];
      if (!elsewhere && (!r->OptionalList(dests, f + ".route") || dests.size() == 0)) {
        r->Fail(route, f + ".route",
                http ? "HTTP route, redirect or direct response is required"
                     : "TCP/TLS route must have at least one destination");
        continue;
      }
      if (Present(dests) && dests.IsSequence()) {
        for (size_t d = 0; d < dests.size(); ++d)
          CheckDestination(r, dests[d], IndexField(f + ".route", d));
      }
    }
  }
  if (!any) r->Fail(spec, sf, "http, tcp or tls must be provided in virtual service");
}

void CheckVirtualServiceSpec(ManifestReader* r, const YAML::Node& spec, const std::string& sf,
                             const std::string& ns) {
  r->CheckKnownKeys(spec, sf, {"hosts", "gateways", "http", "tls", "tcp", "exportTo"});
  const std::vector<std::string> hosts = ReadStringList(r, spec, "hosts", sf + ".hosts");
  const std::vector<std::string> gateways = ReadStringList(r, spec, "gateways", sf + ".gateways");
  if (hosts.empty()) r->Fail(spec, sf + ".hosts", "virtual service must have at least one host");
  for (size_t i = 0; i < hosts.size(); ++i) {
    if (hosts[i] == "*") continue;
    if (std::string why = CheckWildcardDomain(hosts[i]); !why.empty())
      r->Fail(spec["hosts"][i], IndexField(sf + ".hosts", i), why);
  }
  for (size_t i = 0; i < gateways.size(); ++i) {
    const std::string& g = gateways[i];
    const size_t slash = g.find('/');
    const std::string name = slash == std::string::npos ? g : g.substr(slash + 1);
    if (g != "mesh" && !CheckDns1123Subdomain(name).empty())
      r->Fail(spec["gateways"][i], IndexField(sf + ".gateways", i),
              absl::StrCat("invalid gateway name: \"", g, "\""));
  }
  CheckRoutes(r, spec, sf);
  ReadExportTo(r, spec, sf + ".exportTo", ns, false);
}

void CheckSidecarSpec(ManifestReader* r, const YAML::Node& spec, const std::string& sf) {
  r->CheckKnownKeys(
      spec, sf,
      {"workloadSelector", "ingress", "egress", "outboundTrafficPolicy", "inboundConnectionPool"});
  ReadWorkloadSelector(r, spec, "workloadSelector", sf + ".workloadSelector", "labels");
  const YAML::Node egress = spec["egress"];
  const std::string ef = sf + ".egress";
  if (r->OptionalList(egress, ef)) {
    for (size_t i = 0; i < egress.size(); ++i) {
      const std::string f = IndexField(ef, i);
      if (!r->IsMapOrReport(egress[i], f)) continue;
      r->CheckKnownKeys(egress[i], f, {"port", "bind", "captureMode", "hosts"});
      const std::vector<std::string> hosts = ReadStringList(r, egress[i], "hosts", f + ".hosts");
      if (hosts.empty())
        r->Fail(egress[i], f + ".hosts", "sidecar: egress listener must contain at least one host");
      for (size_t h = 0; h < hosts.size(); ++h)
        CheckNamespacedHost(r, egress[i]["hosts"][h], IndexField(f + ".hosts", h), hosts[h], true);
    }
  }
  const YAML::Node otp = spec["outboundTrafficPolicy"];
  if (r->OptionalMap(otp, sf + ".outboundTrafficPolicy")) {
    r->CheckKnownKeys(otp, sf + ".outboundTrafficPolicy", {"mode", "egressProxy"});
    ReadEnum(r, otp, "mode", sf + ".outboundTrafficPolicy.mode", {"REGISTRY_ONLY", "ALLOW_ANY"});
  }
}

}  // namespace

void CheckUnusedIstioKind(ManifestReader* r, const YAML::Node& doc, const std::string& kind) {
  const ObjectMeta m = ReadMeta(r, doc, kind, true);
  const YAML::Node spec = doc["spec"];
  const std::string sf = r->Field("spec");
  if (!Present(spec)) {
    if (kind != "Sidecar") r->Fail(doc, sf, "Required value: spec is required");
    return;
  }
  if (!r->IsMapOrReport(spec, sf)) return;
  if (kind == "Gateway") {
    CheckGatewaySpec(r, spec, sf);
  } else if (kind == "VirtualService") {
    CheckVirtualServiceSpec(r, spec, sf, m.ns);
  } else {
    CheckSidecarSpec(r, spec, sf);
  }
}

}  // namespace warden::policy
