#include "agent/policy/k8s_decode.h"

#include <algorithm>
#include <optional>

#include "absl/strings/str_cat.h"
#include "agent/policy/k8s_decode_core.h"
#include "agent/policy/k8s_decode_istio_networking.h"
#include "agent/policy/k8s_decode_istio_routing.h"
#include "agent/policy/k8s_decode_istio_security.h"
#include "agent/policy/k8s_decode_netpol.h"
#include "agent/policy/manifest_yaml.h"

namespace warden::policy {
namespace {

bool IstioNetworking(const std::string& v) {
  return v == "networking.istio.io/v1" || v == "networking.istio.io/v1beta1" ||
         v == "networking.istio.io/v1alpha3";
}

bool IstioSecurity(const std::string& v) {
  return v == "security.istio.io/v1" || v == "security.istio.io/v1beta1";
}

// The API groups whose objects of `kind` Warden reads, or nullptr for a kind it does not read.
// An object of such a kind and group in a version Warden does not decode is an error, not a kind
// to pass over: ignoring a NetworkPolicy or a DENY AuthorizationPolicy would loosen enforcement.
// The same kind name in another group (Gateway API's gateway.networking.k8s.io Gateway) is another
// kind.
const std::vector<std::string>* GroupsRead(const std::string& kind) {
  static const std::vector<std::string> core{""}, netpol{"networking.k8s.io", "extensions"},
      istio_net{"networking.istio.io"}, istio_sec{"security.istio.io"};
  if (kind == "Namespace" || kind == "Node" || kind == "Pod") return &core;
  if (kind == "NetworkPolicy") return &netpol;
  if (kind == "ServiceEntry" || kind == "DestinationRule" || kind == "Gateway" ||
      kind == "VirtualService" || kind == "Sidecar")
    return &istio_net;
  if (kind == "AuthorizationPolicy") return &istio_sec;
  return nullptr;
}

std::string GroupOf(const std::string& api_version) {
  size_t slash = api_version.find('/');
  return slash == std::string::npos ? "" : api_version.substr(0, slash);
}

std::string VersionsRead(const std::string& kind) {
  if (kind == "NetworkPolicy") return "networking.k8s.io/v1";
  if (kind == "AuthorizationPolicy") return "security.istio.io/v1 or v1beta1";
  if (kind == "Namespace" || kind == "Node" || kind == "Pod") return "v1";
  return "networking.istio.io/v1, v1beta1 or v1alpha3";
}

template <typename T>
void AddIfValid(std::optional<T> o, std::vector<DecodedObject>* out) {
  if (o) out->push_back(std::move(*o));
}

void DecodeByKind(ManifestReader* r, const YAML::Node& doc, const std::string& api_version,
                  const std::string& kind, DecodedFile* out) {
  if (kind == "Namespace" && api_version == "v1") {
    AddIfValid(DecodeNamespace(r, doc), &out->objects);
  } else if (kind == "Node" && api_version == "v1") {
    AddIfValid(DecodeNode(r, doc), &out->objects);
  } else if (kind == "Pod" && api_version == "v1") {
    AddIfValid(DecodePod(r, doc), &out->objects);
  } else if (kind == "NetworkPolicy" && api_version == "networking.k8s.io/v1") {
    AddIfValid(DecodeNetworkPolicy(r, doc), &out->objects);
  } else if (IstioNetworking(api_version) && kind == "ServiceEntry") {
    AddIfValid(DecodeServiceEntry(r, doc, &out->notes), &out->objects);
  } else if (IstioNetworking(api_version) && kind == "DestinationRule") {
    AddIfValid(DecodeDestinationRule(r, doc), &out->objects);
  } else if (IstioSecurity(api_version) && kind == "AuthorizationPolicy") {
    AddIfValid(DecodeAuthorizationPolicy(r, doc, &out->notes), &out->objects);
  } else if (IstioNetworking(api_version) &&
             (kind == "Gateway" || kind == "VirtualService" || kind == "Sidecar")) {
    const int before = r->error_count();
    CheckUnusedIstioKind(r, doc, kind);
    if (r->error_count() == before)
      out->notes.push_back(absl::StrCat(r->file(), ":", r->Line(doc), ": ", api_version, " ", kind,
                                        " read; not needed: the node agents send egress to "
                                        "warden's gateway without Istio routes, and it changes "
                                        "no verdict"));
  } else if (const auto* groups = GroupsRead(kind);
             groups &&
             std::find(groups->begin(), groups->end(), GroupOf(api_version)) != groups->end()) {
    const YAML::Node name = doc["metadata"]["name"];
    if (name && name.IsScalar()) r->SetObject(absl::StrCat(kind, " ", name.Scalar()));
    r->Fail(doc["apiVersion"], r->Field("apiVersion"),
            absl::StrCat(kind, " in ", api_version, " is not read (Warden reads ",
                         VersionsRead(kind), "); refusing rather than ignoring it"));
  } else {
    ++out->ignored[absl::StrCat(api_version, " ", kind)];
  }
}

}  // namespace

DecodedFile DecodeManifestFile(const std::string& file, const std::string& content) {
  DecodedFile out;
  ManifestReader reader(file, &out.errors);
  ReadManifestObjects(
      content, &reader,
      [&](const YAML::Node& doc, const std::string& api_version, const std::string& kind) {
        DecodeByKind(&reader, doc, api_version, kind, &out);
      });
  if (!out.errors.empty()) out.objects.clear();
  return out;
}

std::string ObjectKey(const DecodedObject& o) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Namespace>) return "Namespace " + x.name;
        if constexpr (std::is_same_v<T, Node>) return "Node " + x.name;
        if constexpr (std::is_same_v<T, Pod>) return "Pod " + x.Key();
        if constexpr (std::is_same_v<T, NetworkPolicy>) return "NetworkPolicy " + x.Key();
        if constexpr (std::is_same_v<T, ServiceEntry>) return "ServiceEntry " + x.Key();
        if constexpr (std::is_same_v<T, DestinationRule>) return "DestinationRule " + x.Key();
        if constexpr (std::is_same_v<T, AuthorizationPolicy>)
          return "AuthorizationPolicy " + x.Key();
      },
      o);
}

const SourceRef& SourceOf(const DecodedObject& o) {
  return std::visit([](const auto& x) -> const SourceRef& { return x.source; }, o);
}

}  // namespace warden::policy
