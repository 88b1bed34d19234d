#include "agent/policy/k8s_decode_core.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "agent/policy/k8s_decode_fields.h"
#include "agent/policy/k8s_names.h"
#include "agent/policy/manifest_loader.h"

namespace warden::policy {

std::optional<Namespace> DecodeNamespace(ManifestReader* r, const YAML::Node& doc) {
  auto fill = [](const ObjectMeta& m, Namespace* ns) {
    ns->name = m.name;
    ns->labels = m.labels;
    // The API server sets this label on every namespace (and overwrites any other value).
    ns->labels[kNamespaceNameLabel] = m.name;
  };
  return DecodeObject<Namespace>(r, doc, "Namespace", false, fill);
}

// ---- Node -----------------------------------------------------------------------------------

namespace {

// spec.podCIDR and spec.podCIDRs, each CIDR once.
void ReadNodeSpec(ManifestReader* r, const YAML::Node& spec, Node* node) {
  if (!spec || !spec.IsMap()) return;
  std::string cidr, f = r->Field("spec.podCIDR");
  if (r->ReadString(spec, "podCIDR", f, &cidr)) {
    if (auto c = ValueOrReport(r, ParseCidr(cidr), spec["podCIDR"], f))
      AppendUnique(*c, &node->pod_cidrs);
  }
  const YAML::Node list = spec["podCIDRs"];
  std::string lf = r->Field("spec.podCIDRs");
  if (!r->OptionalList(list, lf)) return;
  for (size_t i = 0; i < list.size(); ++i) {
    std::string item = IndexField(lf, i);
    if (!list[i].IsScalar()) {
      r->Fail(list[i], item, "must be a string");
      continue;
    }
    if (auto c = ValueOrReport(r, ParseCidr(list[i].Scalar()), list[i], item))
      AppendUnique(*c, &node->pod_cidrs);
  }
}

// status.addresses: the InternalIP and ExternalIP ones.
void ReadNodeAddresses(ManifestReader* r, const YAML::Node& status, Node* node) {
  if (!status || !status.IsMap()) return;
  const YAML::Node addrs = status["addresses"];
  std::string af = r->Field("status.addresses");
  if (!r->OptionalList(addrs, af)) return;
  for (size_t i = 0; i < addrs.size(); ++i) {
    std::string f = IndexField(af, i);
    if (!r->IsMapOrReport(addrs[i], f)) continue;
    std::string type, address;
    r->ReadString(addrs[i], "type", f + ".type", &type);
    r->ReadString(addrs[i], "address", f + ".address", &address);
    if (type != "InternalIP" && type != "ExternalIP") continue;
    if (auto ip = ValueOrReport(r, ParseIp(address), addrs[i]["address"], f + ".address"))
      node->addresses.push_back(*ip);
  }
}

}  // namespace

std::optional<Node> DecodeNode(ManifestReader* r, const YAML::Node& doc) {
  return DecodeObject<Node>(r, doc, "Node", false, [&](const ObjectMeta& m, Node* node) {
    node->name = m.name;
    node->labels = m.labels;
    ReadNodeSpec(r, doc["spec"], node);
    ReadNodeAddresses(r, doc["status"], node);
  });
}

// ---- Pod ------------------------------------------------------------------------------------

namespace {

// One entry of a container's ports; `names` holds the port names of the container so far.
std::optional<ContainerPort> ReadContainerPort(ManifestReader* r, const YAML::Node& p,
                                               const std::string& f, std::set<std::string>* names) {
  if (!r->IsMapOrReport(p, f)) return std::nullopt;
  const YAML::Node num = p["containerPort"];
  if (!Present(num)) {
    r->Fail(p, f + ".containerPort", "Required value");
    return std::nullopt;
  }
  auto n = r->ScalarInt(num, f + ".containerPort");
  if (!n) return std::nullopt;
  if (*n < 1 || *n > 65535) {
    r->Fail(num, f + ".containerPort", PortOutOfRange(*n));
    return std::nullopt;
  }
  ContainerPort cp;
  cp.port = static_cast<int>(*n);
  auto protocol = ReadProtocol(r, p, f + ".protocol");
  if (!protocol) return std::nullopt;
  cp.protocol = *protocol;
  if (r->ReadString(p, "name", f + ".name", &cp.name) && !cp.name.empty()) {
    if (!CheckName(r, p["name"], f + ".name", cp.name, CheckPortName)) return std::nullopt;
    if (!names->insert(cp.name).second) {
      r->Fail(p["name"], f + ".name", absl::StrCat("Duplicate value: ", Quote(cp.name)));
      return std::nullopt;
    }
  }
  return cp;
}

// A restartable init container (a sidecar): the only init containers whose named ports count.
bool IsSidecar(const YAML::Node& container) {
  const YAML::Node policy = container["restartPolicy"];
  return policy && policy.IsScalar() && policy.Scalar() == "Always";
}

// A container's name: required, a DNS-1123 label, and unique among all the pod's containers of
// every kind (`names`), as validateContainers, validateInitContainers and
// validateEphemeralContainers require together.
void ReadContainerName(ManifestReader* r, const YAML::Node& container, const std::string& f,
                       std::set<std::string>* names) {
  std::string name, nf = f + ".name";
  if (!r->ReadString(container, "name", nf, &name) || name.empty()) {
    if (!Present(container["name"]) || container["name"].IsScalar())
      r->Fail(container, nf, "Required value");
    return;
  }
  if (!CheckName(r, container["name"], nf, name, CheckDns1123Label)) return;
  if (!names->insert(name).second)
    r->Fail(container["name"], nf, absl::StrCat("Duplicate value: ", Quote(name)));
}

// Every container's name and ports. Port names need only be unique within one container (the
// API server's validateContainerPorts runs per container), so two containers may both name a
// port "http". The ports of containers and of sidecar init containers are the pod's; the ports
// of other init containers are validated but serve nothing once the pod runs. Ephemeral
// containers cannot declare ports, so only their names are read.
void ReadContainers(ManifestReader* r, const YAML::Node& spec, Pod* pod) {
  std::set<std::string> container_names;
  for (const std::string list_name : {"containers", "initContainers", "ephemeralContainers"}) {
    const YAML::Node containers = spec[list_name];
    std::string cf = r->Field("spec." + list_name);
    if (!r->OptionalList(containers, cf)) continue;
    for (size_t c = 0; c < containers.size(); ++c) {
      std::string f = IndexField(cf, c);
      if (!r->IsMapOrReport(containers[c], f)) continue;
      ReadContainerName(r, containers[c], f, &container_names);
      if (list_name == "ephemeralContainers") continue;
      const YAML::Node ports = containers[c]["ports"];
      std::string pf = f + ".ports";
      if (!r->OptionalList(ports, pf)) continue;
      bool serves = list_name == "containers" || IsSidecar(containers[c]);
      std::set<std::string> port_names;
      for (size_t i = 0; i < ports.size(); ++i) {
        auto cp = ReadContainerPort(r, ports[i], IndexField(pf, i), &port_names);
        if (cp && serves) pod->ports.push_back(*cp);
      }
    }
  }
}

void ReadPodSpec(ManifestReader* r, const YAML::Node& spec, Pod* pod) {
  std::string sa, sa_field = r->Field("spec.serviceAccountName");
  if (r->ReadString(spec, "serviceAccountName", sa_field, &sa) ||
      r->ReadString(spec, "serviceAccount", r->Field("spec.serviceAccount"), &sa)) {
    CheckName(r, spec["serviceAccountName"], sa_field, sa, CheckDns1123Subdomain);
    pod->service_account = sa;
  }
  r->ReadString(spec, "nodeName", r->Field("spec.nodeName"), &pod->node_name);
  r->ReadBool(spec, "hostNetwork", r->Field("spec.hostNetwork"), &pod->host_network);
  ReadContainers(r, spec, pod);
}

// status.podIP and status.podIPs: at most one address of each family.
void ReadPodIps(ManifestReader* r, const YAML::Node& status, Pod* pod) {
  std::string pod_ip, f = r->Field("status.podIP");
  if (r->ReadString(status, "podIP", f, &pod_ip) && !pod_ip.empty()) {
    if (auto ip = ValueOrReport(r, ParseIp(pod_ip), status["podIP"], f))
      AppendUnique(*ip, &pod->ips);
  }
  const YAML::Node ips = status["podIPs"];
  std::string lf = r->Field("status.podIPs");
  if (r->OptionalList(ips, lf)) {
    for (size_t i = 0; i < ips.size(); ++i) {
      std::string item = IndexField(lf, i) + ".ip", ip;
      if (!ips[i].IsMap() || !r->ReadString(ips[i], "ip", item, &ip)) {
        r->Fail(ips[i], item, "Required value: each podIPs entry needs an ip");
      } else if (auto parsed = ValueOrReport(r, ParseIp(ip), ips[i]["ip"], item)) {
        AppendUnique(*parsed, &pod->ips);
      }
    }
  }
  if (pod->ips.size() > 2 || (pod->ips.size() == 2 && pod->ips[0].family == pod->ips[1].family)) {
    r->Fail(status, lf, "Invalid value: a pod has at most one IPv4 and one IPv6 address");
  }
}

}  // namespace

std::optional<Pod> DecodePod(ManifestReader* r, const YAML::Node& doc) {
  return DecodeObject<Pod>(r, doc, "Pod", true, [&](const ObjectMeta& m, Pod* pod) {
    pod->ns = m.ns;
    pod->name = m.name;
    pod->uid = m.uid.empty() ? DerivedPodUid(m.ns, m.name) : m.uid;
    pod->labels = m.labels;
    const YAML::Node spec = doc["spec"];
    if (r->OptionalMap(spec, r->Field("spec"))) ReadPodSpec(r, spec, pod);
    const YAML::Node status = doc["status"];
    if (r->OptionalMap(status, r->Field("status"))) ReadPodIps(r, status, pod);
  });
}

}  // namespace warden::policy
